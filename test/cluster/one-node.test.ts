// test-runner: exclusive
// test-runner: k8s-tools — npm test builds the components of npm run k8s-tools first
/**
 * A real rootless one-node cluster (`npm run cluster -- up --nodes 1`): Kubernetes 1.34, CRI-O,
 * etcd, coredns and flannel built from their Go modules (npm run k8s-tools), their images signed
 * by an image maker through podsec-k8s-save-oci and podsec-load-sign-oci into the master's
 * registry.local, and `podsec-u7s-kubeadm init` on a booted node (nspawn, our RPMs) that is also
 * the podsec master ("Only Master"). Checked here: every pod Running; every Kubernetes process
 * runs as u7s-admin (root only of its own user namespace); CRI-O runs a signed pod and refuses an
 * unsigned one and one signed by a key the policy does not name; what the wrapper generates is
 * accepted by the real tools (kubeadm config validate, CRI-O's effective configuration); stop,
 * start, restart through u7s.service and a reboot of the node bring it back Ready; the RBAC
 * commands and the monitors against the real apiserver, audit log and CRI-O storage; and
 * kubeadm reset through the wrapper leaves nothing running.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'smol-toml';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { crioImageStore, crioTables } from '../../bin/u7s/lib/crio-config.ts';
import { patchKubeletConfig } from '../../bin/u7s/lib/kubelet-config.ts';
import { userLayout } from '../../bin/u7s/lib/paths.ts';
import { CLUSTER_PLATFORM, kubeconfigPath, kubectlArgs, waitReady } from '../../scripts/cluster/cluster.ts';
import { mustExec, netnsExec, nodeExec, rebootClusterNode } from '../../scripts/cluster/machines.ts';
import { writeState, type ClusterState, type NodeState } from '../../scripts/cluster/state.ts';
import { MAKER, nodeRunner } from '../../scripts/cluster/supply.ts';
import { ensureK8sTools } from '../../scripts/k8s-tools/build.ts';
import { NODE_TOOLS, runGated } from '../support/image-env.ts';
import { pushUnsigned } from '../support/image-nspawn.ts';
import { ACCEPT_ANYTHING } from '../support/oci-fixtures.ts';
import { registerRbacFlow } from '../support/rbac-flow.ts';
import { stopwatch } from '../support/exec.ts';
import { clusterHooks, DROP, dropImages, loadAndSign, until } from '../support/cluster-workloads.ts';
import { runCommand } from '../support/trust-fixtures.ts';

let state: ClusterState | undefined;
/** The kubectl of the built Kubernetes, for the host's side of the RBAC flow. */
let kubectlOnHost = 'kubectl';
const times: Record<string, number> = {};
const SIGNED = `${CLUSTER_PLATFORM}/app:1`;
const UNSIGNED = `${CLUSTER_PLATFORM}/unsigned:1`;
const OTHER_KEY = `${CLUSTER_PLATFORM}/otherkey:1`;
const ACCEPT_POLICY = `${DROP}/accept.json`;
const NSENTER_U7S = '/usr/libexec/podsec/u7s/bin/nsenter_u7s';
/** A command as u7s-admin inside the node namespace. */
const asNode = (...argv: string[]) => ['runuser', '-u', 'u7s-admin', '--', NSENTER_U7S, ...argv];
const log = (line: string) => process.stderr.write(`${line}\n`);

const timed = stopwatch(times);

const master = (): NodeState => state!.nodes[0]!;
const kubectl = (...args: string[]) => nodeExec(master(), kubectlArgs(...args), { timeoutMs: 120_000 });
const mustKubectl = (...args: string[]) => mustExec(master(), kubectlArgs(...args), { timeoutMs: 120_000 });

clusterHooks(test, { nodes: 1, controlPlanes: 1 }, times, async (up, work) => {
  state = up;
  kubectlOnHost = (await ensureK8sTools({ log })).bin('kubectl');
  await dropImages(master(), work, [
    ['signed', SIGNED],
    ['unsigned', UNSIGNED],
    ['otherkey', OTHER_KEY],
  ]);
});

/** The signed Deployment's one replica available (its pod Running and ready). */
const signedRunning = () =>
  until('the signed workload running', 300, async () => {
    const available = (await kubectl('get', 'deployment', 'signed', '-o', 'jsonpath={.status.availableReplicas}')).stdout;
    return available === '1' || `available: ${available || 0}`;
  });

/** A TOML basic string, as the TOML library quotes it. */
const tomlString = (value: string) => stringify({ v: value }).slice('v = '.length, -1);

/** How `crio config` writes a key whose value is CRI-O's default (its template's commented form). */
function commentedDefault(key: string, value: unknown): string {
  if (Array.isArray(value)) return `# ${key} = [\n${value.map((v) => `# \t${tomlString(String(v))},\n`).join('')}# ]\n`;
  return `# ${key} = ${typeof value === 'string' ? tomlString(value) : String(value)}\n`;
}

interface Pod {
  metadata: { namespace: string; name: string };
  spec: { nodeName?: string };
  status: { phase: string; containerStatuses?: { name: string; ready: boolean; state: { waiting?: { reason?: string; message?: string } } }[] };
}

test('podsec-u7s-kubeadm init: the node is Ready and every control-plane, kube-proxy, coredns and flannel pod Running', async () => {
  const nodes = JSON.parse(await mustKubectl('get', 'nodes', '-o', 'json')) as { items: { status: { conditions: { type: string; status: string }[] } }[] };
  assert.is(nodes.items.length, 1);
  assert.is(nodes.items[0]!.status.conditions.find((c) => c.type === 'Ready')?.status, 'True');
  const pods = (JSON.parse(await mustKubectl('get', 'pods', '-A', '-o', 'json')) as { items: Pod[] }).items;
  const name = master().name;
  for (const prefix of [
    'kube-system/etcd-',
    'kube-system/kube-apiserver-',
    'kube-system/kube-controller-manager-',
    'kube-system/kube-scheduler-',
    'kube-system/kube-proxy-',
    'kube-system/coredns-',
    'kube-flannel/kube-flannel-ds-',
  ]) {
    const found = pods.filter((p) => `${p.metadata.namespace}/${p.metadata.name}`.startsWith(prefix));
    assert.ok(found.length > 0, `no pod ${prefix}*`);
    for (const p of found) {
      assert.is(p.status.phase, 'Running', `${p.metadata.name}`);
      assert.ok(
        (p.status.containerStatuses ?? []).every((c) => c.ready),
        `${p.metadata.name} not ready`,
      );
    }
  }
  assert.ok(pods.every((p) => p.spec.nodeName === name || p.spec.nodeName === undefined));
});

test('every Kubernetes process runs as u7s-admin (root only inside its user namespace), none as host root', async () => {
  const uid = Number((await mustExec(master(), ['id', '-u', 'u7s-admin'])).trim());
  const sub = (await mustExec(master(), ['cat', '/etc/subuid']))
    .split('\n')
    .find((l) => l.startsWith('u7s-admin:'))!
    .split(':')
    .map(Number);
  const [, subStart, subCount] = sub as [unknown, number, number];
  const wanted = ['kubelet', 'crio', 'conmon', 'etcd', 'kube-apiserver', 'kube-controller', 'kube-scheduler', 'kube-proxy', 'coredns', 'flanneld'];
  const seen = new Map<string, number>();
  for (const pid of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const comm = (await fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
    if (!wanted.includes(comm)) continue;
    // Only the cluster node's processes (its own PID namespace under our nspawn).
    const cgroup = await fs.readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
    if (!state!.nodes[0]!.cgroups.some((dir) => cgroup.includes(dir.replace(/^\/sys\/fs\/cgroup\/(systemd|unified)/, '')))) continue;
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
    const hostUid = Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
    assert.ok(hostUid === uid || (hostUid >= subStart && hostUid < subStart + subCount), `${comm} (${pid}) runs as host uid ${hostUid}`);
    assert.is.not(hostUid, 0, `${comm} runs as host root`);
    seen.set(comm, (seen.get(comm) ?? 0) + 1);
    if (['kubelet', 'crio', 'etcd', 'kube-apiserver'].includes(comm)) {
      // Its own user namespace maps namespace root to u7s-admin.
      const map = (await fs.readFile(`/proc/${pid}/uid_map`, 'utf8')).trim().split('\n')[0]!.trim().split(/\s+/).map(Number);
      assert.equal(map.slice(0, 2), [0, uid], `${comm}: uid 0 inside is u7s-admin`);
    }
  }
  for (const comm of ['kubelet', 'crio', 'conmon', 'etcd', 'kube-apiserver', 'kube-scheduler', 'kube-proxy', 'coredns', 'flanneld'])
    assert.ok(seen.has(comm), `no ${comm} process found`);
  const inside = await mustExec(master(), asNode('id', '-u'));
  assert.is(inside.trim(), '0');
});

test('the control-plane images came from registry.local, signed by the image maker (the master is also the node)', async () => {
  const images = await mustExec(master(), asNode('crictl', '--runtime-endpoint', 'unix:///run/crio/crio.sock', 'images', '-o', 'json'));
  const tags = (JSON.parse(images) as { images: { repoTags: string[] }[] }).images.flatMap((i) => i.repoTags);
  for (const name of ['kube-apiserver', 'etcd', 'coredns', 'pause', 'flannel'])
    assert.ok(
      tags.some((t) => t.startsWith(`registry.local/${CLUSTER_PLATFORM}/${name}:`)),
      `${name} not from registry.local: ${tags.join(' ')}`,
    );
  const policy = JSON.parse(readFileSync(join(master().root, 'etc/containers/policy.json'), 'utf8'));
  assert.equal(policy.default, [{ type: 'reject' }]);
  assert.is(policy.transports.docker[`registry.local/${CLUSTER_PLATFORM}`][0].type, 'signedBy');
  const signatures = await fs.readdir(join(master().root, 'var/sigstore/sigstore', CLUSTER_PLATFORM));
  for (const name of ['kube-apiserver', 'etcd', 'coredns', 'pause', 'flannel', 'flannel-cni-plugin'])
    assert.ok(
      signatures.some((d) => d.startsWith(`${name}@sha256=`)),
      `no signature for ${name}`,
    );
});

test('CRI-O runs a pod of a signed image; refuses an unsigned one and one signed by a key the policy does not name', async () => {
  const loaded = await loadAndSign(master(), 'signed');
  assert.is(loaded.exitCode, 0, loaded.stderr + loaded.stdout);
  const pushed = await pushUnsigned(nodeRunner(master()), MAKER, `${DROP}/unsigned/amd64`, UNSIGNED);
  assert.is(pushed.exitCode, 0, pushed.stderr);
  // Signed with a key of its own (a GPG key the policy does not name), by root on the master.
  const gnupg = `${DROP}/othergpg`;
  await mustExec(master(), ['install', '-d', '-m', '700', gnupg]);
  await mustExec(master(), [
    'env',
    `GNUPGHOME=${gnupg}`,
    'gpg',
    '--batch',
    '--passphrase',
    '',
    '--quick-gen-key',
    'other <other@example.org>',
    'ed25519',
    'sign',
    'never',
  ]);
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(await mustExec(master(), ['env', `GNUPGHOME=${gnupg}`, 'gpg', '--with-colons', '--list-secret-keys']))![1]!;
  // The master's own policy rejects the oci: source (reject by default): take it as it is.
  await mustExec(master(), ['sh', '-c', 'cat > "$1"', 'sh', ACCEPT_POLICY], { input: ACCEPT_ANYTHING });
  // Its signature goes where the makers' go (the signature server's directory), through a staging of root's own.
  const registriesD = `${DROP}/registries.d`;
  await mustExec(master(), ['mkdir', '-p', registriesD]);
  await mustExec(master(), ['sh', '-c', 'cat > "$1"', 'sh', `${registriesD}/staging.yaml`], {
    input: 'default-docker:\n  lookaside-staging: file:///var/sigstore/sigstore\n',
  });
  await mustExec(
    master(),
    [
      'env',
      `GNUPGHOME=${gnupg}`,
      'skopeo',
      '--policy',
      ACCEPT_POLICY,
      '--registries.d',
      registriesD,
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      '--sign-by',
      fpr,
      `oci:${DROP}/otherkey/amd64:${OTHER_KEY}`,
      `docker://registry.local/${OTHER_KEY}`,
    ],
    { timeoutMs: 120_000 },
  );
  assert.ok(
    (await fs.readdir(join(master().root, 'var/sigstore/sigstore', CLUSTER_PLATFORM))).some((d) => d.startsWith('otherkey@sha256=')),
    "the other key's signature is not served",
  );

  // The signed workload as a Deployment (it must come back after the node's restarts), the refused ones as bare pods.
  await mustKubectl('create', 'deployment', 'signed', `--image=registry.local/${SIGNED}`, '--', '/bin/busybox', 'sleep', '3600');
  for (const [pod, image] of [
    ['unsigned', UNSIGNED],
    ['otherkey', OTHER_KEY],
  ] as const) {
    await mustKubectl('run', pod, `--image=registry.local/${image}`, '--restart=Never', '--command', '--', '/bin/busybox', 'sleep', '3600');
  }
  await signedRunning();
  for (const pod of ['unsigned', 'otherkey']) {
    await until(`${pod}: SignatureValidationFailed`, 300, async () => {
      const p = JSON.parse((await kubectl('get', 'pod', pod, '-o', 'json')).stdout || '{}') as Pod;
      const waiting = p.status?.containerStatuses?.[0]?.state.waiting;
      return waiting?.reason === 'SignatureValidationFailed' || JSON.stringify(waiting ?? p.status?.phase);
    });
    const events = await mustKubectl(
      'get',
      'events',
      '--field-selector',
      `involvedObject.name=${pod}`,
      '-o',
      'jsonpath={range .items[*]}{.message}{"\\n"}{end}',
    );
    assert.match(events, /SignatureValidationFailed|[Ss]ignature/, `${pod}: ${events}`);
    assert.is.not((await kubectl('get', 'pod', pod, '-o', 'jsonpath={.status.phase}')).stdout, 'Running');
  }
  const otherEvents = await mustKubectl(
    'get',
    'events',
    '--field-selector',
    'involvedObject.name=otherkey',
    '-o',
    'jsonpath={range .items[*]}{.message}{"\\n"}{end}',
  );
  assert.match(otherEvents, /[Kk]ey|signed by|not accepted|[Ss]ignature/);
  const unsignedEvents = await mustKubectl(
    'get',
    'events',
    '--field-selector',
    'involvedObject.name=unsigned',
    '-o',
    'jsonpath={range .items[*]}{.message}{"\\n"}{end}',
  );
  assert.match(unsignedEvents, /A signature was required, but no signature exists/);
  for (const pod of ['unsigned', 'otherkey']) await mustKubectl('delete', 'pod', pod, '--wait=false');
});

test(
  "the monitors see the node: check-images finds an unsigned image placed in u7s-admin's CRI-O " +
    'storage (which CRI-O refuses to run), check-containers reports a change inside a running pod',
  async () => {
    // check-kubeapi follows the audit log from its end: started before the RBAC flow makes its 403s.
    await mustExec(master(), ['systemctl', 'start', 'podsec-inotify-check-kubeapi.service', 'podsec-inotify-check-containers.service']);
    const clean = await nodeExec(master(), ['podsec-inotify-check-images', '--json'], { timeoutMs: 300_000 });
    assert.equal(JSON.parse(clean.stdout).status, 'OK', clean.stdout + clean.stderr);
    const uid = Number((await mustExec(master(), ['id', '-u', 'u7s-admin'])).trim());
    const store = crioImageStore(userLayout(uid, uid, '/var/lib/u7s-admin'));
    const placed = `registry.local/${CLUSTER_PLATFORM}/placed:1`;
    await mustExec(
      master(),
      asNode(
        'skopeo',
        '--policy',
        ACCEPT_POLICY,
        'copy',
        '--quiet',
        `oci:${DROP}/unsigned/amd64:${UNSIGNED}`,
        `containers-storage:[${store.driver}@${store.root}+${store.runroot}]${placed}`,
      ),
      { timeoutMs: 120_000 },
    );
    try {
      const found = await nodeExec(master(), ['podsec-inotify-check-images', '--json'], { timeoutMs: 300_000 });
      const report = JSON.parse(found.stdout) as { status: string; findings: { users: string[]; details: string[] }[] };
      assert.is(report.status, 'CRITICAL', found.stdout);
      assert.ok(
        report.findings.some((f) => f.users.includes('u7s-admin') && f.details.some((d) => d.includes('placed'))),
        found.stdout,
      );
      await mustKubectl(
        'run',
        'placed',
        `--image=${placed}`,
        '--image-pull-policy=Never',
        '--restart=Never',
        '--command',
        '--',
        '/bin/busybox',
        'sleep',
        '3600',
      );
      await until('CRI-O refuses to run the placed image', 300, async () => {
        const p = JSON.parse((await kubectl('get', 'pod', 'placed', '-o', 'json')).stdout || '{}') as Pod;
        const waiting = p.status?.containerStatuses?.[0]?.state.waiting;
        return /signature/i.test(waiting?.message ?? '') || JSON.stringify(waiting ?? p.status?.phase);
      });
      assert.is.not((await kubectl('get', 'pod', 'placed', '-o', 'jsonpath={.status.phase}')).stdout, 'Running');
    } finally {
      await kubectl('delete', 'pod', 'placed', '--wait=true', '--timeout=120s');
      await mustExec(master(), asNode('crictl', '--runtime-endpoint', 'unix:///run/crio/crio.sock', 'rmi', placed));
    }
    const marker = `podsec-cluster-${process.pid}`;
    await until('check-containers reports a change in the signed pod', 120, async () => {
      await kubectl('exec', 'deploy/signed', '--', 'sh', '-c', `echo x > /etc/${marker}`);
      const journal = await nodeExec(master(), ['journalctl', '-o', 'cat', '--no-pager', '-u', 'podsec-inotify-check-containers.service']);
      return journal.stdout.includes(marker) || journal.stdout.slice(-500);
    });
  },
);

let rbacUser = '';
registerRbacFlow(test, { admin: () => kubeconfigPath(state!), kubectl: () => kubectlOnHost, onUser: (user) => (rbacUser = user) });

test('check-kubeapi reports the forbidden request of the RBAC user from the real audit log', async () => {
  assert.ok(rbacUser, 'the RBAC flow did not run');
  await until('check-kubeapi reports the 403', 120, async () => {
    const journal = await nodeExec(master(), ['journalctl', '-o', 'cat', '--no-pager', '-u', 'podsec-inotify-check-kubeapi.service']);
    return journal.stdout.includes(`Forbidden request (403) of user "${rbacUser}"`) || journal.stdout.slice(-500);
  });
});

test('what the wrapper wrote is accepted by the real tools: kubeadm config validate; CRI-O carries every key we set', async () => {
  // The documents of an init, a worker join and a control-plane join, as the wrapper renders them
  // (--plan), and init's with the kubelet settings of each cgroup mode (kubelet-config.ts).
  const planned = async (args: string[]) => {
    const lines = (await mustExec(master(), ['env', 'LANG=C', `U7S_PLATFORM=${CLUSTER_PLATFORM}`, 'podsec-u7s-kubeadm', '--plan', ...args])).split('\n');
    const start = lines.findIndex((l) => l.startsWith('# /etc/podsec/u7s/config/rendered/'));
    const end = lines.findIndex((l, i) => i > start && l.startsWith('# kubeadm command'));
    assert.ok(start >= 0 && end > start, lines.join('\n'));
    return lines.slice(start + 1, end).join('\n');
  };
  const joinArgs = ['join', `${master().address}:6443`, '--token', 'abcdef.0123456789abcdef', '--discovery-token-ca-cert-hash', `sha256:${'a1'.repeat(32)}`];
  const init = await planned(['init']);
  const withKubelet = (cgroups: 'delegated' | 'none') =>
    YAML.parseAllDocuments(init)
      .map((d) => {
        const doc = d.toJSON() as { kind?: string };
        return doc.kind === 'KubeletConfiguration'
          ? (patchKubeletConfig(YAML.stringify(doc), '/var/lib/u7s-admin', { cgroups, minor: 34 }) ?? YAML.stringify(doc))
          : YAML.stringify(doc);
      })
      .join('---\n');
  const variants: Record<string, string> = {
    init,
    'init, cgroup v2 delegated': withKubelet('delegated'),
    'init, no delegated cgroups': withKubelet('none'),
    'join (worker)': await planned(joinArgs),
    'join (control plane)': await planned([...joinArgs, '--control-plane', '--certificate-key', 'f0'.repeat(32)]),
  };
  for (const [name, text] of Object.entries(variants)) {
    const file = `${DROP}/validate.yaml`;
    await mustExec(master(), ['sh', '-c', 'cat > "$1"', 'sh', file], { input: text });
    const r = await nodeExec(master(), ['kubeadm', 'config', 'validate', '--config', file]);
    assert.is(r.exitCode, 0, `${name}: ${r.stderr}\n${text}`);
  }
  const uid = Number((await mustExec(master(), ['id', '-u', 'u7s-admin'])).trim());
  const home = '/var/lib/u7s-admin';
  const config = `${home}/.config/usernetes/crio/crio.conf`;
  const effective = await mustExec(master(), asNode('crio', '--config', config, '--config-dir', `${home}/.config/usernetes/crio/crio.conf.d`, 'config'), {
    timeoutMs: 60_000,
  });
  const ours = readFileSync(join(master().root, config), 'utf8');
  const drop = /^drop_infra_ctr = (\w+)$/m.exec(ours)![1] === 'true';
  const parsed = await runCommand('python3', ['-c', 'import json,sys,tomllib; print(json.dumps(tomllib.loads(sys.stdin.read())))'], { input: effective });
  assert.is(parsed.exitCode, 0, parsed.stderr);
  const actual = JSON.parse(parsed.stdout) as Record<string, unknown>;
  const settings = { registry: 'registry.local', pauseImage: `${CLUSTER_PLATFORM}/pause:3.10.1`, cgroups: drop ? ('delegated' as const) : ('none' as const) };
  for (const [table, entries] of crioTables(userLayout(uid, uid, home), settings)) {
    let node: unknown = actual;
    for (const part of table.split('.')) node = (node as Record<string, unknown>)?.[part];
    for (const [key, value] of Object.entries(entries)) {
      const shown = (node as Record<string, unknown>)?.[key];
      // CRI-O comments out a key whose value is its default ("# key = value", a list one item a line): known, and equal.
      if (shown === undefined) assert.ok(effective.includes(commentedDefault(key, value)), `[${table}] ${key} is not in CRI-O's effective configuration`);
      else assert.equal(shown, value, `[${table}] ${key} in ${JSON.stringify(node)}`);
    }
  }
});

interface Kubeconfig {
  users: { user: Record<string, string> }[];
}

/** The API answers, etcd among its checks, and the node is Ready. */
async function healthy(what: string): Promise<void> {
  await until(`${what}: the API server ready with etcd`, 300, async () => {
    const r = await kubectl('get', '--raw', '/readyz?verbose');
    return (r.exitCode === 0 && /\[\+\]etcd ok/.test(r.stdout)) || (r.stdout + r.stderr).slice(-300);
  });
  await waitReady(state!, log, 600_000);
}

test('day 2: an etcd snapshot saved by root, objects deleted, the snapshot restored: the objects are back, the cluster healthy', async () => {
  await mustKubectl('create', 'namespace', 'day2');
  await mustKubectl('-n', 'day2', 'create', 'configmap', 'kept', '--from-literal=answer=42');
  const saved = await timed('etcd snapshot save', () => mustExec(master(), ['podsec-u7s-etcd-snapshot', 'save'], { timeoutMs: 600_000 }));
  const snapshot = saved.trim().split('\n').at(-1)!;
  assert.match(snapshot, /^\/var\/lib\/podsec\/u7s\/etcd-snapshots\/etcd-snapshot-\d{8}T\d{6}Z\.db$/);
  // Every Secret of the cluster is in it: root's alone, in root's 0700 directory.
  assert.is((await mustExec(master(), ['stat', '-c', '%U %a', snapshot, '/var/lib/podsec/u7s/etcd-snapshots'])).trim(), 'root 600\nroot 700');
  await mustKubectl('delete', 'namespace', 'day2', '--timeout=120s');
  assert.is((await kubectl('get', 'namespace', 'day2')).exitCode, 1, 'the namespace is still there');
  await timed('etcd snapshot restore', () => mustExec(master(), ['podsec-u7s-etcd-snapshot', 'restore', snapshot], { timeoutMs: 900_000 }));
  await timed('restore to healthy', () => healthy('after the restore'));
  assert.is((await mustKubectl('-n', 'day2', 'get', 'configmap', 'kept', '-o', 'jsonpath={.data.answer}')).trim(), '42');
  await mustKubectl('delete', 'namespace', 'day2', '--wait=false');
});

test("day 2: certificates checked and renewed inside the namespace; root's admin kubeconfig refreshed; the monitor says OK", async () => {
  // Read from the node's tree on the host (the node image has no openssl).
  const serial = (file: string) => BigInt(`0x${new X509Certificate(readFileSync(join(master().root, file))).serialNumber}`);
  const rootClientCert = () =>
    (YAML.parse(readFileSync(join(master().root, 'root/.kube/config'), 'utf8')) as Kubeconfig).users[0]!.user['client-certificate-data'];
  const checked = await mustExec(master(), ['podsec-u7s-kubeadm', 'certs', 'check-expiration'], { timeoutMs: 300_000 });
  for (const name of ['admin.conf', 'apiserver', 'etcd-server', 'front-proxy-client'])
    assert.match(checked, new RegExp(`^${name.replace('.', '\\.')}\\s`, 'm'), checked);
  const [apiserverBefore, adminBefore] = [serial('etc/kubernetes/pki/apiserver.crt'), rootClientCert()];
  await timed('certs renew', () => mustExec(master(), ['podsec-u7s-certs', 'renew'], { timeoutMs: 900_000 }));
  assert.is.not(serial('etc/kubernetes/pki/apiserver.crt'), apiserverBefore, 'apiserver.crt was not renewed');
  assert.is.not(rootClientCert(), adminBefore, "root's /root/.kube/config still has the old client certificate");
  await timed('renew to healthy', () => healthy('after the renewal'));
  // The API server serves the renewed certificate (it was restarted to read it).
  const served = await netnsExec(
    ['sh', '-c', 'openssl s_client -connect "$0:6443" </dev/null 2>/dev/null | openssl x509 -noout -serial', master().address],
    30_000,
  );
  assert.is(BigInt(`0x${served.stdout.trim().replace(/^serial=/, '')}`), serial('etc/kubernetes/pki/apiserver.crt'), served.stdout + served.stderr);
  const monitor = await nodeExec(master(), ['podsec-inotify-check-certs']);
  assert.is(monitor.exitCode, 0, monitor.stdout + monitor.stderr);
});

test('stop, start and restart through u7s.service; CRI-O killed; a reboot of the node: Ready again with no manual step', async () => {
  const service = (verb: string) => mustExec(master(), ['systemctl', verb, 'u7s.service'], { timeoutMs: 300_000 });
  await service('stop');
  await until('kubelet gone', 120, async () => ((await nodeExec(master(), ['pgrep', '-x', 'kubelet'])).exitCode === 1 ? true : 'kubelet still runs'));
  // What a rootful CRI-O or containerd on the same host leaves (the rootless CRI-O once failed on it: "nri.sock: bind: permission denied").
  await mustExec(master(), ['sh', '-ec', 'mkdir -p -m 0700 /run/nri && : > /run/nri/nri.sock']);
  await service('start');
  await timed('start to Ready', () => waitReady(state!, log, 600_000));
  await service('restart');
  await timed('restart to Ready', () => waitReady(state!, log, 600_000));
  // CRI-O killed: the unit restarts it, and the clean-shutdown marker (kept outside the namespace's
  // tmpfs) is missing, so CRI-O checks its storage before serving again.
  const crio = (await mustExec(master(), ['pgrep', '-x', 'crio'])).trim().split('\n');
  assert.is(crio.length, 1, `crio processes: ${crio.join(' ')}`);
  await mustExec(master(), ['kill', '-KILL', crio[0]!]);
  await until('CRI-O checks its storage after an unclean stop', 300, async () => {
    const journal = await nodeExec(master(), ['journalctl', '-o', 'cat', '--no-pager', '_UID=' + (await mustExec(master(), ['id', '-u', 'u7s-admin'])).trim()]);
    return /because of unclean shutdown/.test(journal.stdout) || 'not yet';
  });
  await timed('CRI-O killed to Ready', () => waitReady(state!, log, 600_000));
  state!.nodes[0] = await timed('node reboot', () => rebootClusterNode(master()));
  writeState(state!);
  await timed('reboot to Ready', () => waitReady(state!, log, 900_000));
  await signedRunning();
});

test('kubeadm reset through the wrapper leaves no process and no state', async () => {
  const r = await nodeExec(master(), ['podsec-u7s-kubeadm', 'reset', '--force'], { timeoutMs: 600_000 });
  assert.is(r.exitCode, 0, r.stderr + r.stdout);
  for (const comm of ['kubelet', 'crio', 'conmon', 'etcd', 'kube-apiserver', 'rootlesskit', 'slirp4netns']) {
    assert.is((await nodeExec(master(), ['pgrep', '-x', comm])).exitCode, 1, `${comm} still runs`);
  }
  for (const path of ['etc/kubernetes/admin.conf', 'etc/kubernetes/manifests/kube-apiserver.yaml', 'var/lib/podsec/u7s/etcd/member'])
    assert.not.ok(existsSync(join(master().root, path)), `${path} left behind`);
  assert.is.not((await nodeExec(master(), ['systemctl', 'is-enabled', 'u7s.service'])).stdout.trim(), 'enabled');
});

runGated(test, 'one-node cluster', [...NODE_TOOLS, 'ip', 'podman', 'skopeo', 'busybox', 'xz', 'tar', 'go', 'gcc', 'curl']);
