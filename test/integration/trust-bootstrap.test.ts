/**
 * The master and node flows of podsec-create-policy and podsec-create-services with the real
 * services, in two network namespaces (netns.ts): the master has its own non-loopback address, so
 * the programs detect their role from the interfaces as on a real host. The services are started
 * from the shipped units' ExecStartPre/ExecStart lines with the master's --root tree mounted at the
 * real paths (root-view.mjs); a node in the second namespace bootstraps from them over the veth link.
 *
 * Proves: the master's tree and services (JSON autoindex, registry /v2/), the node bootstrap with a
 * pinned fingerprint or checksum, convergence, a new image maker reaching the node without a new
 * pin, and refusal — with the node's tree byte-identical — of a tampered policy, a tampered key, a
 * bundle re-signed by another key, a wrong pin, a replayed older bundle; create-services refuses on
 * the node.
 */
import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import YAML from 'yaml';
import * as assert from 'uvu/assert';
import { installManaged } from '../../bin/lib/config-history.ts';
import { envelopeText } from '../../bin/trust/bundle/publish.ts';
import { manifestText, type Manifest } from '../../bin/trust/bundle/format.ts';
import { NGINX_CONF, REGISTRY_CONF } from '../../bin/trust/services/service-configs.ts';
import { renderContent } from '../../scripts/render.ts';
import { createNetnsPair, type NetnsPair } from '../support/netns.ts';
import { withTools } from '../support/tools.ts';
import { httpGet, makeTree, PODMAN_GID, runProgram, startUnit, treeDiff, treeHashes, waitForHttp, type Service } from '../support/trust-fixtures.ts';

const it = withTools(test, ['ip', 'unshare', 'mount', 'nginx', 'docker-registry']);

let pair: NetnsPair;
let master: string;
let scratch: string;
const services: Service[] = [];
const roots: string[] = [];
let fingerprint = '';
let checksum = '';

const KEYS = 'var/sigstore/keys';
const tree = (label: string) => {
  const root = makeTree(label);
  roots.push(root);
  return root;
};
const keysUrl = () => `http://${pair.master.address}:81/keys/`;

async function createPolicy(root: string, args: string[], ns = pair.node) {
  return runProgram('podsec-create-policy', ['--root', root, ...args], { netns: ns, timeoutMs: 60_000 });
}

/** Runs the node bootstrap expecting a refusal: exit code, message, and the node's tree unchanged. */
async function nodeRefuses(root: string, args: string[], exitCode: number, message: RegExp) {
  const before = treeHashes(root);
  const ran = await createPolicy(root, [...args, pair.master.address]);
  assert.is(ran.exitCode, exitCode, ran.stdout + ran.stderr);
  assert.is(ran.stderr.trimEnd().split('\n').length, 1, ran.stderr);
  assert.match(ran.stderr, message);
  assert.equal(treeDiff(before, treeHashes(root)), [], 'the node changed');
}

/** Replaces a file in the master's published keys as an attacker with write access to the server would. */
function tamper(name: string, content: string | Buffer): () => void {
  const path = join(master, KEYS, name);
  const original = readFileSync(path);
  writeFileSync(path, content);
  return () => writeFileSync(path, original);
}

it.before(async () => {
  pair = createNetnsPair();
  master = tree('master');
  scratch = mkdtempSync(join(tmpdir(), 'podsec-view-'));
  chmodSync(scratch, 0o755);

  const policy = await createPolicy(master, [pair.master.address], pair.master);
  assert.is(policy.exitCode, 0, policy.stderr);
  fingerprint = /--trust-fingerprint ([0-9a-f]{64}) /.exec(policy.stdout)![1]!;
  checksum = /Bundle checksum .*: ([0-9a-f]{64})/.exec(policy.stdout)![1]!;

  const created = await runProgram('podsec-create-services', ['--root', master], { netns: pair.master, timeoutMs: 60_000 });
  assert.is(created.exitCode, 0, created.stderr + created.stdout);

  const context = { branch: 'p11' as const, version: '2.0.0', release: 'alt1' };
  for (const [name, binds] of [
    ['podsec-sigstore.service', ['/etc/podsec', '/var/sigstore']],
    ['podsec-registry.service', ['/etc/podsec', '/var/lib/containers/storage/volumes/registry/_data']],
  ] as const) {
    const unit = await renderContent({ ejs: `units/${name}.ejs` }, context);
    services.push(await startUnit(unit, { name, root: master, binds: [...binds], scratch: join(scratch, name), netns: pair.master }));
  }
  await waitForHttp(keysUrl(), { netns: pair.node, service: services[0] });
  await waitForHttp(`http://${pair.master.address}:80/v2/`, { netns: pair.node, service: services[1] });
});

it.after(async () => {
  for (const service of services) await service.stop();
  pair?.remove();
  for (const root of roots) rmSync(root, { recursive: true, force: true });
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

it("master: role detected from the namespace's address; configs for the master's address only", () => {
  assert.ok(readlinkSync(join(master, 'etc/containers/policy.json')).startsWith('policy_'));
  assert.match(
    readFileSync(join(master, 'etc/hosts'), 'utf8'),
    new RegExp(`^${pair.master.address.replace(/\./g, '\\.')} registry\\.local sigstore\\.local trivy\\.local$`, 'm'),
  );
  assert.match(readFileSync(join(master, NGINX_CONF), 'utf8'), new RegExp(`listen ${pair.master.address}:81;`));
  assert.match(readFileSync(join(master, REGISTRY_CONF), 'utf8'), new RegExp(`addr: ${pair.master.address}:80\\n`));
  assert.match(readFileSync(join(master, REGISTRY_CONF), 'utf8'), /rootdirectory: \/var\/lib\/containers\/storage\/volumes\/registry\/_data/);
});

it('services: the signature server lists /keys/ as JSON and the registry answers, seen from the node', async () => {
  const listing = await httpGet(keysUrl(), { netns: pair.node, host: 'sigstore.local:81' });
  assert.is(listing.status, 200);
  const entries = JSON.parse(listing.body.toString('utf8')) as { name: string; type: string; mtime: string; size: number }[];
  assert.equal(entries.map((e) => e.name).sort(), ['podsec-trust-bundle.json', 'policy.json']);
  for (const entry of entries) assert.equal(Object.keys(entry).sort(), ['mtime', 'name', 'size', 'type']);
  const page = await httpGet(`http://${pair.master.address}:81/`, { netns: pair.node });
  assert.match(page.body.toString('utf8'), /SigStore works!/);
  const v2 = await httpGet(`http://${pair.master.address}:80/v2/`, { netns: pair.node });
  assert.is(v2.status, 200);
  const put = await runProgram('podsec-create-services', ['--root', master, '--dry-run'], { netns: pair.master });
  assert.is(put.exitCode, 0, put.stderr);
  assert.match(put.stdout, /^Nothing to change/, 'create-services converges');
});

let node: string;

it('node: a wrong fingerprint is refused and nothing on the node changes', async () => {
  node = tree('node');
  await nodeRefuses(node, ['--trust-fingerprint', 'f'.repeat(64)], 4, /signed by the key .*, not by the pinned trust key ffff/);
});

it('node: bootstrap with the fingerprint the master printed', async () => {
  const ran = await createPolicy(node, ['--trust-fingerprint', fingerprint, pair.master.address]);
  assert.is(ran.exitCode, 0, ran.stderr);
  assert.match(ran.stdout, /The trust bundle of .* \(serial \d+\) is verified/);
  const served = readFileSync(join(master, KEYS, 'policy.json'));
  assert.ok(readFileSync(join(node, 'etc/containers/policy.json')).equals(served), "the node's policy is the served policy, byte for byte");
  assert.ok(readlinkSync(join(node, 'etc/containers/policy.json')).startsWith('policy_'));
  const keysDir = await import('node:fs').then((fs) => fs.statSync(join(node, KEYS)));
  assert.is(keysDir.gid, PODMAN_GID);
  assert.is(keysDir.mode & 0o7777, 0o755);
  assert.equal(readdirSync(join(node, 'var/sigstore')), ['keys'], 'no signatures directory or index.html on a node');
  assert.match(readFileSync(join(node, 'etc/hosts'), 'utf8'), new RegExp(`^${pair.master.address.replace(/\./g, '\\.')} registry\\.local`, 'm'));
  assert.equal(JSON.parse(readFileSync(join(node, 'var/lib/podsec/trust/node.json'), 'utf8')).pin, { kind: 'fingerprint', value: fingerprint });
});

it('node: re-running without the pin uses the stored one and converges', async () => {
  const before = treeHashes(node);
  const ran = await createPolicy(node, [pair.master.address]);
  assert.is(ran.exitCode, 0, ran.stderr);
  assert.match(ran.stdout, /^Nothing to change/);
  assert.equal(treeDiff(before, treeHashes(node)), []);
});

let oldBundle: Buffer;
let oldPolicy: Buffer;

/** Runs `check` while the server publishes the bundle and policy from before the maker was added (a replay). */
async function servingOldBundle(check: () => Promise<void>) {
  const restoreBundle = tamper('podsec-trust-bundle.json', oldBundle);
  const restorePolicy = tamper('policy.json', oldPolicy);
  try {
    await check();
  } finally {
    restoreBundle();
    restorePolicy();
  }
}

it('master adds an image maker: the node picks up the new key and scope without a new pin', async () => {
  oldBundle = readFileSync(join(master, KEYS, 'podsec-trust-bundle.json'));
  oldPolicy = readFileSync(join(master, KEYS, 'policy.json'));
  // What podsec-create-imagemakeruser does: install the key as root, add the scope, re-publish.
  writeFileSync(join(master, KEYS, 'alice.pgp'), '-----BEGIN PGP PUBLIC KEY BLOCK-----\nalice\n-----END PGP PUBLIC KEY BLOCK-----\n', { mode: 0o644 });
  const policy = JSON.parse(readFileSync(join(master, 'etc/containers/policy.json'), 'utf8'));
  policy.transports.docker['registry.local'] = [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/alice.pgp' }];
  // And a sigstore maker: its signatures are registry attachments, which the node must be told to read.
  writeFileSync(join(master, KEYS, 'bob.pub'), '-----BEGIN PUBLIC KEY-----\nbob\n-----END PUBLIC KEY-----\n', { mode: 0o644 });
  policy.transports.docker['registry.local/p11/sig'] = [{ type: 'sigstoreSigned', keyPath: '/var/sigstore/keys/bob.pub' }];
  installManaged(join(master, 'etc/containers/policy.json'), JSON.stringify(policy, null, 2) + '\n', {
    root: master,
    prefix: 'policy_',
    timestamp: new Date(Date.now() + 1000),
    mode: 0o644,
  });
  const republished = await createPolicy(master, [pair.master.address], pair.master);
  assert.is(republished.exitCode, 0, republished.stderr);
  assert.match(republished.stdout, /sign and publish the trust bundle/);

  const ran = await createPolicy(node, [pair.master.address]);
  assert.is(ran.exitCode, 0, ran.stderr);
  assert.ok(readFileSync(join(node, KEYS, 'alice.pgp')).equals(readFileSync(join(master, KEYS, 'alice.pgp'))));
  assert.equal(JSON.parse(readFileSync(join(node, 'etc/containers/policy.json'), 'utf8')), policy);
  assert.ok(readFileSync(join(node, KEYS, 'bob.pub')).equals(readFileSync(join(master, KEYS, 'bob.pub'))));
  const attachments = YAML.parse(readFileSync(join(node, 'etc/containers/registries.d/podsec-sigstore.yaml'), 'utf8'));
  assert.equal(attachments, { docker: { 'registry.local/p11/sig': { 'use-sigstore-attachments': true } } });
});

it('node: a tampered policy.json on the server is refused', async () => {
  const restore = tamper('policy.json', JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  try {
    await nodeRefuses(node, [], 4, /policy\.json does not match the signed bundle/);
  } finally {
    restore();
  }
});

it('node: a tampered public key on the server is refused', async () => {
  const restore = tamper('alice.pgp', '-----BEGIN PGP PUBLIC KEY BLOCK-----\nmallory\n-----END PGP PUBLIC KEY BLOCK-----\n');
  try {
    await nodeRefuses(node, [], 4, /alice\.pgp does not match the signed bundle/);
  } finally {
    restore();
  }
});

it('node: a bundle re-signed by another key (with a matching policy) is refused', async () => {
  const evilPolicy = JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }) + '\n';
  const manifest: Manifest = {
    format: 'podsec-trust-manifest',
    version: 1,
    serial: 9_999_999_999,
    created: new Date().toISOString(),
    files: [{ name: 'policy.json', size: Buffer.byteLength(evilPolicy), sha256: createHash('sha256').update(evilPolicy).digest('hex') }],
  };
  const restoreBundle = tamper('podsec-trust-bundle.json', envelopeText(manifestText(manifest), generateKeyPairSync('ed25519').privateKey));
  const restorePolicy = tamper('policy.json', evilPolicy);
  try {
    await nodeRefuses(node, [], 4, /not by the pinned trust key/);
  } finally {
    restoreBundle();
    restorePolicy();
  }
});

it('node: a replayed older bundle (before the maker was added) is refused', async () => {
  await servingOldBundle(() => nodeRefuses(node, [], 4, /older than the one this node accepted .*replayed/));
});

it('node: re-pinned by checksum, an older bundle is still refused (the serial never goes back, whatever the pin)', async () => {
  // `checksum` is exactly the old bundle's: the pin matches, the serial does not.
  await servingOldBundle(() => nodeRefuses(node, ['--trust-sha256', checksum], 4, /older than the one this node accepted .*replayed/));
});

it('node: a new node refuses a bundle signed longer ago than --max-bundle-age, and takes it when told to', async () => {
  const masterKey = createPrivateKey(readFileSync(join(master, 'var/lib/podsec/trust/master-key.pem')));
  const current = JSON.parse(JSON.parse(readFileSync(join(master, KEYS, 'podsec-trust-bundle.json'), 'utf8')).manifest) as Manifest;
  const old: Manifest = { ...current, created: new Date(Date.now() - 60 * 24 * 60 * 60 * 1000).toISOString() };
  const restore = tamper('podsec-trust-bundle.json', envelopeText(manifestText(old), masterKey));
  try {
    const fresh = tree('node-new');
    await nodeRefuses(fresh, ['--trust-fingerprint', fingerprint], 4, /created .*, more than 30 days ago \(--max-bundle-age\)/);
    await nodeRefuses(fresh, ['--trust-fingerprint', fingerprint, '--max-bundle-age', '45'], 4, /more than 45 days ago/);
    const before = treeHashes(fresh);
    const ran = await createPolicy(fresh, ['--dry-run', '--trust-fingerprint', fingerprint, '--max-bundle-age', '90', pair.master.address]);
    assert.is(ran.exitCode, 0, ran.stderr);
    assert.match(ran.stdout, /remember the accepted trust bundle/);
    assert.equal(treeDiff(before, treeHashes(fresh)), []);
  } finally {
    restore();
  }
});

let stale: string;

it('node: --trust-sha256 accepts exactly the printed bundle, and refuses any other', async () => {
  stale = tree('node-sha');
  // `checksum` was printed before the maker was added: the current bundle is another one.
  await nodeRefuses(stale, ['--trust-sha256', checksum], 4, /the manifest has SHA-256 [0-9a-f]{64}, not the pinned/);
  const current = JSON.parse(readFileSync(join(master, KEYS, 'podsec-trust-bundle.json'), 'utf8'));
  const sum = createHash('sha256').update(current.manifest).digest('hex');
  const ran = await createPolicy(stale, ['--trust-sha256', sum, pair.master.address]);
  assert.is(ran.exitCode, 0, ran.stderr);
  assert.ok(readFileSync(join(stale, 'etc/containers/policy.json')).equals(readFileSync(join(master, KEYS, 'policy.json'))));
});

it('node: re-pinned by fingerprint after a checksum pin, an older bundle is refused', async () => {
  await servingOldBundle(() => nodeRefuses(stale, ['--trust-fingerprint', fingerprint], 4, /older than the one this node accepted .*replayed/));
});

it('node: create-services refuses on a node and changes nothing', async () => {
  const before = treeHashes(node);
  const ran = await runProgram('podsec-create-services', ['--root', node], { netns: pair.node });
  assert.is(ran.exitCode, 1, ran.stdout + ran.stderr);
  assert.match(ran.stderr, /bound in \/etc\/hosts to the remote server .*Services cannot be started\./);
  assert.equal(treeDiff(before, treeHashes(node)), []);
});

it.run();
