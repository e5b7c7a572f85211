// Plain fs.* calls are the test's own set-up, plants and probes; the functions under test are imported by name.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatTimestamp, historyName, installManaged, isHistoryName } from '../../bin/lib/config-history.ts';
import { atomicWrite, isTempName, openTrustedDir, readRegularFile, safeMkdir, tempName, UnsafePathError } from '../../bin/lib/safe-fs.ts';

// Names use local time; a fixed zone with a non-zero offset shows that they do.
process.env.TZ = 'Europe/Moscow';
const T0 = new Date('2024-03-05T07:08:09Z'); // 10:08:09 in Moscow
const unsafe = (e: unknown) => e instanceof UnsafePathError;

let root = '';
let etc = '';
test.before.each(() => {
  root = fs.mkdtempSync(join(tmpdir(), 'podsec-safe-fs-'));
  etc = join(root, 'etc/containers');
  safeMkdir(etc, { mode: 0o755, root });
});
test.after.each(() => fs.rmSync(root, { recursive: true, force: true }));

const entries = () => fs.readdirSync(etc).sort();
const mode = (path: string) => fs.statSync(path).mode & 0o7777;

test('atomicWrite: round trip, exact modes whatever the umask, a new inode each time, no temp left', () => {
  const file = join(etc, 'policy.json');
  const oldUmask = process.umask(0o077);
  try {
    for (const m of [0o600, 0o644, 0o640, 0o444]) {
      const before = fs.lstatSync(file, { throwIfNoEntry: false })?.ino;
      atomicWrite(file, `{"mode":${m}}`, { mode: m, root });
      assert.is(readRegularFile(file, { maxBytes: 100 }).toString(), `{"mode":${m}}`);
      assert.is(mode(file), m);
      assert.is.not(fs.statSync(file).ino, before);
    }
  } finally {
    process.umask(oldUmask);
  }
  assert.equal(entries(), ['policy.json']);
});

test('atomicWrite: a symlink at the target in a root-owned directory is replaced, its target untouched', () => {
  const elsewhere = join(root, 'elsewhere');
  fs.writeFileSync(elsewhere, 'keep');
  fs.symlinkSync(elsewhere, join(etc, 'policy.json'));
  atomicWrite(join(etc, 'policy.json'), 'new', { mode: 0o644, root });
  assert.ok(fs.lstatSync(join(etc, 'policy.json')).isFile());
  assert.is(fs.readFileSync(elsewhere, 'utf8'), 'keep');
});

test('atomicWrite: a symlinked directory component is refused with one line naming it', () => {
  fs.mkdirSync(join(root, 'real'));
  fs.symlinkSync(join(root, 'real'), join(root, 'etc/linked'));
  assert.throws(
    () => atomicWrite(join(root, 'etc/linked/x.conf'), 'x', { mode: 0o644, root }),
    (e: unknown) => {
      const message = (e as Error).message;
      return unsafe(e) && !message.includes('\n') && message.includes(join(root, 'etc/linked')) && message.includes('symlink');
    },
  );
  assert.equal(fs.readdirSync(join(root, 'real')), []);
});

test('atomicWrite: a path outside the root, or the root itself, is refused', () => {
  assert.throws(() => atomicWrite(join(root, '../escape.conf'), 'x', { mode: 0o644, root }), unsafe);
  assert.throws(() => atomicWrite(root, 'x', { mode: 0o644, root }), unsafe);
});

test('safeMkdir: creates parents 0755 and the last with its mode; re-running converges', () => {
  const dir = join(root, 'var/sigstore/keys');
  safeMkdir(dir, { mode: 0o775, root });
  assert.is(mode(join(root, 'var/sigstore')), 0o755);
  assert.is(mode(dir), 0o775);
  fs.chmodSync(dir, 0o700);
  safeMkdir(dir, { mode: 0o775, root });
  assert.is(mode(dir), 0o775);
});

test('safeMkdir: refuses a symlinked component and a group-writable parent', () => {
  fs.symlinkSync(root, join(root, 'loop'));
  assert.throws(() => safeMkdir(join(root, 'loop/x'), { mode: 0o755, root }), unsafe);
  fs.mkdirSync(join(root, 'open'));
  fs.chmodSync(join(root, 'open'), 0o777);
  assert.throws(() => safeMkdir(join(root, 'open/x'), { mode: 0o755, root }), unsafe);
});

test('readRegularFile: bounded, and refuses symlinks and directories', () => {
  const file = join(root, 'f');
  fs.writeFileSync(file, '12345');
  assert.is(readRegularFile(file, { maxBytes: 5 }).toString(), '12345');
  assert.throws(() => readRegularFile(file, { maxBytes: 4 }), unsafe);
  fs.symlinkSync(file, join(root, 'l'));
  assert.throws(() => readRegularFile(join(root, 'l'), { maxBytes: 10 }), unsafe);
  assert.throws(() => readRegularFile(root, { maxBytes: 10 }), unsafe);
});

/** Runs `body` with the TrustedDir of `etc` and a read descriptor of `source`, both closed after. */
function withSource<T>(source: string, body: (dir: ReturnType<typeof openTrustedDir>, fd: number) => T): T {
  const dir = openTrustedDir(etc, { root });
  const fd = fs.openSync(source, 'r');
  try {
    return body(dir, fd);
  } finally {
    fs.closeSync(fd);
    dir.close();
  }
}

test('copyFile with noReplace: copies the whole source with its mode; an existing name, a symlink included, is never replaced', () => {
  const source = join(root, 'source');
  fs.writeFileSync(source, Buffer.alloc(3 << 20, 7));
  const size = withSource(source, (dir, fd) => dir.copyFile('copy.db', { fd, maxBytes: 3 << 20 }, { mode: 0o600, noReplace: true }));
  assert.is(size, 3 << 20);
  assert.ok(fs.readFileSync(join(etc, 'copy.db')).equals(fs.readFileSync(source)));
  assert.is(mode(join(etc, 'copy.db')), 0o600);
  const copied = fs.statSync(join(etc, 'copy.db')).ino;
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (error) {
      return (error as NodeJS.ErrnoException).code;
    }
    return 'no error';
  };
  assert.is(
    code(() => withSource(source, (dir, fd) => dir.copyFile('copy.db', { fd, maxBytes: 3 << 20 }, { mode: 0o600, noReplace: true }))),
    'EEXIST',
  );
  assert.is(fs.statSync(join(etc, 'copy.db')).ino, copied, 'the first copy stays');
  const victim = join(root, 'victim');
  fs.writeFileSync(victim, 'precious');
  fs.symlinkSync(victim, join(etc, 'link.db'));
  assert.is(
    code(() => withSource(source, (dir, fd) => dir.copyFile('link.db', { fd, maxBytes: 3 << 20 }, { mode: 0o600, noReplace: true }))),
    'EEXIST',
  );
  assert.is(
    code(() => withSource(source, (dir) => dir.writeFile('link.db', 'x', { mode: 0o600, noReplace: true }))),
    'EEXIST',
  );
  assert.is(fs.readFileSync(victim, 'utf8'), 'precious', 'never written through the link');
  assert.ok(fs.lstatSync(join(etc, 'link.db')).isSymbolicLink(), 'the link is left alone');
  assert.equal(entries(), ['copy.db', 'link.db'], 'no temp file left');
});

test('copyFile: a source larger than maxBytes, or one that grows past it while copied, is refused and nothing is published', () => {
  const source = join(root, 'source');
  fs.writeFileSync(source, Buffer.alloc(4097, 1));
  const refusal = (f: () => unknown) => {
    try {
      f();
    } catch (error) {
      return error instanceof UnsafePathError ? error.refusal : String(error);
    }
    return 'copied';
  };
  assert.is(
    refusal(() => withSource(source, (dir, fd) => dir.copyFile('big.db', { fd, maxBytes: 4096 }, { mode: 0o600, noReplace: true }))),
    'too-large',
  );
  // A /proc file's size is 0 to fstat, yet it reads more: a file that grew after fstat, without a race.
  const status = '/proc/self/status';
  assert.is(fs.statSync(status).size, 0);
  assert.is(
    refusal(() => withSource(status, (dir, fd) => dir.copyFile('grown.db', { fd, maxBytes: 64 }, { mode: 0o600 }))),
    'too-large',
  );
  assert.equal(entries(), [], 'neither the names nor a temp file are there');
  assert.is(
    withSource(source, (dir, fd) => dir.copyFile('fits.db', { fd, maxBytes: 4097 }, { mode: 0o600, noReplace: true })),
    4097,
    'exactly maxBytes fits',
  );
});

test('names: upstream date format in local time; history and temp names never end in .yaml', () => {
  assert.is(formatTimestamp(T0), '2024-03-05_10:08:09');
  assert.is(historyName('default_', T0), 'default_2024-03-05_10:08:09');
  assert.is(historyName('default_', T0, 2), 'default_2024-03-05_10:08:09.2');
  assert.ok(isHistoryName('policy_', 'policy_2024-03-05_10:08:09.2'));
  assert.not.ok(isHistoryName('policy_', 'policy_2024-03-05_10:08:09.yaml'));
  const temp = tempName('default.yaml');
  assert.ok(isTempName(temp) && temp.startsWith('.') && !temp.endsWith('.yaml'));
  assert.not.ok(isHistoryName('default_', temp));
});

test('installManaged: the link points to a new timestamped entry with the content and mode', () => {
  const link = join(etc, 'policy.json');
  const result = installManaged(link, '{"a":1}', { prefix: 'policy_', timestamp: T0, mode: 0o644, root });
  assert.equal(result, { changed: true, target: 'policy_2024-03-05_10:08:09', backup: undefined });
  assert.is(fs.readlinkSync(link), 'policy_2024-03-05_10:08:09');
  assert.is(fs.readFileSync(link, 'utf8'), '{"a":1}');
  assert.is(mode(join(etc, result.target)), 0o644);
  assert.equal(entries(), ['policy.json', 'policy_2024-03-05_10:08:09']);
});

test('installManaged: a pre-existing regular file is moved to policy_<timestamp - 24 h>', () => {
  const link = join(etc, 'policy.json');
  fs.writeFileSync(link, 'original');
  const inode = fs.statSync(link).ino;
  const result = installManaged(link, 'new', { prefix: 'policy_', timestamp: T0, mode: 0o644, root });
  assert.is(result.backup, 'policy_2024-03-04_10:08:09');
  assert.is(fs.statSync(join(etc, result.backup!)).ino, inode);
  assert.is(fs.readFileSync(link, 'utf8'), 'new');
  assert.equal(entries(), ['policy.json', 'policy_2024-03-04_10:08:09', 'policy_2024-03-05_10:08:09']);
});

test('installManaged: registries.conf style copies the original, keeping its mode', () => {
  const link = join(etc, 'registries.conf');
  fs.writeFileSync(link, 'unqualified-search-registries = []\n', { mode: 0o640 });
  fs.chmodSync(link, 0o640);
  const inode = fs.statSync(link).ino;
  const result = installManaged(link, 'x', { prefix: 'registries_', backupPrefix: 'registries.conf.', backup: 'copy', timestamp: T0, mode: 0o644, root });
  const backup = join(etc, 'registries.conf.2024-03-04_10:08:09');
  assert.is(result.backup, 'registries.conf.2024-03-04_10:08:09');
  assert.is(fs.readFileSync(backup, 'utf8'), 'unqualified-search-registries = []\n');
  assert.is.not(fs.statSync(backup).ino, inode);
  assert.is(mode(backup), 0o640);
});

test('installManaged: identical content converges; different content adds history and keeps the old', () => {
  const link = join(etc, 'policy.json');
  const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
  const options = (seconds: number) => ({ prefix: 'policy_', timestamp: at(seconds), mode: 0o644, root });
  installManaged(link, 'A', options(0));
  assert.equal(installManaged(link, 'A', options(1)), { changed: false, target: 'policy_2024-03-05_10:08:09' });
  installManaged(link, 'B', options(2));
  installManaged(link, 'A', options(3));
  assert.equal(entries(), ['policy.json', 'policy_2024-03-05_10:08:09', 'policy_2024-03-05_10:08:11', 'policy_2024-03-05_10:08:12']);
  assert.equal(
    entries()
      .slice(1)
      .map((name) => fs.readFileSync(join(etc, name), 'utf8')),
    ['A', 'B', 'A'],
  );
  assert.is(fs.readlinkSync(link), 'policy_2024-03-05_10:08:12');
});

test('installManaged: two writes in the same second get a numeric suffix, nothing is overwritten', () => {
  const link = join(etc, 'policy.json');
  const options = { prefix: 'policy_', timestamp: T0, mode: 0o644, root };
  installManaged(link, 'A', options);
  installManaged(link, 'B', options);
  installManaged(link, 'C', options);
  assert.equal(entries(), ['policy.json', 'policy_2024-03-05_10:08:09', 'policy_2024-03-05_10:08:09.1', 'policy_2024-03-05_10:08:09.2']);
  assert.is(fs.readFileSync(join(etc, 'policy_2024-03-05_10:08:09'), 'utf8'), 'A');
  assert.is(fs.readFileSync(link, 'utf8'), 'C');
});

test('installManaged: registries.d names never end in .yaml (containers/image would load them)', () => {
  const dir = join(root, 'etc/containers/registries.d');
  safeMkdir(dir, { mode: 0o755, root });
  const link = join(dir, 'default.yaml');
  fs.writeFileSync(link, 'default-docker: {}\n');
  const options = { prefix: 'default_', backupPrefix: 'default.yaml.', timestamp: T0, mode: 0o644, root };
  installManaged(link, 'one', options);
  installManaged(link, 'two', options);
  const names = fs.readdirSync(dir).filter((name) => name !== 'default.yaml');
  assert.equal(names.sort(), ['default.yaml.2024-03-04_10:08:09', 'default_2024-03-05_10:08:09', 'default_2024-03-05_10:08:09.1']);
  for (const name of names) assert.not.ok(name.endsWith('.yaml'), name);
});

test('installManaged: a link to a file it does not manage is replaced, never followed or written', () => {
  const link = join(etc, 'policy.json');
  fs.writeFileSync(join(root, 'admin.json'), 'admin');
  fs.symlinkSync(join(root, 'admin.json'), link);
  const result = installManaged(link, 'new', { prefix: 'policy_', timestamp: T0, mode: 0o644, root });
  assert.is(result.backup, undefined);
  assert.is(fs.readFileSync(join(root, 'admin.json'), 'utf8'), 'admin');
  assert.is(fs.readFileSync(link, 'utf8'), 'new');
});

test('installManaged: bad prefixes are refused; a directory at the link is refused', () => {
  const link = join(etc, 'policy.json');
  for (const prefix of ['', '../policy_', '.policy_', 'a/b']) {
    assert.throws(() => installManaged(link, 'x', { prefix, timestamp: T0, mode: 0o644, root }), /invalid history prefix/);
  }
  fs.mkdirSync(link);
  assert.throws(() => installManaged(link, 'x', { prefix: 'policy_', timestamp: T0, mode: 0o644, root }), unsafe);
});

test('installManaged: old crash leftovers (temp names) are removed, fresh ones are left to their writer', () => {
  const old = join(etc, tempName('policy.json'));
  const fresh = join(etc, tempName('policy_x'));
  fs.symlinkSync('policy_2024-03-05_10:08:09', old);
  fs.writeFileSync(fresh, 'partial');
  const hourAgo = new Date(Date.now() - 3600_000);
  fs.lutimesSync(old, hourAgo, hourAgo);
  installManaged(join(etc, 'policy.json'), 'A', { prefix: 'policy_', timestamp: T0, mode: 0o644, root });
  assert.ok(fs.lstatSync(old, { throwIfNoEntry: false }) === undefined);
  assert.ok(fs.lstatSync(fresh, { throwIfNoEntry: false }) !== undefined);
});

test.run();
