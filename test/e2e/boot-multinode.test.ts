// test-runner: exclusive — boots nspawn machines or a VM from the shared image cache and needs the whole machine
/**
 * Three booted nodes (master, two nodes) with every package installed, on a private bridge in a
 * network namespace this test creates: addresses, reachability both ways over ICMP and TCP,
 * isolation from the host. Then podsec's trust workflow across the bridge, every step by our
 * commands inside the nodes with real podman, skopeo, gpg, registry and nginx:
 *  - the master's registry and signature server started by systemd from our units
 *    (podsec-create-policy and podsec-create-services);
 *  - an image maker made by podsec-create-imagemakeruser (batch: generated GPG key) pushes and
 *    signs a busybox image with podsec-load-sign-oci in its own systemd user session, and pushes
 *    an unsigned image under the same path with plain skopeo (the OCI archives are made on the
 *    host with podman import and podsec-save-oci and copied into the master's tree);
 *  - node1 adopts the master's policy from the signed trust bundle; node2 refuses a tampered one;
 *  - on node1 a podman user made by podsec-create-podmanusers pulls the signed image rootless
 *    (verified by the node's /etc/containers/policy.json, the signature fetched from the master's
 *    signature server) and runs it, and is refused the unsigned image.
 * The nodes allow the @keyring system calls that nspawn's default filter denies (crun gives each
 * container its own session keyring, as on a real host). Rootless storage is podman's default
 * without a storage.conf, vfs (overlay would need fuse-overlayfs and /dev/fuse in the node: the
 * node's root is itself an overlay mount).
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BRIDGE, type Cluster, type ClusterNode, startCluster } from '../support/image-cluster.ts';
import { ensureNodeImage, NODE_TOOLS, runGated, hookError } from '../support/image-env.ts';
import { ip, lingerUser, pushUnsigned, userRun } from '../support/image-nspawn.ts';
import { buildImage, imageStore, removeTree, saveArchive } from '../support/oci-fixtures.ts';
import { stopwatch } from '../support/exec.ts';
import { runCommand } from '../support/trust-fixtures.ts';

let cluster: Cluster | undefined;
let work: string | undefined;
const times: Record<string, number> = {};

/** The images' platform prefix (U7S_PLATFORM: the Debian nodes have no ALT os-release) and the maker's path. */
const PLATFORM = 'p11';
const SIGNED = `${PLATFORM}/busybox:1`;
const UNSIGNED = `${PLATFORM}/unsigned:1`;
/** Where the OCI archives are copied in the master's tree (not /tmp: the node mounts a tmpfs there). */
const DROP = '/var/tmp/podsec-e2e';

const timed = stopwatch(times);

test.before(async () => {
  try {
    const image = await ensureNodeImage();
    // The images, made on the host: <arch>.tar.xz archives by podsec-save-oci (an OCI layout).
    work = await fs.mkdtemp('/var/tmp/podsec-multinode-');
    await timed('OCI archives made on the host', async () => {
      const store = imageStore(work!);
      await buildImage(store, SIGNED, 'signed');
      await buildImage(store, UNSIGNED, 'unsigned');
      for (const [dir, name] of [
        ['signed', SIGNED],
        ['unsigned', UNSIGNED],
      ] as const) {
        const saved = await saveArchive(store, join(work!, dir), 'amd64', [name]);
        if (saved.exitCode !== 0) throw new Error(`podsec-save-oci ${name}: ${saved.stderr}`);
      }
    });
    cluster = await timed('3 nodes booted and addressed', () => startCluster(image.path, ['master', 'node1', 'node2'], { allowSystemCalls: ['@keyring'] }));
  } catch (err) {
    hookError(err);
  }
});

test.after(async () => {
  await cluster?.close();
  if (work) removeTree(work);
});

/** A TCP echo-once server on the master, started by the master's systemd (so it is stopped with it). */
const server = (host: string) => `require('net').createServer((s) => s.end('podsec-' + require('os').hostname() + '\\n')).listen(7070, '${host}')`;
const client = (host: string) =>
  `const s = require('net').connect(7070, '${host}'); let d = ''; s.on('data', (c) => (d += c));` +
  ` s.on('end', () => { process.stdout.write(d); process.exit(0); });` +
  ` s.on('error', (e) => { console.error(String(e)); process.exit(1); }); setTimeout(() => process.exit(2), 5000);`;

test('every node reaches every other over the bridge (ICMP)', async () => {
  const nodes = cluster!.nodes;
  for (const from of nodes) {
    for (const to of nodes.filter((n) => n !== from)) {
      const r = await from.exec(['ping', '-n', '-c', '1', '-W', '3', to.address], { timeoutMs: 15_000 });
      assert.is(r.exitCode, 0, `${from.role} -> ${to.role} (${to.address}): ${r.stdout}${r.stderr}`);
    }
  }
});

test("the nodes reach a TCP service that the master's systemd runs", async () => {
  const [master, ...workers] = cluster!.nodes;
  const started = await master!.exec(['systemd-run', '--unit=podsec-probe', '--property=RuntimeMaxSec=120', '/usr/bin/node', '-e', server(master!.address)]);
  assert.is(started.exitCode, 0, started.stderr);
  let answer = '';
  for (const w of workers) {
    for (let i = 0; i < 50; i++) {
      const r = await w.exec(['/usr/bin/node', '-e', client(master!.address)], { timeoutMs: 15_000 });
      answer = r.stdout.trim();
      if (r.exitCode === 0) break;
      await new Promise((res) => setTimeout(res, 100)); // the server may still be starting
    }
    assert.match(answer, /^podsec-/, `${w.role} got ${answer}`);
  }
  await master!.exec(['systemctl', 'stop', 'podsec-probe']);
});

test('the network is private: no route out of the namespace, nothing of it on the host', async () => {
  const routes = await ip(['-n', cluster!.netns, 'route', 'show', 'default']);
  assert.is(routes.trim(), '');
  const hostAddresses = await ip(['-o', 'addr', 'show']);
  assert.not.ok(hostAddresses.includes(` ${cluster!.subnet}.`), 'the test subnet appears on the host');
  const hostLinks = await ip(['-o', 'link', 'show']);
  assert.not.ok(hostLinks.includes(BRIDGE), 'the test bridge appears on the host');
  for (const n of cluster!.nodes) {
    const r = await n.exec(['ip', '-o', 'route', 'show', 'default']);
    assert.is(r.stdout.trim(), '', `${n.role} has a default route`);
  }
  assert.ok((await fs.stat(`/run/netns/${cluster!.netns}`)).isFile());
});

/** GET from inside a node with its own Node: `<status> <bytes>` or `error ...`. */
const httpGet = (url: string) =>
  `require('http').get(${JSON.stringify(url)}, (r) => { let n = 0; r.on('data', (c) => (n += c.length));` +
  ` r.on('end', () => { console.log(r.statusCode + ' ' + n); process.exit(0); });` +
  ` }).on('error', (e) => { console.log('error ' + e.message); process.exit(1); }); setTimeout(() => process.exit(2), 10000);`;

/** GET until `status` answers (the services may still be starting); the last answer. */
async function getFrom(node: ClusterNode, url: string, status: string): Promise<string> {
  let answer = '';
  for (let i = 0; i < 50 && !answer.startsWith(`${status} `); i++) {
    answer = (await node.exec(['/usr/bin/node', '-e', httpGet(url)], { timeoutMs: 15_000 })).stdout.trim();
    if (!answer.startsWith(`${status} `)) await new Promise((r) => setTimeout(r, 100));
  }
  return answer;
}

let fingerprint = '';
const BUNDLE = '/var/sigstore/keys/podsec-trust-bundle.json';

test('master: podsec-create-policy and podsec-create-services start the registry and signature server from our units', async () => {
  const master = cluster!.nodes[0]!;
  const policy = await master.exec(['podsec-create-policy', master.address]);
  assert.is(policy.exitCode, 0, policy.stderr + policy.stdout);
  fingerprint = /--trust-fingerprint ([0-9a-f]{64}) /.exec(policy.stdout)?.[1] ?? '';
  assert.ok(fingerprint, `no fingerprint printed:\n${policy.stdout}`);
  const services = await master.exec(['podsec-create-services']);
  assert.is(services.exitCode, 0, services.stderr + services.stdout);
  const units = ['podsec-registry.service', 'podsec-sigstore.service'];
  assert.equal((await master.exec(['systemctl', 'is-active', ...units])).stdout.trim().split('\n'), ['active', 'active']);
  assert.equal((await master.exec(['systemctl', 'is-enabled', ...units])).stdout.trim().split('\n'), ['enabled', 'enabled']);
  const worker = cluster!.nodes[1]!;
  for (const url of [`http://${master.address}/v2/`, `http://${master.address}:81${BUNDLE.replace('/var/sigstore', '')}`]) {
    const answer = await getFrom(worker, url, '200');
    assert.match(answer, /^200 /, `${worker.role} GET ${url}: ${answer}`);
  }
});

let signedDigest = '';

test('master: an image maker made by podsec-create-imagemakeruser signs and pushes an image with podsec-load-sign-oci', async () => {
  assert.ok(fingerprint, 'the master step did not run');
  const master = cluster!.nodes[0]!;
  const made = await master.exec(
    ['podsec-create-imagemakeruser', '--no-password', '--gpg-generate', '--no-key-passphrase', `maker@registry.local/${PLATFORM}`],
    { timeoutMs: 180_000 },
  );
  assert.is(made.exitCode, 0, made.stderr + made.stdout);
  const makerKey = /GPG key ([0-9A-F]{40})/.exec(made.stdout)?.[1] ?? '';
  assert.ok(makerKey, `no key printed:\n${made.stdout}`);
  const policy = JSON.parse((await master.exec(['cat', '/etc/containers/policy.json'])).stdout);
  assert.equal(policy.default, [{ type: 'reject' }]);
  assert.equal(policy.transports.docker[`registry.local/${PLATFORM}`], [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/maker.pgp' }]);

  // The archives into the master's tree: the signed one as podsec-save-oci wrote it, the
  // unsigned one unpacked (a layout skopeo reads).
  const drop = join(master.root, DROP);
  await fs.mkdir(join(drop, 'unsigned'), { recursive: true });
  await fs.copyFile(join(work!, 'signed/amd64.tar.xz'), join(drop, 'amd64.tar.xz'));
  const unpacked = await runCommand('tar', ['-xJf', join(work!, 'unsigned/amd64.tar.xz'), '-C', join(drop, 'unsigned')]);
  assert.is(unpacked.exitCode, 0, unpacked.stderr);
  assert.is((await runCommand('chmod', ['-R', 'a+rX', drop])).exitCode, 0);

  await timed('maker session started', () => lingerUser(master, 'maker'));
  const loaded = await timed('load-sign-oci', () =>
    userRun(master, 'maker', ['podsec-load-sign-oci', `${DROP}/amd64.tar.xz`, 'amd64', makerKey], { env: { U7S_PLATFORM: PLATFORM } }),
  );
  assert.is(loaded.exitCode, 0, loaded.stderr + loaded.stdout);
  assert.match(loaded.stdout, new RegExp(`^Pushing and signing images: 1/1 ${SIGNED} → registry\\.local/${SIGNED}$`, 'm'));
  const signatures = join(master.root, 'var/sigstore/sigstore', PLATFORM);
  const signed = (await fs.readdir(signatures)).find((d) => /^busybox@sha256=[0-9a-f]{64}$/.test(d));
  assert.ok(signed, `no signature directory in ${signatures}`);
  assert.equal(await fs.readdir(join(signatures, signed!)), ['signature-1']);
  signedDigest = signed!.slice('busybox@'.length).replace('=', ':');

  // Unsigned, under the same path (which the policy gives to the maker's key): plain skopeo.
  const pushed = await pushUnsigned(master, 'maker', `${DROP}/unsigned/amd64`, UNSIGNED);
  assert.is(pushed.exitCode, 0, pushed.stderr);
  assert.not.ok(
    (await fs.readdir(signatures)).some((d) => d.startsWith('unsigned@')),
    'the unsigned image has a signature',
  );

  // Both are in the registry and the signature is served, as node1 sees them across the bridge.
  const node1 = cluster!.nodes[1]!;
  for (const url of [
    ...[SIGNED, UNSIGNED].map((ref) => `http://${master.address}/v2/${ref.replace(/:[^:]*$/, '')}/tags/list`),
    `http://${master.address}:81/sigstore/${PLATFORM}/${signed}/signature-1`,
  ]) {
    const answer = await getFrom(node1, url, '200');
    assert.match(answer, /^200 [1-9]/, `node1 GET ${url}: ${answer}`);
  }
});

test("node1 adopts the master's policy from the signed trust bundle", async () => {
  assert.ok(fingerprint, 'the master step did not run');
  const [master, node1] = cluster!.nodes;
  const r = await node1!.exec(['podsec-create-policy', '--trust-fingerprint', fingerprint, master!.address]);
  assert.is(r.exitCode, 0, r.stderr + r.stdout);
  const read = async (n: typeof master) => JSON.parse((await n!.exec(['cat', '/etc/containers/policy.json'])).stdout) as unknown;
  assert.equal(await read(node1), await read(master));
  // With the image maker's public key, which the policy names.
  const key = 'var/sigstore/keys/maker.pgp';
  assert.ok((await fs.readFile(join(node1!.root, key))).equals(await fs.readFile(join(master!.root, key))), `${key} differs from the master's`);
  assert.match((await node1!.exec(['getent', 'hosts', 'registry.local'])).stdout, new RegExp(`^${master!.address.replace(/\./g, '\\.')}\\s`));
});

test('node2 refuses a tampered trust bundle (exit 4) and changes nothing', async () => {
  assert.ok(fingerprint, 'the master step did not run');
  const [master, , node2] = cluster!.nodes;
  const file = join(master!.root, BUNDLE);
  const original = await fs.readFile(file, 'utf8');
  const bundle = JSON.parse(original) as { manifest: string };
  // One digit of the signed manifest changed (a checksum or serial in it): the signature must fail.
  bundle.manifest = bundle.manifest.replace(/\d/, (d) => String((Number(d) + 1) % 10));
  assert.is.not(bundle.manifest, JSON.parse(original).manifest, 'nothing to tamper with in the manifest');
  const before = (await node2!.exec(['cat', '/etc/containers/policy.json'])).stdout;
  await fs.writeFile(file, JSON.stringify(bundle));
  try {
    const r = await node2!.exec(['podsec-create-policy', '--trust-fingerprint', fingerprint, master!.address]);
    assert.is(r.exitCode, 4, r.stderr + r.stdout);
    assert.match(r.stderr, /tampered/);
    assert.is((await node2!.exec(['cat', '/etc/containers/policy.json'])).stdout, before);
  } finally {
    await fs.writeFile(file, original);
  }
});

test('node1: a podman user made by podsec-create-podmanusers pulls the signed image rootless and runs it', async () => {
  assert.ok(signedDigest, 'the maker step did not run');
  const node1 = cluster!.nodes[1]!;
  const made = await node1.exec(['podsec-create-podmanusers', '--no-password', 'poduser']);
  assert.is(made.exitCode, 0, made.stderr + made.stdout);
  // Rootless podman maps the container's users through newuidmap/newgidmap and these ranges.
  for (const file of ['/etc/subuid', '/etc/subgid']) assert.match((await node1.exec(['cat', file])).stdout, /^poduser:\d+:\d+$/m, file);
  await timed('podman user session started', () => lingerUser(node1, 'poduser'));
  const pulled = await timed('rootless signed pull', () => userRun(node1, 'poduser', ['podman', 'pull', `registry.local/${SIGNED}`]));
  assert.is(pulled.exitCode, 0, pulled.stderr + pulled.stdout);
  assert.match(pulled.stdout.trim(), /^[0-9a-f]{64}$/);
  const info = await userRun(node1, 'poduser', ['podman', 'info', '--format', '{{.Host.Security.Rootless}}']);
  assert.is(info.stdout.trim(), 'true', info.stderr);
  const digest = await userRun(node1, 'poduser', ['podman', 'image', 'inspect', '--format', '{{.Digest}}', `registry.local/${SIGNED}`]);
  assert.is(digest.stdout.trim(), signedDigest, digest.stderr);
  const ran = await timed('rootless run', () => userRun(node1, 'poduser', ['podman', 'run', '--rm', `registry.local/${SIGNED}`, 'cat', '/etc/variant']));
  assert.is(ran.exitCode, 0, ran.stderr);
  assert.is(ran.stdout.trim(), 'signed');
});

test('node1: the same user is refused the unsigned image under the same path (no signature)', async () => {
  assert.ok(signedDigest, 'the maker step did not run');
  const node1 = cluster!.nodes[1]!;
  const pulled = await userRun(node1, 'poduser', ['podman', 'pull', `registry.local/${UNSIGNED}`]);
  assert.is.not(pulled.exitCode, 0, `the unsigned image was pulled:\n${pulled.stdout}`);
  assert.match(pulled.stderr, /Source image rejected: A signature was required, but no signature exists/);
  const images = await userRun(node1, 'poduser', ['podman', 'images', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.is(images.exitCode, 0, images.stderr);
  assert.equal(images.stdout.trim().split('\n').sort(), [`registry.local/${SIGNED}`]);
});

test('timings', () => {
  console.log('  timings (ms):', times);
});

// On the host: podman, skopeo, busybox and xz make the test images (oci-fixtures.ts).
runGated(test, 'multi-node e2e', [...NODE_TOOLS, 'ip', 'podman', 'skopeo', 'busybox', 'xz', 'tar']);
