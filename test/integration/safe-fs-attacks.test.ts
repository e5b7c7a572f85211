/**
 * Attacks an unprivileged user can mount against root writing configs in places they reach
 * (research/podsec-base.md §16.2: upstream clobbered /etc/shadow through a planted
 * ~/.config/containers/policy.json symlink). Needs root and useradd: a real test user plants the
 * traps, and root-owned files stand in for /etc/shadow.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { installManaged } from '../../bin/lib/config-history.ts';
import { atomicWrite, openTrustedDir, readRegularFile, safeMkdir, UnsafePathError } from '../../bin/lib/safe-fs.ts';
import { asRoot, missingTools, withTools } from '../support/tools.ts';

const SAFE_FS = fileURLToPath(new URL('../../bin/lib/safe-fs.ts', import.meta.url));
const unsafe = (e: unknown) => e instanceof UnsafePathError;
const hash = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

const it = asRoot(withTools(test, ['useradd', 'userdel', 'mkfifo']));
const missing = [...(process.geteuid?.() === 0 ? [] : ['root']), ...missingTools(['useradd', 'userdel', 'mkfifo'])];

const user = `psfs${randomBytes(3).toString('hex')}`;
let uid = -1;
let gid = -1;
let root = '';
let home = '';
let shadow = '';
let shadowHash = '';

/** Runs a command as the test user, the way the attacker would. */
const asUser = (command: string, ...args: string[]) => execFileSync(command, args, { uid, gid, stdio: 'pipe' });

function useradd(): void {
  // Another test may hold the passwd lock for a moment: retry briefly.
  for (let attempt = 0; ; attempt++) {
    const result = spawnSync('useradd', ['-M', '-U', '-d', '/nonexistent', '-s', '/usr/sbin/nologin', user], { encoding: 'utf8' });
    if (result.status === 0) return;
    if (attempt === 10) throw new Error(`useradd ${user}: ${result.stderr}`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
  }
}

test.before(() => {
  if (missing.length) return;
  useradd();
  uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
  gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }));
});
test.after(() => {
  if (uid >= 0) spawnSync('userdel', [user]);
});

test.before.each(() => {
  if (missing.length) return;
  root = mkdtempSync('/tmp/podsec-attack-');
  chmodSync(root, 0o755);
  mkdirSync(join(root, 'etc/containers'), { recursive: true, mode: 0o755 });
  shadow = join(root, 'etc/shadow');
  writeFileSync(shadow, 'root:$6$secret:19000:0:99999:7:::\n', { mode: 0o640 });
  shadowHash = hash(shadow);
  home = join(root, 'home', user);
  mkdirSync(join(home, '.config/containers'), { recursive: true, mode: 0o755 });
  for (const dir of [home, join(home, '.config'), join(home, '.config/containers')]) chownSync(dir, uid, gid);
});
test.after.each(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

const userPolicy = () => join(home, '.config/containers/policy.json');
const asUserOptions = () => ({ mode: 0o644, uid, gid, root, trustedOwner: uid });
const untouched = () => {
  assert.is(hash(shadow), shadowHash, 'the root-owned file was modified');
  assert.is(statSync(shadow).nlink, 1);
};

it('(1) a symlink planted at ~/.config/containers/policy.json is refused, its target untouched', () => {
  asUser('ln', '-s', shadow, userPolicy());
  assert.throws(() => atomicWrite(userPolicy(), '{"default":[]}', asUserOptions()), unsafe);
  assert.throws(() => installManaged(userPolicy(), '{"default":[]}', { ...asUserOptions(), prefix: 'policy_', timestamp: new Date() }), unsafe);
  untouched();
  assert.is(readlinkSync(userPolicy()), shadow, 'refused, so the user’s link is left as it was');
  // Without the trap the same write goes through, owned by the user.
  asUser('rm', userPolicy());
  atomicWrite(userPolicy(), '{"default":[]}', asUserOptions());
  assert.is(statSync(userPolicy()).uid, uid);
});

it('(1b) a planted chain posing as history (policy.json -> policy_<ts> -> shadow) is never read or written through', () => {
  const fake = 'policy_2020-01-01_00:00:00';
  asUser('ln', '-s', shadow, join(home, '.config/containers', fake));
  asUser('ln', '-s', fake, userPolicy());
  const result = installManaged(userPolicy(), 'new', { ...asUserOptions(), prefix: 'policy_', timestamp: new Date() });
  untouched();
  assert.ok(result.changed);
  assert.is(readlinkSync(userPolicy()), result.target);
  assert.is(readFileSync(userPolicy(), 'utf8'), 'new');
});

it('(2) a symlinked directory component (~/.config -> an /etc-like dir) is refused', () => {
  asUser('mv', join(home, '.config'), join(home, '.config-old'));
  asUser('ln', '-s', join(root, 'etc'), join(home, '.config'));
  const options = asUserOptions();
  const isSymlinkError = (e: unknown) => unsafe(e) && (e as Error).message.includes(join(home, '.config')) && /symlink/.test((e as Error).message);
  assert.throws(() => atomicWrite(userPolicy(), 'x', options), isSymlinkError);
  assert.throws(() => safeMkdir(join(home, '.config/containers/registries.d'), { mode: 0o755, uid, gid, root }), isSymlinkError);
  assert.throws(() => installManaged(userPolicy(), 'x', { ...options, prefix: 'policy_', timestamp: new Date() }), isSymlinkError);
  assert.not.ok(existsSync(join(root, 'etc/containers/policy.json')));
  assert.not.ok(existsSync(join(root, 'etc/containers/registries.d')));
});

it('(2b) swapping a directory for a symlink after the check does not redirect the write', () => {
  const dir = openTrustedDir(join(home, '.config/containers'), { root, trustedOwner: uid });
  try {
    asUser('mv', join(home, '.config'), join(home, '.config-old'));
    asUser('ln', '-s', join(root, 'etc'), join(home, '.config'));
    dir.writeFile('policy.json', 'x', { mode: 0o644, uid, gid });
  } finally {
    dir.close();
  }
  assert.not.ok(existsSync(join(root, 'etc/containers/policy.json')));
  assert.is(readFileSync(join(home, '.config-old/containers/policy.json'), 'utf8'), 'x');
});

it('(3) a hard link planted at the target is replaced; the linked root-owned file is not modified', () => {
  // The user can't make this link where fs.protected_hardlinks=1; root stands in for a host without it.
  linkSync(shadow, userPolicy());
  atomicWrite(userPolicy(), '{"default":[]}', asUserOptions());
  untouched();
  assert.is.not(statSync(userPolicy()).ino, statSync(shadow).ino);
  assert.is(readFileSync(userPolicy(), 'utf8'), '{"default":[]}');
  linkSync(shadow, join(root, 'etc/containers/policy.json'));
  atomicWrite(join(root, 'etc/containers/policy.json'), 'system', { mode: 0o644, root });
  untouched();
});

it('(4) a group- or world-writable parent owned by another user is refused; nothing is created', () => {
  const drop = join(root, 'srv/drop');
  mkdirSync(drop, { recursive: true });
  chownSync(drop, uid, gid);
  chmodSync(drop, 0o777);
  const target = join(drop, 'x.conf');
  assert.throws(
    () => atomicWrite(target, 'x', { mode: 0o644, root }),
    (e: unknown) => unsafe(e) && /owned by uid/.test((e as Error).message),
  );
  assert.throws(
    () => atomicWrite(target, 'x', { mode: 0o644, root, trustedOwner: uid }),
    (e: unknown) => unsafe(e) && /writable by group or others/.test((e as Error).message),
  );
  chmodSync(drop, 0o775);
  assert.throws(() => atomicWrite(target, 'x', { mode: 0o644, root, trustedOwner: uid }), unsafe);
  chownSync(drop, 0, 0);
  chmodSync(drop, 0o1777);
  assert.throws(() => atomicWrite(target, 'x', { mode: 0o644, root }), unsafe);
  assert.not.ok(existsSync(target));
  chmodSync(drop, 0o755);
  chownSync(drop, uid, gid);
  assert.throws(() => atomicWrite(target, 'x', { mode: 0o644, root }), unsafe, 'a user-owned directory is trusted only when asked');
});

it('(5) readRegularFile refuses a FIFO without hanging, and a symlink, and devices', () => {
  const fifo = join(home, 'fifo');
  asUser('mkfifo', fifo);
  // In a child process with a timeout: a blocking open would hang this process beyond any timer.
  const script = `import { readRegularFile } from ${JSON.stringify(SAFE_FS)};
try { readRegularFile(${JSON.stringify(fifo)}, { maxBytes: 1024 }); console.log('read'); }
catch (e) { console.log(e.constructor.name + ': ' + e.message); }`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.is(child.error, undefined, 'the child timed out: opening the FIFO blocked');
  assert.match(child.stdout, /^UnsafePathError: .*not a regular file/);
  asUser('ln', '-s', shadow, join(home, 'link'));
  assert.throws(() => readRegularFile(join(home, 'link'), { maxBytes: 1024 }), unsafe);
  assert.throws(() => readRegularFile('/dev/zero', { maxBytes: 1024 }), unsafe);
  assert.throws(() => readRegularFile('/dev/null', { maxBytes: 1024 }), unsafe);
});

it('safeMkdir builds ~/.config/containers/registries.d owned by the user', () => {
  rmSync(join(home, '.config'), { recursive: true });
  safeMkdir(join(home, '.config/containers/registries.d'), { mode: 0o700, uid, gid, root });
  for (const dir of ['.config', '.config/containers', '.config/containers/registries.d']) assert.is(lstatSync(join(home, dir)).uid, uid, dir);
  assert.is(statSync(join(home, '.config/containers/registries.d')).mode & 0o777, 0o700);
});

test.run();
