// test-runner: exclusive — boots nspawn machines or a VM from the shared image cache and needs the whole machine
/**
 * The rootless node in a booted systemd: our RPMs in the Debian stand-in rootfs (nspawn), with
 * the real rootlesskit, slirp4netns, setpriv, nsenter, logind and user manager, and test doubles
 * of kubeadm, kubelet, CRI-O and kubectl that record what they were asked
 * (test/fixtures/u7s/doubles). kubeadm init through the wrapper brings up u7s-admin's user manager
 * by lingering, rootlesskit.service then kubelet.service; the documents kubeadm gets are the
 * golden files of the unit tests; killing the launcher restarts both units; stop stops both;
 * reset and a control-plane join work; the three units pass systemd-analyze verify;
 * `u7s-start-stop status --json` reports a running and a stopped node as its schema says. The
 * node has a network namespace of the test's own, joined by a veth pair to one where a
 * docker-registry serves the images: a worker join pulls them with skopeo, as u7s-admin inside
 * the node namespace, into the CRI-O store, one progress line each; an image the node's policy
 * refuses stops the join before kubeadm.
 */
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import AjvModule from 'ajv';
import type { BuildResult } from '../../scripts/build.ts';
import { FLANNEL_CNI_PLUGIN_VERSION, FLANNEL_VERSION } from '../../bin/u7s/lib/kubeadm-fields.ts';
import statusSchema from '../../policies/schemas/u7s-start-stop-status.schema.ts';
import { PROGRESS_LINE } from '../../bin/lib/progress.ts';
import { parseShow } from '../../bin/u7s/lib/node-status.ts';
import { sleep } from '../../scripts/image/cache.ts';
import { ensureBuild } from '../support/build.ts';
import { createNetnsPair, type NetnsPair } from '../support/netns.ts';
import { buildImage, imageStore } from '../support/oci-fixtures.ts';
import { runCommand, startRegistry, type Service } from '../support/trust-fixtures.ts';
import { bootNode, type Node } from '../support/nspawn.ts';
import { DEFAULT_PACKAGES, ensureRootfs, rpmInstall, withOverlay, type RunResult } from '../support/rootfs.ts';
import { withTools } from '../support/tools.ts';
import { controlPlaneJoin, DOUBLES, GOLDEN, HASH, KEY, TOKEN } from '../support/u7s-fixtures.ts';

const test = withTools(base, ['rpm', 'rpmbuild', 'mmdebstrap', 'systemd-nspawn', 'mount', 'nsenter']);
const PACKAGES = [...DEFAULT_PACKAGES, 'rootlesskit', 'slirp4netns', 'uidmap', 'skopeo'];
const LIBEXEC = '/usr/libexec/podsec/u7s/bin';
const RECORDS = '/var/lib/u7s-doubles';
/**
 * The wrapper's environment in these tests: no registry to ask, no pulls (but in the pull test); ports on the node's loopback;
 * no cluster for a join to ask (the join check is tested in tools/u7s-join-check.test.ts).
 */
const WRAPPER_ENV = ['U7S_PLATFORM=p11', 'U7S_IMAGE_CHECK=no', 'U7S_JOIN_CHECK=no', 'U7S_PUBLISH_ADDRESS=127.0.0.1'];
const NO_PULLS = 'U7S_PULL_IMAGES=no';
const Ajv = AjvModule as unknown as typeof AjvModule.default;
const validateStatus = new Ajv({ allErrors: true, strict: true }).compile(statusSchema);

let container: Node | undefined;
let root = '';
let uid = 0;
let finish: () => void = () => {};
let finished: Promise<void> = Promise.resolve();
let network: NetnsPair | undefined;
let registry: Service | undefined;
let registryAddr = '';
let registryWork = '';
/** What a worker runs, as the kubeadm double lists them and the flannel manifest names them. */
const workerImages = () =>
  ['kube-proxy:v1.30.2', 'coredns:v1.11.1', 'pause:3.9', `flannel-cni-plugin:${FLANNEL_CNI_PLUGIN_VERSION}`, `flannel:${FLANNEL_VERSION}`].map(
    (i) => `${registryAddr}/p11/${i}`,
  );

/** A registry in the network namespace paired with the node's, holding a tiny image under every name a worker pulls. */
async function startImageRegistry(pair: NetnsPair, work: string): Promise<void> {
  registryAddr = `${pair.master.address}:5000`;
  registry = await startRegistry({ addr: registryAddr, storage: join(work, 'registry'), netns: pair.master });
  const images = imageStore(work);
  await buildImage(images, 'tiny', 'u7s-pull');
  for (const image of workerImages()) {
    const [cmd, args] = pair.master.argv('skopeo', [
      '--policy',
      images.policy,
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `${images.transport}localhost/tiny:latest`,
      `docker://${image}`,
    ]);
    const pushed = await runCommand(cmd, args, { timeoutMs: 120_000 });
    if (pushed.exitCode !== 0) throw new Error(`push ${image}: ${pushed.stderr}`);
  }
}

base.before(async () => {
  const built: BuildResult = await ensureBuild('p11');
  network = createNetnsPair();
  // The wrapper finds the node's address through its default route: via the registry's side of
  // the pair, which has no route on, so nothing leaves the two namespaces.
  const route = await runCommand('ip', ['-n', network.node.name, 'route', 'add', 'default', 'via', network.master.address], { timeoutMs: 10_000 });
  if (route.exitCode !== 0) throw new Error(`ip route: ${route.stderr}`);
  registryWork = mkdtempSync(join(tmpdir(), 'podsec-u7s-registry-'));
  await startImageRegistry(network, registryWork);
  const lower = await ensureRootfs({ packages: PACKAGES });
  let ready: (c: Node) => void = () => {};
  let failed: (e: unknown) => void = () => {};
  const booted = new Promise<Node>((resolve, reject) => ((ready = resolve), (failed = reject)));
  const stop = new Promise<void>((resolve) => (finish = resolve));
  finished = withOverlay(lower, async (overlay) => {
    root = overlay;
    await rpmInstall(overlay, built.rpms);
    for (const name of readdirSync(DOUBLES)) {
      copyFileSync(join(DOUBLES, name), join(overlay, 'usr/bin', name));
      chmodSync(join(overlay, 'usr/bin', name), 0o755);
    }
    mkdirSync(join(overlay, RECORDS), { recursive: true });
    chmodSync(join(overlay, RECORDS), 0o1777);
    // Every real system has one (minbase has none); rootlesskit's child rewrites it in its copy of /etc.
    writeFileSync(join(overlay, 'etc/hosts'), '127.0.0.1 localhost\n');
    // The test registry speaks plain HTTP, as registry.local does (podsec-create-policy writes the same for it).
    mkdirSync(join(overlay, 'etc/containers/registries.conf.d'), { recursive: true });
    writeFileSync(join(overlay, 'etc/containers/registries.conf.d/50-u7s-test.conf'), `[[registry]]\nlocation = "${registryAddr}"\ninsecure = true\n`);
    // CRI-O's store on a disk file system, as on a real node (overlay cannot stack on the test's overlay root).
    const store = join(registryWork, 'crio-store');
    const admin = readFileSync(join(overlay, 'etc/passwd'), 'utf8')
      .split('\n')
      .find((line) => line.startsWith('u7s-admin:'))!
      .split(':');
    mkdirSync(store, { mode: 0o700 });
    chownSync(store, Number(admin[2]), Number(admin[3]));
    const c = await bootNode(overlay, {
      name: `u7s-e2e-${process.pid}`,
      network: { kind: 'netns', netns: network!.node.name },
      binds: [`${store}:/var/lib/u7s-admin/.local/share/usernetes/containers`],
    });
    ready(c);
    try {
      await stop;
    } finally {
      await c.stop();
    }
  }).catch((error) => failed(error));
  container = await booted;
  const id = await sh(['id', '-u', 'u7s-admin']);
  uid = Number(id.stdout.trim());
});

base.after(async () => {
  finish();
  await finished;
  await registry?.stop();
  network?.remove();
  if (registryWork) rmSync(registryWork, { recursive: true, force: true });
});

const PATH_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8'];
const sh = (argv: string[], timeoutMs = 300_000): Promise<RunResult> => container!.exec(['env', '-i', ...PATH_ENV, ...argv], { timeoutMs });
const asAdmin = (argv: string[]) =>
  sh(['setpriv', '--reuid=u7s-admin', '--regid=u7s-admin', '--init-groups', 'env', `HOME=/var/lib/u7s-admin`, `XDG_RUNTIME_DIR=/run/user/${uid}`, ...argv]);
const userctl = (...args: string[]) => asAdmin(['systemctl', '--user', ...args]);
const wrapper = (args: string[], env: string[] = [NO_PULLS]) => sh(['env', ...WRAPPER_ENV, ...env, '/usr/bin/podsec-u7s-kubeadm', ...args]);

/** `u7s-start-stop status --json`, validated against its schema. */
async function nodeStatus() {
  const r = await sh(['/usr/libexec/podsec/u7s/bin/u7s-start-stop', 'status', '--json']);
  const status = JSON.parse(r.stdout) as { running: boolean; linger: boolean; units: { unit: string; activeState: string; mainPid: number | null }[] };
  assert.ok(validateStatus(status), `${JSON.stringify(validateStatus.errors)}\n${r.stdout}`);
  assert.is(r.exitCode, status.running ? 0 : 3, r.stderr);
  return status;
}

interface Record {
  name: string;
  argv: string[];
  uid: number;
  time: number;
  config?: string | null;
  [key: string]: unknown;
}

function records(name: string): Record[] {
  const dir = join(root, RECORDS);
  return readdirSync(dir)
    .filter((f) => f.startsWith(`${name}-`) && f.endsWith('.json') && !f.slice(name.length + 1).match(/^[a-z]/))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record)
    .sort((a, b) => a.time - b.time);
}
const last = (name: string) => records(name).at(-1);

async function unitState(unit: string) {
  const r = await userctl('show', unit, '-p', 'ActiveState', '-p', 'MainPID', '-p', 'ActiveEnterTimestampMonotonic');
  const props = parseShow(r.stdout)[0] ?? {};
  return { active: props.ActiveState, pid: Number(props.MainPID), since: Number(props.ActiveEnterTimestampMonotonic) };
}

/** Bounded wait for a condition on the node (every 250 ms, at most `seconds`). */
async function until<T>(what: string, seconds: number, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < seconds * 4; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(250);
  }
  const journal = await sh(['journalctl', '--no-pager', '-n', '60', `_UID=${uid}`]);
  throw new Error(`${what}: not within ${seconds} s\n--- journal of u7s-admin ---\n${journal.stdout}`);
}

test('systemd-analyze verify: u7s.service, rootlesskit.service and kubelet.service are clean (empty stderr)', async () => {
  // --man=no: the rootfs has no man(1) to look up Documentation=man:podsec-u7s-kubeadm(1) with.
  for (const unit of ['/lib/systemd/system/u7s.service', '/usr/lib/systemd/user/rootlesskit.service', '/usr/lib/systemd/user/kubelet.service']) {
    const r = await sh(['systemd-analyze', 'verify', '--man=no', unit]);
    assert.is(r.stderr, '', `${unit}: ${r.stderr}`);
    assert.is(r.exitCode, 0, unit);
  }
  const state = await sh(['systemctl', 'show', 'u7s.service', '-p', 'ActiveState', '-p', 'ConditionResult']);
  assert.match(state.stdout, /ActiveState=inactive/, 'before a deployment u7s.service is skipped, not failing and restarting');
});

test('kubeadm init through the wrapper: namespace, kubeadm in it with the golden documents, kubelet after rootlesskit, u7s.service', async () => {
  const r = await wrapper(['init', '--apiserver-advertise-address', '192.0.2.10', '--node-name', 'u7s-node1']);
  assert.is(r.exitCode, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /initialized successfully/);

  const kubeadm = records('kubeadm').find((x) => x.argv[0] === 'init')!;
  assert.equal(kubeadm.argv, ['init', '--config=/etc/podsec/u7s/config/rendered/init.yaml', '--upload-certs']);
  assert.is(kubeadm.uid, 0, 'kubeadm runs as root of the namespace');
  assert.is(kubeadm.config, readFileSync(join(GOLDEN, 'init.yaml'), 'utf8'), 'the documents are the golden ones');
  assert.match(String(kubeadm.path), new RegExp(`^${LIBEXEC}:`), "the u7s programs (systemctl shim) come first in kubeadm's PATH");

  const env = readFileSync(join(root, 'etc/podsec/u7s/config/env'), 'utf8');
  const normalize = (text: string) =>
    text
      .replace(/^(U7S_UID|_CONTAINERS_ROOTLESS_UID)='\d+'$/gm, "$1='<uid>'")
      .replace(/^U7S_EXTDEV='.*'$/m, "U7S_EXTDEV='<dev>'")
      .replace(/^U7S_PUBLISH_ADDRESS='.*'$/m, "U7S_PUBLISH_ADDRESS='<address>'");
  assert.fixture(normalize(env), normalize(readFileSync(join(GOLDEN, 'init.env'), 'utf8')));

  const restart = records('kubeadm-systemctl').find((x) => (x.verb as string[]).join(' ') === 'restart kubelet')!;
  assert.is(restart.status, 0, `the systemctl shim inside the namespace restarted the user unit: ${restart.stderr}`);

  const kubelet = await until('kubelet double running', 60, async () => last('kubelet'));
  assert.ok(kubelet.argv.includes(`--container-runtime-endpoint=unix:///run/user/${uid}/usernetes/crio/crio.sock`), kubelet.argv.join(' '));
  assert.ok(kubelet.argv.includes('--node-ip=192.0.2.10'), "kubeadm's flags reach kubelet");
  assert.is(kubelet.criAccepts, true, "CRI-O's socket accepted connections before kubelet started");
  assert.match(String(kubelet.config), /KubeletInUserNamespace: true/);
  const crio = last('crio')!;
  assert.match(String(crio.config), /^signature_policy = "\/etc\/containers\/policy\.json"$/m);
  assert.is((crio.env as { _CRIO_ROOTLESS?: string })._CRIO_ROOTLESS, '1');
  const kubectl = last('kubectl')!;
  assert.equal(kubectl.argv, ['--kubeconfig', '/etc/kubernetes/admin.conf', 'apply', '-f', '-']);
  assert.match(String(kubectl.stdin), /image: registry\.altlinux\.org\/p11\/flannel:v/);
  assert.match(String(kubectl.stdin), /"Network": "10\.244\.0\.0\/16"/);

  const rootConfig = await sh(['stat', '-c', '%a %U', '/root/.kube/config']);
  assert.is(rootConfig.stdout.trim(), '600 root');
  assert.is((await sh(['systemctl', 'is-active', 'u7s.service'])).stdout.trim(), 'active');
  assert.is((await sh(['systemctl', 'is-enabled', 'u7s.service'])).stdout.trim(), 'enabled');
  assert.ok(existsSync(join(root, 'var/lib/systemd/linger/u7s-admin')), 'the user manager is kept by lingering');
  const rk = await unitState('rootlesskit.service');
  const kl = await unitState('kubelet.service');
  assert.equal([rk.active, kl.active], ['active', 'active']);
  assert.ok(kl.since >= rk.since, 'kubelet.service became active after rootlesskit.service');

  const ports = await sh(['/usr/libexec/podsec/u7s/bin/rootlessctl', 'list-ports']);
  assert.is(ports.exitCode, 0, ports.stderr);
  for (const port of [2379, 2380, 6443, 10250, 10255, 10256, 8472, 6053])
    assert.match(ports.stdout, new RegExp(`127\\.0\\.0\\.1\\s+${port}\\s`), `port ${port}`);

  for (const unit of ['rootlesskit.service', 'kubelet.service']) {
    // --man=no as above; test/e2e/units-verify.test.ts resolves the Documentation= pages with man-db.
    const verify = await asAdmin(['systemd-analyze', '--user', 'verify', '--man=no', `/usr/lib/systemd/user/${unit}`]);
    assert.is(verify.stderr, '', `${unit} as a user unit: ${verify.stderr}`);
  }
  const preflight = await sh(['/usr/bin/podsec-u7s-preflight', '--json', '--no-ports']);
  const checks = JSON.parse(preflight.stdout) as { id: string; status: string }[];
  assert.is(checks.find((c) => c.id === 'linger')?.status, 'ok');
  assert.is(checks.find((c) => c.id === 'subuid')?.status, 'ok');
  assert.is(preflight.exitCode, checks.some((c) => c.status === 'fail') ? 1 : 0);

  const status = await nodeStatus();
  assert.equal([status.running, status.linger], [true, true]);
  assert.equal(
    status.units.map((u) => [u.unit, u.activeState, u.mainPid]),
    [
      ['rootlesskit.service', 'active', rk.pid],
      ['kubelet.service', 'active', kl.pid],
    ],
  );
  const text = await sh(['/usr/libexec/podsec/u7s/bin/u7s-start-stop', 'status']);
  assert.is(text.exitCode, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^rootlesskit\\.service: active \\(running\\), since \\S+, PID ${rk.pid}, \\d+ restarts?$`, 'm'));
  assert.match(text.stdout, /^The node is running\.$/m);
});

test('killing the launcher restarts rootlesskit.service, and kubelet.service with it', async () => {
  const before = { rk: await unitState('rootlesskit.service'), kl: await unitState('kubelet.service') };
  const recorded = { crio: records('crio').length, kubelet: records('kubelet').length };
  const kill = await sh(['kill', '-KILL', String(before.rk.pid)]);
  assert.is(kill.exitCode, 0, kill.stderr);
  const after = await until('both units back with new processes', 90, async () => {
    const rk = await unitState('rootlesskit.service');
    const kl = await unitState('kubelet.service');
    return rk.active === 'active' && kl.active === 'active' && rk.pid !== before.rk.pid && kl.pid !== before.kl.pid && kl.since >= rk.since
      ? { rk, kl }
      : undefined;
  });
  assert.ok(after.kl.since >= after.rk.since);
  // "active" is only "started": wait until the new CRI-O and kubelet doubles are up (they record
  // once they are), so the next test stops running programs, not ones still starting.
  await until('the new doubles are up', 90, async () =>
    records('crio').length > recorded.crio && records('kubelet').length > recorded.kubelet ? true : undefined,
  );
});

test('systemctl stop u7s stops both units; start brings them back', async () => {
  const stop = await sh(['systemctl', 'stop', 'u7s.service']);
  assert.is(stop.exitCode, 0, stop.stderr);
  const states = [(await unitState('rootlesskit.service')).active, (await unitState('kubelet.service')).active];
  if (states.join() !== 'inactive,inactive') {
    const why = await userctl('show', 'rootlesskit.service', 'kubelet.service', '-p', 'Id', '-p', 'Result', '-p', 'ExecMainCode', '-p', 'ExecMainStatus');
    const journal = await sh(['journalctl', '--no-pager', '-n', '40', `_UID=${uid}`]);
    assert.unreachable(`after stop: ${states.join(', ')}\n${why.stdout}\n${journal.stdout}`);
  }
  const stopped = await nodeStatus();
  assert.is(stopped.running, false);
  assert.equal(
    stopped.units.map((u) => [u.activeState, u.mainPid]),
    [
      ['inactive', null],
      ['inactive', null],
    ],
  );
  const recorded = { crio: records('crio').length, kubelet: records('kubelet').length };
  const start = await sh(['systemctl', 'start', 'u7s.service']);
  assert.is(start.exitCode, 0, start.stderr);
  await until('both units active again', 90, async () =>
    (await unitState('kubelet.service')).active === 'active' && (await unitState('rootlesskit.service')).active === 'active' ? true : undefined,
  );
  await until('the new doubles are up', 90, async () =>
    records('crio').length > recorded.crio && records('kubelet').length > recorded.kubelet ? true : undefined,
  );
  assert.is((await nodeStatus()).running, true);
});

test('kubeadm reset through the wrapper runs in the namespace, then stops and disables the node', async () => {
  const r = await wrapper(['reset', '-f']);
  assert.is(r.exitCode, 0, r.stdout + r.stderr);
  assert.equal(last('kubeadm')!.argv, ['reset', '-f']);
  assert.is((await sh(['systemctl', 'is-enabled', 'u7s.service'])).stdout.trim(), 'disabled');
  assert.not.ok(existsSync(join(root, 'var/lib/systemd/linger/u7s-admin')), 'lingering is off again');
  const left = await sh(['pgrep', '-u', 'u7s-admin', '-f', 'u7s-rootlesskit|u7s-kubelet']);
  assert.is(left.stdout, '', 'no launcher, no kubelet left');
});

test('control-plane join with --certificate-key: the golden document; the join secrets are not left on disk', async () => {
  const r = await wrapper(['join', ...controlPlaneJoin('192.0.2.100:8443'), '--apiserver-advertise-address', '192.0.2.11', '--node-name', 'u7s-node1']);
  assert.is(r.exitCode, 0, r.stdout + r.stderr);
  const join_ = last('kubeadm')!;
  assert.equal(join_.argv, ['join', '--config=/etc/podsec/u7s/config/rendered/join.yaml']);
  assert.is(join_.config, readFileSync(join(GOLDEN, 'join-control-plane.yaml'), 'utf8'));
  assert.not.ok(existsSync(join(root, 'etc/podsec/u7s/config/rendered/join.yaml')), 'removed after kubeadm ran');
  assert.not.match(readFileSync(join(root, 'etc/podsec/u7s/config/env'), 'utf8'), new RegExp(`${TOKEN}|${KEY}`), 'no secret in the environment file');
  assert.match(readFileSync(join(root, 'etc/podsec/u7s/config/env'), 'utf8'), /^U7S_CONTROLPLANE='master'$/m);
});

const STORE = 'var/lib/u7s-admin/.local/share/usernetes/containers/storage';
const WORKER_JOIN = ['join', '192.0.2.10:6443', '--token', TOKEN, '--discovery-token-ca-cert-hash', HASH, '--node-name', 'u7s-node2'];

test("a worker join pulls the node's images as u7s-admin inside the namespace into the CRI-O store, one progress line each", async () => {
  const images = workerImages();
  const joinsBefore = records('kubeadm').filter((x) => x.argv[0] === 'join').length;
  const r = await wrapper(WORKER_JOIN, [`U7S_REGISTRY=${registryAddr}`]);
  assert.is(r.exitCode, 0, r.stdout + r.stderr);
  const steps = r.stderr.split('\n').flatMap((line) => PROGRESS_LINE.exec(line)?.slice(1) ?? []);
  assert.equal(
    steps,
    images.flatMap((image, i) => ['Pulling images into the node', String(i + 1), String(images.length), image]),
    r.stderr,
  );
  assert.is(records('kubeadm').filter((x) => x.argv[0] === 'join').length, joinsBefore + 1, 'kubeadm ran after the pulls');
  const index = JSON.parse((await sh(['cat', `/${STORE}/overlay-images/images.json`])).stdout) as { names?: string[] }[];
  const names = index.flatMap((image) => image.names ?? []);
  for (const image of images) assert.ok(names.includes(image), `${image} in the store: ${names.join(' ')}`);
  const owner = await sh(['stat', '-c', '%u', `/${STORE}/overlay-images/images.json`]);
  assert.is(Number(owner.stdout.trim()), uid, "the store is u7s-admin's (root of the namespace), not the host root's");
});

test("an image the node's signature policy refuses stops the join before kubeadm, named with the reason", async () => {
  const policy = join(root, 'etc/containers/policy.json');
  const original = readFileSync(policy, 'utf8');
  writeFileSync(
    policy,
    JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }], transports: { docker: { [`${registryAddr}/p11/coredns`]: [{ type: 'reject' }] } } }),
  );
  try {
    const joinsBefore = records('kubeadm').filter((x) => x.argv[0] === 'join').length;
    const r = await wrapper(WORKER_JOIN, [`U7S_REGISTRY=${registryAddr}`]);
    assert.is(r.exitCode, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`${registryAddr.replace(/\./g, '\\.')}/p11/coredns:v1\\.11\\.1 could not be pulled: .*rejected`));
    assert.is(records('kubeadm').filter((x) => x.argv[0] === 'join').length, joinsBefore, 'kubeadm did not run');
  } finally {
    writeFileSync(policy, original);
  }
});

test('a failing kubeadm: one message, exit 1, the join document removed', async () => {
  writeFileSync(join(root, RECORDS, 'kubeadm-fail'), '');
  try {
    const r = await wrapper(['join', '192.0.2.10:6443', '--token', TOKEN, '--discovery-token-ca-cert-hash', HASH, '--node-name', 'u7s-node1']);
    assert.is(r.exitCode, 1);
    assert.match(r.stderr, /Cluster deployment failed \(kubeadm join: status 3\)/);
    assert.not.ok(existsSync(join(root, 'etc/podsec/u7s/config/rendered/join.yaml')));
  } finally {
    writeFileSync(join(root, RECORDS, 'kubeadm-fail'), '');
    const { rmSync } = await import('node:fs');
    rmSync(join(root, RECORDS, 'kubeadm-fail'));
  }
});

test.run();
