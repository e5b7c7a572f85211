// test-runner: k8s-tools — npm test builds the components of npm run k8s-tools first
/**
 * etcd snapshots (bin/u7s/lib/etcd-snapshot.ts) with the real etcd, etcdctl (k8s-tools cache) and
 * etcdutl (built alone into the same cache): an unprivileged account (nobody) runs etcd on 127.0.0.1
 * random ports and the etcd tools, root keeps the snapshots in a 0700 directory. Keys put,
 * snapshot, keys deleted, restore, etcd started on the restored data: the keys are back. And the
 * refusals: a target through a symlink or in a directory the account controls, a snapshot the
 * account swaps for a symlink while it is staged or grows past the copy's bound, a missing or
 * truncated snapshot: clear error, nothing changed (etcd keeps running on the same data).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureEtcdutl, lookupEtcdutl, lookupK8sTools } from '../../scripts/k8s-tools/build.ts';
import { restoreSnapshot, saveSnapshot, type AccountRunner, type ControlPlane, type EtcdClient, type EtcdMember } from '../../bin/u7s/lib/etcd-snapshot.ts';
import { capture } from '../../bin/lib/proc.ts';
import { asRoot, gated, inCI, withTools } from '../support/tools.ts';
import { freePort } from '../support/trust-fixtures.ts';

const tools = await lookupK8sTools();
const etcdutl = tools ? ((await lookupEtcdutl()) ?? (inCI() ? await ensureEtcdutl() : undefined))?.path : undefined;
const test = !tools
  ? gated(base, 'the k8s-tools cache is not built (npm run k8s-tools)')
  : !etcdutl
    ? gated(base, 'etcdutl is not built (npm run k8s-tools)')
    : asRoot(withTools(base, ['setpriv']));

const NOBODY = 65534;
// Under /var/lib (root's, 0755): safe-fs refuses a path through the sticky, world-writable /tmp.
const work = mkdtempSync('/var/lib/podsec-etcd-snapshot-test-');
chmodSync(work, 0o755);
const account = join(work, 'account');
const snapshots = join(work, 'snapshots');
const dataDir = join(account, 'etcd');
const started: ChildProcess[] = [];
let etcd: ChildProcess | undefined;
let client: EtcdClient;
let member: EtcdMember;
let clientPort = 0;
let peerPort = 0;

const run: AccountRunner = (argv, timeoutMs = 120_000) =>
  capture('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', ...argv], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: account },
    cwd: work,
    timeoutMs,
  });
const staging = { parent: account, uid: NOBODY, gid: NOBODY };

async function startEtcd(): Promise<void> {
  const child = spawn(
    'setpriv',
    [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      '--clear-groups',
      '--',
      tools!.bin('etcd'),
      `--data-dir=${dataDir}`,
      `--name=${member.name}`,
      `--listen-client-urls=http://127.0.0.1:${clientPort}`,
      `--advertise-client-urls=http://127.0.0.1:${clientPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=${member.peerUrls}`,
      `--initial-cluster=${member.initialCluster}`,
    ],
    { stdio: ['ignore', 'ignore', 'ignore'], cwd: work },
  );
  started.push(child);
  etcd = child;
  for (let i = 0; i < 60; i++) {
    if ((await etcdctl(['endpoint', 'health'])).code === 0) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('etcd did not become healthy in 30 s');
}

async function stopEtcd(): Promise<void> {
  const child = etcd;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  etcd = undefined;
}

/** The promise `f` returns is rejected with a message matching `pattern`. */
async function rejects(f: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  let error: unknown;
  try {
    await f();
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof Error, `rejected (expected ${pattern})`);
  assert.match((error as Error).message, pattern);
}

const etcdctl = (args: string[]) => run([client.etcdctl, `--endpoints=${client.endpoint}`, ...args], 30_000);
const value = async (key: string) => (await etcdctl(['get', key, '--print-value-only'])).stdout.trim();

/** Stops count what restore did to the control plane. */
const controlPlane = () => {
  const calls: string[] = [];
  const plane: ControlPlane = {
    stop: async () => {
      calls.push('stop');
      await stopEtcd();
    },
    start: async () => {
      calls.push('start');
      await startEtcd();
    },
  };
  return { plane, calls };
};

base.before(async () => {
  if (!tools || !etcdutl || process.getuid?.() !== 0) return;
  clientPort = await freePort();
  peerPort = await freePort();
  client = { etcdctl: tools.bin('etcdctl'), etcdutl, endpoint: `http://127.0.0.1:${clientPort}` };
  member = { dataDir, name: 'n1', peerUrls: `http://127.0.0.1:${peerPort}`, initialCluster: `n1=http://127.0.0.1:${peerPort}` };
  mkdirSync(account, { mode: 0o700 });
  chownSync(account, NOBODY, NOBODY);
  mkdirSync(snapshots, { mode: 0o700 });
  await startEtcd();
});

base.after(async () => {
  await stopEtcd();
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

test('keys put, snapshot into a 0700 root directory, keys deleted, restore: the keys are back and etcd is healthy', async () => {
  for (const i of [1, 2, 3]) assert.is((await etcdctl(['put', `/podsec/key${i}`, `value${i}`])).code, 0);
  const target = join(snapshots, 'one.db');
  const size = await saveSnapshot({ run, client, staging, target });
  const st = statSync(target);
  assert.ok(size > 0 && st.size === size, 'the whole snapshot is copied');
  assert.is(st.uid, 0, 'the snapshot is root-owned');
  assert.is(st.mode & 0o777, 0o600, 'the snapshot is 0600');
  assert.equal(
    readdirSync(account).filter((n) => n.startsWith('.etcd-snapshot-')),
    [],
    'the staging directory is removed',
  );
  assert.equal(readdirSync(snapshots), ['one.db'], 'no temp file left in the snapshot directory');

  assert.is((await etcdctl(['del', '--prefix', '/podsec/'])).code, 0);
  assert.is(await value('/podsec/key1'), '', 'deleted');
  assert.is((await etcdctl(['put', '/podsec/after', 'x'])).code, 0);

  const { plane, calls } = controlPlane();
  const result = await restoreSnapshot({ run, client, staging, member, controlPlane: plane, snapshot: target });
  assert.equal(calls, ['stop', 'start']);
  for (const i of [1, 2, 3]) assert.is(await value(`/podsec/key${i}`), `value${i}`, `key${i} is back`);
  assert.is(await value('/podsec/after'), '', 'a key put after the snapshot is gone');
  assert.is((await etcdctl(['endpoint', 'health'])).code, 0, 'etcd is healthy on the restored data');
  assert.ok(existsSync(join(result.previous, 'snap')), 'the replaced member directory is kept');
  assert.is(statSync(join(dataDir, 'member')).uid, NOBODY, "the restored data is the account's");
  assert.equal(
    readdirSync(dataDir).filter((n) => n.startsWith('restore-')),
    [],
    'the restore directory is moved in and removed',
  );
});

test('save refuses a target that is a symlink, or in a directory the account controls, or in a directory others can read; nothing is written', async () => {
  const victim = join(work, 'victim');
  writeFileSync(victim, 'precious\n');
  // A symlink at the target name in the root-only directory.
  symlinkSync(victim, join(snapshots, 'link.db'));
  await rejects(() => saveSnapshot({ run, client, staging, target: join(snapshots, 'link.db') }), /exists; a snapshot never replaces a file/);
  assert.is(readFileSync(victim, 'utf8'), 'precious\n');
  assert.ok(lstatSync(join(snapshots, 'link.db')).isSymbolicLink(), 'the link is left alone');
  // The account's own directory, with a symlink the account planted.
  symlinkSync(victim, join(account, 'planted.db'));
  await rejects(() => saveSnapshot({ run, client, staging, target: join(account, 'planted.db') }), /refusing to use .*owned by uid 65534/);
  // A directory component that is a symlink the account planted.
  const linked = join(account, 'dirlink');
  symlinkSync(snapshots, linked);
  await rejects(() => saveSnapshot({ run, client, staging, target: join(linked, 'x.db') }), /refusing to use/);
  // Root's, but readable by others.
  const open = join(work, 'open');
  mkdirSync(open, { mode: 0o755 });
  chmodSync(open, 0o755);
  await rejects(() => saveSnapshot({ run, client, staging, target: join(open, 'x.db') }), /owned by root with mode 0700/);
  assert.equal(readdirSync(open), []);
  assert.is(readFileSync(victim, 'utf8'), 'precious\n');
});

test('a snapshot the account swaps for a symlink while it is staged is refused; nothing is written', async () => {
  const victim = join(work, 'secret');
  writeFileSync(victim, 'root only\n', { mode: 0o600 });
  // The account's etcdctl writes a symlink to a root-only file instead of the snapshot.
  const evil: AccountRunner = async (argv, timeoutMs) => {
    const r = await run(argv, timeoutMs);
    if (argv[0] === client.etcdctl && argv.includes('save')) {
      const file = argv.at(-1)!;
      await run(['rm', '-f', file]);
      await run(['ln', '-s', victim, file]);
    }
    if (argv[0] === client.etcdutl) return { stdout: '{}', stderr: '', code: 0 };
    return r;
  };
  await rejects(() => saveSnapshot({ run: evil, client, staging, target: join(snapshots, 'swapped.db') }), /symlink/);
  assert.not.ok(existsSync(join(snapshots, 'swapped.db')));
  assert.equal(
    readdirSync(snapshots).filter((n) => n.startsWith('.')),
    [],
  );
});

test('a staged snapshot the account grows past the bound is refused; nothing is published', async () => {
  const bound = 32 << 20;
  // The account's etcdctl writes a real snapshot, then the account grows it past the bound (sparse: no disk used).
  const growing: AccountRunner = async (argv, timeoutMs) => {
    const r = await run(argv, timeoutMs);
    if (argv[0] === client.etcdutl && argv.includes('status')) await run(['truncate', '-s', String(2 * bound), argv[argv.indexOf('status') + 1]!]);
    return r;
  };
  const target = join(snapshots, 'grown.db');
  await rejects(() => saveSnapshot({ run: growing, client, staging, target, maxBytes: bound }), /refusing to use .*snapshot\.db: larger than 33554432 bytes/);
  assert.not.ok(existsSync(target), 'nothing published');
  assert.equal(
    readdirSync(snapshots).filter((n) => n.startsWith('.')),
    [],
    'no temp file left',
  );
  assert.equal(
    readdirSync(account).filter((n) => n.startsWith('.etcd-snapshot-')),
    [],
    'the staging directory is removed',
  );
  // The same snapshot within the bound is taken.
  const size = await saveSnapshot({ run, client, staging, target, maxBytes: bound });
  assert.ok(size > 0 && size <= bound && statSync(target).size === size);
});

test('restore of a missing or truncated snapshot: a clear error, the control plane untouched, the data unchanged', async () => {
  assert.is((await etcdctl(['put', '/podsec/live', 'still'])).code, 0);
  const memberBefore = statSync(join(dataDir, 'member')).ino;
  const { plane, calls } = controlPlane();
  await rejects(
    () => restoreSnapshot({ run, client, staging, member, controlPlane: plane, snapshot: join(snapshots, 'missing.db') }),
    /missing\.db: no such file/,
  );
  const good = readFileSync(join(snapshots, 'one.db'));
  writeFileSync(join(snapshots, 'truncated.db'), good.subarray(0, good.length >> 1), { mode: 0o600 });
  await rejects(
    () => restoreSnapshot({ run, client, staging, member, controlPlane: plane, snapshot: join(snapshots, 'truncated.db') }),
    /etcdutl snapshot restore failed, nothing was changed/,
  );
  // A snapshot outside a root-only directory is refused before anything runs.
  writeFileSync(join(account, 'theirs.db'), good);
  await rejects(() => restoreSnapshot({ run, client, staging, member, controlPlane: plane, snapshot: join(account, 'theirs.db') }), /refusing to use/);
  assert.equal(calls, [], 'the control plane was never stopped');
  assert.is(statSync(join(dataDir, 'member')).ino, memberBefore, 'the member directory is the same');
  assert.equal(
    readdirSync(dataDir).filter((n) => n.startsWith('restore-')),
    [],
  );
  assert.is(await value('/podsec/live'), 'still', 'etcd still runs on its data');
});

test('a multi-member etcd is not restored', async () => {
  const { plane, calls } = controlPlane();
  const multi = { ...member, initialCluster: `n1=${member.peerUrls},n2=http://127.0.0.2:2380` };
  await rejects(() => restoreSnapshot({ run, client, staging, member: multi, controlPlane: plane, snapshot: join(snapshots, 'one.db') }), /etcd members: 2 /);
  assert.equal(calls, []);
});

test.run();
