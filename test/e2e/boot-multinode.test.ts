/**
 * Three booted nodes (master, two nodes) with every package installed, on a private bridge in a
 * network namespace this test creates: addresses, reachability both ways over ICMP and TCP,
 * isolation from the host. Then podsec's trust bootstrap across the bridge: the master's
 * registry and signature server started by systemd from our units (podsec-create-policy and
 * podsec-create-services), a node adopting the master's policy from the signed trust bundle, and
 * a node refusing a tampered bundle. (A signed image pulled by a podman user on a node is the
 * next step: it needs image makers and signing inside the nodes.)
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BRIDGE, type Cluster, startCluster } from '../support/image-cluster.ts';
import { ensureNodeImage, NODE_TOOLS, runGated, hookError } from '../support/image-env.ts';
import { ip } from '../support/image-nspawn.ts';

let cluster: Cluster | undefined;
const times: Record<string, number> = {};

test.before(async () => {
  try {
    const image = await ensureNodeImage();
    const t0 = performance.now();
    cluster = await startCluster(image.path, ['master', 'node1', 'node2']);
    times['3 nodes booted and addressed'] = Math.round(performance.now() - t0);
  } catch (err) {
    hookError(err);
  }
});

test.after(async () => {
  await cluster?.close();
});

/** A TCP echo-once server on the master, started by the master's systemd (so it is stopped with it). */
const server = (host: string) => `require('net').createServer((s) => s.end('podsec-' + require('os').hostname() + '\\n')).listen(7070, '${host}')`;
const client = (host: string) =>
  `const s = require('net').connect(7070, '${host}'); let d = ''; s.on('data', (c) => (d += c)); s.on('end', () => { process.stdout.write(d); process.exit(0); }); s.on('error', (e) => { console.error(String(e)); process.exit(1); }); setTimeout(() => process.exit(2), 5000);`;

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
  `require('http').get(${JSON.stringify(url)}, (r) => { let n = 0; r.on('data', (c) => (n += c.length)); r.on('end', () => { console.log(r.statusCode + ' ' + n); process.exit(0); }); }).on('error', (e) => { console.log('error ' + e.message); process.exit(1); }); setTimeout(() => process.exit(2), 10000);`;

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
  for (const [url, status] of [[`http://${master.address}/v2/`, '200'], [`http://${master.address}:81${BUNDLE.replace('/var/sigstore', '')}`, '200']] as const) {
    let answer = '';
    for (let i = 0; i < 50 && !answer.startsWith(status); i++) {
      answer = (await worker.exec(['/usr/bin/node', '-e', httpGet(url)], { timeoutMs: 15_000 })).stdout.trim();
      if (!answer.startsWith(status)) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(answer, new RegExp(`^${status} `), `${worker.role} GET ${url}: ${answer}`);
  }
});

test("node1 adopts the master's policy from the signed trust bundle", async () => {
  assert.ok(fingerprint, 'the master step did not run');
  const [master, node1] = cluster!.nodes;
  const r = await node1!.exec(['podsec-create-policy', '--trust-fingerprint', fingerprint, master!.address]);
  assert.is(r.exitCode, 0, r.stderr + r.stdout);
  const read = async (n: typeof master) => JSON.parse((await n!.exec(['cat', '/etc/containers/policy.json'])).stdout) as unknown;
  assert.equal(await read(node1), await read(master));
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

test('timings', () => {
  console.log('  timings (ms):', times);
});

runGated(test, 'multi-node e2e', [...NODE_TOOLS, 'ip']);
