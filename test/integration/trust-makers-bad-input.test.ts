/**
 * podsec-create-imagemakeruser and podsec-create-podmanusers refuse bad input with one line and a
 * non-zero exit, and change nothing: the whole --root tree is compared by hashes (type, mode,
 * owner, content) before and after each case (issue 3, proof 5). Then the attacks that worked
 * upstream (proof 6): a symlink planted in a maker's ~/.config/containers is never followed, and
 * a maker can replace neither another maker's key nor the published policy.
 */
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { removeTree, useMaster, type MasterEnv } from '../support/oci-fixtures.ts';
import { withTools } from '../support/tools.ts';
import { bundledProgram, runCommand, runProgram, treeDiff, treeHashes } from '../support/trust-fixtures.ts';

const base = suite('trust makers: bad input and attacks');
const TOOLS = ['useradd', 'runuser', 'unshare', 'chattr', 'gpg', 'ip', 'docker-registry', 'nginx', 'setpriv'];
const test = withTools(base, TOOLS);

let m: MasterEnv;
let pw = '';

useMaster(base, 'mkbad', TOOLS, [], async (started) => {
  m = started;
  pw = join(m.work, 'password');
  writeFileSync(pw, 'secret\n');
  // An existing maker holds registry.local/taken; a podman user exists.
  const owner = await m.program('podsec-create-imagemakeruser', ['--no-password', '--sigstore', '--no-key-passphrase', 'owner@registry.local/taken']);
  assert.is(owner.exitCode, 0, owner.stderr);
  const pod = await m.program('podsec-create-podmanusers', ['--no-password', 'poduser']);
  assert.is(pod.exitCode, 0, pod.stderr);
});

/** Runs the program in the master's namespace and checks: exit code, one line on stderr matching, tree unchanged. */
async function refused(name: string, args: string[], exitCode: number, message: RegExp, options: { root?: string; outside?: boolean } = {}) {
  const root = options.root ?? m.root;
  const before = treeHashes(root);
  const ran = await runProgram(name, ['--root', root, ...args], options.outside ? {} : { netns: m.pair.master, timeoutMs: 120_000 });
  assert.is(ran.exitCode, exitCode, `exit ${ran.exitCode}, expected ${exitCode}: ${ran.stderr}`);
  const lines = ran.stderr.trim().split('\n');
  assert.is(lines.length, 1, `one line expected on stderr:\n${ran.stderr}`);
  assert.match(lines[0]!, message);
  assert.equal(treeDiff(before, treeHashes(root)), [], 'the tree changed');
}

const maker = (args: string[], exitCode: number, message: RegExp) =>
  refused('podsec-create-imagemakeruser', ['--password-file', pw, '--gpg-generate', '--no-key-passphrase', ...args], exitCode, message);

test('user name with ";" is refused', () => maker(['a;b@registry.local/x'], 1, /invalid user name "a;b": the character ";" is not allowed/));
test('user name with $(…) is refused, nothing runs', async () => {
  const canary = join(m.work, 'pwned');
  await maker([`$(touch ${canary})@registry.local/x`], 1, /invalid user name/);
  assert.not.ok(existsSync(canary));
});
test('user name with a space is refused', () => maker(['has space@registry.local/x'], 1, /invalid user name "has space"/));
test('user name "../etc" is refused', () => maker(['../etc@registry.local/x'], 1, /invalid user name "\.\.\/etc"/));
test('user name with a leading "-" is refused (not taken as an option)', () =>
  maker(['--', '-oroot@registry.local/x'], 1, /invalid user name "-oroot": it starts with "-"/));
test('user name longer than 32 characters is refused', () => maker([`${'a'.repeat(33)}@registry.local/x`], 1, /longer than 32 characters/));
test('an existing system user is refused', () => maker(['daemon@registry.local/x'], 1, /the user "daemon" already exists; use --reconfigure/));
test('an existing system user is refused even with --reconfigure', () => maker(['--reconfigure', 'bin@registry.local/x'], 1, /"bin" is a system account/));
test('an existing user is refused without --reconfigure', () => maker(['poduser@registry.local/y'], 1, /the user "poduser" already exists/));
test('the same repository path twice is refused (exit 2)', () =>
  maker(['a1@registry.local/dup', 'a2@registry.local/dup'], 2, /Two matching repository paths registry\.local\/dup/));
test('a path another maker signs is refused (exit 2)', () =>
  maker(['a3@registry.local/taken'], 2, /Two matching repository paths registry\.local\/taken: it is already signed with \/var\/sigstore\/keys\/owner\.pub/));
test('a repository path outside registry.local is refused', () =>
  maker(['a4@docker.io/library'], 1, /invalid repository path "docker\.io\/library": it is not under registry\.local/));
test('a repository path with ".." is refused', () =>
  maker(['a5@registry.local/../x'], 1, /invalid repository path "registry\.local\/\.\.\/x": it has a "\.\." component/));
test('an argument without "@" among several is refused', () => maker(['a6', 'a7@registry.local/z'], 1, /format is <user>@<repository_path>/));
test('a missing password file is refused', () =>
  refused(
    'podsec-create-imagemakeruser',
    ['--password-file', join(m.work, 'nope'), '--gpg-generate', '--no-key-passphrase', 'a8@registry.local/q'],
    66,
    /: .*nope: no such file or directory$/,
  ));
test('--gpg-public-key with a file that is not a key is refused', async () => {
  const file = join(m.work, 'not-a-key.asc');
  writeFileSync(file, 'hello\n');
  await refused(
    'podsec-create-imagemakeruser',
    ['--password-file', pw, '--gpg-public-key', file, 'a9@registry.local/k'],
    1,
    /not a usable OpenPGP public key|must hold exactly one public key/,
  );
});
test('--gpg-public-key with a private key is refused', async () => {
  const file = join(m.work, 'private.asc');
  writeFileSync(file, '-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxx\n-----END PGP PRIVATE KEY BLOCK-----\n');
  await refused('podsec-create-imagemakeruser', ['--password-file', pw, '--gpg-public-key', file, 'a10@registry.local/k'], 1, /is a private key/);
});
test('conflicting key options are refused', () =>
  refused('podsec-create-imagemakeruser', ['--sigstore', '--gpg-generate', 'a11@registry.local/k'], 1, /--gpg-generate, --sigstore exclude each other/));
test('a malformed existing policy.json is refused, naming where it is broken', async () => {
  const copy = join(m.work, 'malformed-tree');
  cpSync(m.root, copy, { recursive: true, verbatimSymlinks: true, filter: (source) => !source.startsWith(join(m.root, 'home')) });
  mkdirSync(join(copy, 'home'), { recursive: true });
  const target = readlinkSync(join(copy, 'etc/containers/policy.json'));
  writeFileSync(join(copy, 'etc/containers', target), '{\n  "default": [ { "type": "reject" } ],\n  "transports": { "docker": { "x": [ } }\n}\n');
  try {
    await refused(
      'podsec-create-imagemakeruser',
      ['--password-file', pw, '--gpg-generate', '--no-key-passphrase', 'a12@registry.local/m'],
      1,
      /refusing to edit a malformed policy: \/etc\/containers\/policy\.json:3:\d+: not valid JSON/,
      { root: copy },
    );
  } finally {
    removeTree(copy);
  }
});
test('not on the master (registry.local bound to another host) it is refused', () =>
  refused(
    'podsec-create-imagemakeruser',
    ['--password-file', pw, '--gpg-generate', '--no-key-passphrase', 'a13@registry.local/n'],
    1,
    /bound in \/etc\/hosts to the remote server .*It is not possible to create users of the container image developer class/,
    { outside: true },
  ));
test('not root: refused', async () => {
  const before = treeHashes(m.root);
  const result = await runCommand(
    'setpriv',
    [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      await bundledProgram('podsec-create-imagemakeruser'),
      '--root',
      m.root,
      '--no-password',
      '--sigstore',
      '--no-key-passphrase',
      'a14@registry.local/r',
    ],
    { netns: m.pair.master },
  );
  assert.is(result.exitCode, 1, result.stderr);
  assert.match(result.stderr, /must be run by a user with root rights/);
  assert.equal(treeDiff(before, treeHashes(m.root)), []);
});

const podman = (args: string[], exitCode: number, message: RegExp) => refused('podsec-create-podmanusers', ['--no-password', ...args], exitCode, message);
test('create-podmanusers: no user refused', () => podman([], 1, /Format: podsec-create-podmanusers <username>/));
test('create-podmanusers: user name with ";" refused', () => podman(['x;y'], 1, /invalid user name "x;y"/));
test('create-podmanusers: an existing account refused without --reconfigure', () => podman(['owner'], 1, /the user "owner" already exists/));
test('create-podmanusers: a system account refused', () => podman(['--reconfigure', 'daemon'], 1, /"daemon" is a system account/));

test('--dry-run lists the changes and changes nothing', async () => {
  const before = treeHashes(m.root);
  const ran = await m.program('podsec-create-imagemakeruser', [
    '--dry-run',
    '--password-file',
    pw,
    '--gpg-generate',
    '--no-key-passphrase',
    'dry@registry.local/dry',
  ]);
  assert.is(ran.exitCode, 0, ran.stderr);
  assert.match(ran.stdout, /^Dry run: nothing is changed/);
  assert.match(ran.stdout, /create the user dry/);
  assert.match(ran.stdout, /write \/etc\/containers\/policy\.json \(the image makers' scopes: registry\.local\/dry → dry\.pgp\)/);
  assert.equal(treeDiff(before, treeHashes(m.root)), []);
  const podman = await m.program('podsec-create-podmanusers', ['--dry-run', '--no-password', 'drypod']);
  assert.is(podman.exitCode, 0, podman.stderr);
  assert.match(podman.stdout, /make ~drypod\/\.config\/containers empty and immutable/);
  assert.equal(treeDiff(before, treeHashes(m.root)), []);
});

test('re-running with --reconfigure converges: nothing to change, the tree stays the same', async () => {
  const before = treeHashes(m.root);
  const maker = await m.program('podsec-create-imagemakeruser', ['--reconfigure', 'owner@registry.local/taken']);
  assert.is(maker.exitCode, 0, maker.stderr);
  assert.match(maker.stdout, /^Nothing to change/);
  const podman = await m.program('podsec-create-podmanusers', ['--reconfigure', '--no-password', 'poduser']);
  assert.is(podman.exitCode, 0, podman.stderr);
  assert.match(podman.stdout, /^Nothing to change/);
  assert.equal(treeDiff(before, treeHashes(m.root)), []);
});

test('a podman user cannot put a config into, remove or unlock ~/.config/containers', async () => {
  const dir = join(m.root, 'home/poduser/.config/containers');
  const st = statSync(dir);
  assert.is(st.mode & 0o7777, 0o500);
  const attributes = await runCommand('lsattr', ['-d', dir]);
  assert.match(attributes.stdout, /^\S*i\S*\s/);
  for (const argv of [
    ['touch', '/home/poduser/.config/containers/policy.json'],
    ['mkdir', '/home/poduser/.config/containers/registries.d'],
    ['chmod', '700', '/home/poduser/.config/containers'],
    ['rm', '-rf', '/home/poduser/.config/containers'],
    ['mv', '/home/poduser/.config/containers', '/home/poduser/.config/old'],
  ]) {
    const ran = await m.asUser('poduser', argv);
    assert.is.not(ran.exitCode, 0, `${argv.join(' ')} succeeded`);
  }
  assert.equal(readdirSync(dir), []);
});

// ---------------------------------------------------------------------------------------------
// Attacks that worked upstream

test('a symlink planted at ~maker/.config/containers/policy.json is not followed when another maker is added', async () => {
  const home = join(m.root, 'home/owner');
  const canary = join(m.work, 'root-owned-canary');
  writeFileSync(canary, 'root data\n');
  chmodSync(canary, 0o644);
  const policy = join(home, '.config/containers/policy.json');
  rmSync(policy);
  symlinkSync(canary, policy);
  const ran = await m.program('podsec-create-imagemakeruser', ['--no-password', '--sigstore', '--no-key-passphrase', 'newmaker@registry.local/new']);
  assert.is(ran.exitCode, 0, ran.stderr);
  assert.match(ran.stdout, /~owner\/\.config\/containers\/policy\.json was changed by its owner and is left alone/);
  assert.is(readFileSync(canary, 'utf8'), 'root data\n');
  assert.ok(lstatSync(policy).isSymbolicLink());
  assert.is(readlinkSync(policy), canary);
});

test('reconfiguring a maker whose policy.json is a planted symlink is refused, the target untouched', async () => {
  const canary = join(m.work, 'root-owned-canary');
  await refused(
    'podsec-create-imagemakeruser',
    ['--reconfigure', 'owner@registry.local/taken'],
    1,
    /refusing to write ~owner\/\.config\/containers\/policy\.json: it is a symlink/,
  );
  assert.is(readFileSync(canary, 'utf8'), 'root data\n');
});

test('a registries.d directory swapped for a symlink to /etc/containers/registries.d is not written through', async () => {
  const home = join(m.root, 'home/newmaker');
  const dir = join(home, '.config/containers/registries.d');
  rmSync(dir, { recursive: true });
  const systemDir = join(m.root, 'etc/containers/registries.d');
  symlinkSync(systemDir, dir);
  const before = treeHashes(systemDir);
  const ran = await m.program('podsec-create-imagemakeruser', ['--reconfigure', 'newmaker@registry.local/new']);
  assert.is(ran.exitCode, 1, ran.stdout);
  assert.match(ran.stderr, /refusing to (write|use)/);
  assert.equal(treeDiff(before, treeHashes(systemDir)), []);
});

test("a maker can replace neither another maker's key nor the published policy", async () => {
  const keys = join(m.root, 'var/sigstore/keys');
  const before = treeHashes(keys);
  const bogus = join(m.work, 'bogus');
  writeFileSync(bogus, 'bogus\n');
  chmodSync(bogus, 0o644);
  for (const argv of [
    ['cp', bogus, '/var/sigstore/keys/owner.pub'],
    ['cp', bogus, '/var/sigstore/keys/policy.json'],
    ['rm', '-f', '/var/sigstore/keys/owner.pub'],
    ['mv', '/var/sigstore/keys/policy.json', '/var/sigstore/keys/old'],
    ['ln', '-sf', bogus, '/var/sigstore/keys/owner.pub'],
    ['cp', bogus, '/var/sigstore/keys/podsec-trust-bundle.json'],
  ]) {
    const ran = await m.asUser('newmaker', argv);
    assert.is.not(ran.exitCode, 0, `${argv.join(' ')} succeeded`);
    assert.match(ran.stderr, /Permission denied|Operation not permitted/);
  }
  assert.equal(treeDiff(before, treeHashes(keys)), []);
  for (const name of ['owner.pub', 'newmaker.pub', 'policy.json', 'podsec-trust-bundle.json']) {
    const st = statSync(join(keys, name));
    assert.is(st.uid, 0, name);
    assert.is(st.mode & 0o022, 0, name);
  }
});

test.run();
