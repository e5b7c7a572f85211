/**
 * Bad input to podsec-create-policy and podsec-create-services: each case is refused with one
 * line on stderr and its exit code, and the --root tree is byte-identical afterwards (every path's
 * type, mode, owner and content hash compared). Also: the first runs' results, converging re-runs,
 * --dry-run, and the attack of issue item 6 (a maker cannot replace the published policy or keys).
 * Runs the bundled programs as root on temporary trees; nothing outside them is touched.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isHistoryName } from '../../bin/lib/config-history.ts';
import { makeTree, PODMAN_DEV_GID, PODMAN_GID, runProgram, treeDiff, treeHashes } from '../support/trust-fixtures.ts';

const IP = '10.77.0.1';
const trees: string[] = [];
const tree = (label: string) => {
  const root = makeTree(label);
  trees.push(root);
  return root;
};

/** A master tree after one successful run, copied for each test that needs it. */
let configuredMaster: string;

test.before(async () => {
  configuredMaster = tree('configured');
  const ran = await runProgram('podsec-create-policy', ['--root', configuredMaster, '--role', 'master', IP]);
  assert.is(ran.exitCode, 0, ran.stderr);
});

test.after(() => {
  for (const root of trees) rmSync(root, { recursive: true, force: true });
});

const copyOfConfigured = () => {
  const root = tree('copy');
  // cp -a: owners and groups too (fs.cpSync does not keep them).
  const copied = spawnSync('cp', ['-a', `${configuredMaster}/.`, root], { encoding: 'utf8' });
  assert.is(copied.status, 0, copied.stderr);
  return root;
};

/** Runs `program args` on `root` and checks: exit code, one stderr line matching `message`, nothing changed. */
async function refused(program: string, root: string, args: string[], exitCode: number, message: RegExp) {
  const before = treeHashes(root);
  const ran = await runProgram(program, ['--root', root, ...args]);
  assert.is(ran.exitCode, exitCode, `exit code\n${ran.stdout}${ran.stderr}`);
  const lines = ran.stderr.trimEnd().split('\n');
  assert.is(lines.length, 1, `one line on stderr:\n${ran.stderr}`);
  assert.match(lines[0]!, message);
  assert.equal(treeDiff(before, treeHashes(root)), [], 'the tree changed');
}

// ------------------------------------------------------------------------------------------------
// Bad input: the IP

test('bad input: no IP → exit 1, usage', async () => {
  await refused('podsec-create-policy', tree('noip'), ['--role', 'master'], 1, /IP address .* is not specified; usage: podsec-create-policy IP/);
});

test('bad input: two IPs → exit 1', async () => {
  await refused('podsec-create-policy', tree('twoip'), ['--role', 'master', IP, '10.77.0.2'], 1, /Only one IP address/);
});

test('bad input: empty IP "" → exit 2', async () => {
  await refused('podsec-create-policy', tree('emptyip'), ['--role', 'master', ''], 2, /Invalid IP address "": an IPv4 address has four fields/);
});

test('bad input: 999.1.1.1 → exit 3', async () => {
  await refused(
    'podsec-create-policy',
    tree('999'),
    ['--role', 'master', '999.1.1.1'],
    3,
    /Invalid IP address "999\.1\.1\.1": "999" is not a number from 0 to 255/,
  );
});

test('bad input: 1.2.3 → exit 2', async () => {
  await refused('podsec-create-policy', tree('three'), ['--role', 'master', '1.2.3'], 2, /four fields/);
});

test('bad input: 127.0.0.2 (loopback, not only 127.0.0.1) → exit 1', async () => {
  await refused('podsec-create-policy', copyOfConfigured(), ['--role', 'master', '127.0.0.2'], 1, /must not be local/);
});

test('bad input: 01.2.3.4 (a leading zero reads as octal elsewhere) → exit 3', async () => {
  await refused('podsec-create-policy', tree('octal'), ['--role', 'master', '01.2.3.4'], 3, /"01" is not a number from 0 to 255/);
});

test('bad input: 224.0.0.1 (multicast) → exit 3', async () => {
  await refused('podsec-create-policy', tree('mcast'), ['--role', 'master', '224.0.0.1'], 3, /not a host address \(224\.0\.0\.0\/4\)/);
});

// ------------------------------------------------------------------------------------------------
// Bad input: existing files

test('bad input: the names are bound to another IP in /etc/hosts → exit 1, names the line', async () => {
  await refused(
    'podsec-create-policy',
    copyOfConfigured(),
    ['--role', 'master', '10.77.0.9'],
    1,
    /registry\.local is already bound to 10\.77\.0\.1 in \/etc\/hosts \(line 3\)/,
  );
});

const MALFORMED = [
  {
    what: 'malformed existing policy.json → exit 1, says where it is broken',
    file: 'policy.json',
    text: '{\n  "default": [\n    {"type": "insecureAcceptAnything"},\n  ]\n}\n',
    message: /refusing to edit a malformed policy: \/etc\/containers\/policy\.json:4:\d+: not valid JSON/,
  },
  {
    what: 'malformed registries.conf (unterminated string) → exit 1 with line and column',
    file: 'registries.conf',
    text: 'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "enforcing\n',
    message: /refusing to edit \/etc\/containers\/registries\.conf: .*registries\.conf:2:\d+: unterminated string/,
  },
];
for (const [i, { what, file, text, message }] of MALFORMED.entries()) {
  test(`bad input: ${what}`, async () => {
    const root = tree(`malformed${i}`);
    mkdirSync(join(root, 'etc/containers'), { mode: 0o755 });
    writeFileSync(join(root, 'etc/containers', file), text);
    await refused('podsec-create-policy', root, ['--role', 'master', IP], 1, message);
  });
}

test('bad input: policy.json with an unknown requirement type → exit 1', async () => {
  const root = copyOfConfigured();
  const target = join(root, 'etc/containers', readlinkSync(join(root, 'etc/containers/policy.json')));
  writeFileSync(target, JSON.stringify({ default: [{ type: 'acceptEverything' }] }));
  await refused('podsec-create-policy', root, ['--role', 'master', IP], 1, /unknown requirement type "acceptEverything"/);
});

test('bad input: registries.conf in the v1 format → exit 1 (a [[registry]] table cannot be mixed in)', async () => {
  const root = tree('v1conf');
  mkdirSync(join(root, 'etc/containers'), { mode: 0o755 });
  writeFileSync(join(root, 'etc/containers/registries.conf'), '[registries.search]\nregistries = ["docker.io"]\n');
  await refused('podsec-create-policy', root, ['--role', 'master', IP], 1, /registries\.conf:1:1: the file is in the v1 format/);
});

test('bad input: registries.conf podsec cannot prove safe to edit (multi-line string) → exit 1', async () => {
  const root = tree('multiconf');
  mkdirSync(join(root, 'etc/containers'), { mode: 0o755 });
  writeFileSync(join(root, 'etc/containers/registries.conf'), 'note = """\n[[registry]]\n"""\n');
  await refused('podsec-create-policy', root, ['--role', 'master', IP], 1, /registries\.conf:1:8: multi-line strings are not supported/);
});

test('bad input: /etc/hosts is a symlink → exit 1, not followed', async () => {
  const root = tree('hostslink');
  writeFileSync(join(root, 'etc/hosts.real'), '127.0.0.1 localhost\n');
  rmSync(join(root, 'etc/hosts'));
  symlinkSync('hosts.real', join(root, 'etc/hosts'));
  await refused('podsec-create-policy', root, ['--role', 'master', IP], 1, /\/etc\/hosts: it is a symlink/);
});

test("bad input: a published key that a maker owns (upstream's 0775 keys/) is not signed into the bundle → exit 1", async () => {
  const root = copyOfConfigured();
  // An upgraded master: a maker's scope, and the maker's own, group-writable key file.
  const link = join(root, 'etc/containers/policy.json');
  const target = join(root, 'etc/containers', readlinkSync(link));
  const current = JSON.parse(readFileSync(target, 'utf8'));
  current.transports.docker['registry.local'] = [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/alice.pgp' }];
  writeFileSync(target, JSON.stringify(current, null, 2) + '\n');
  writeFileSync(join(root, 'var/sigstore/keys/alice.pgp'), 'not really a key\n');
  chownSync(join(root, 'var/sigstore/keys/alice.pgp'), 61234, PODMAN_GID);
  chmodSync(join(root, 'var/sigstore/keys/alice.pgp'), 0o664);
  await refused('podsec-create-policy', root, ['--role', 'master', IP], 1, /\/var\/sigstore\/keys\/alice\.pgp: a published key must be a regular file of root/);
});

// ------------------------------------------------------------------------------------------------
// Bad input: options and roles

test('bad input: a node without a pinned fingerprint or checksum → exit 1', async () => {
  await refused('podsec-create-policy', tree('nopin'), ['--role', 'node', IP], 1, /accepted only when verified\. Pass --trust-fingerprint/);
});

test('bad input: --trust-fingerprint that is not 64 hex digits → exit 1', async () => {
  await refused(
    'podsec-create-policy',
    tree('badfp'),
    ['--role', 'node', '--trust-fingerprint', 'abcd;rm', IP],
    1,
    /--trust-fingerprint: expected 64 hexadecimal digits/,
  );
});

test('bad input: both --trust-fingerprint and --trust-sha256 → exit 1', async () => {
  await refused(
    'podsec-create-policy',
    tree('bothpins'),
    ['--role', 'node', '--trust-fingerprint', 'a'.repeat(64), '--trust-sha256', 'b'.repeat(64), IP],
    1,
    /not both/,
  );
});

test('bad input: --role other than master or node → exit 1', async () => {
  await refused('podsec-create-policy', tree('badrole'), ['--role', 'worker', IP], 1, /--role must be master or node/);
});

test('bad input: an unknown option → exit 1 (the table gives 2 to an IP that is not four fields)', async () => {
  await refused('podsec-create-policy', tree('badopt'), ['--force', IP], 1, /unknown option --force; see --help/);
});

test('bad input: --trust-fingerprint on the master that is not its key → exit 1', async () => {
  await refused(
    'podsec-create-policy',
    copyOfConfigured(),
    ['--role', 'master', '--trust-fingerprint', 'a'.repeat(64), IP],
    1,
    /this host is the master and its trust key is/,
  );
});

test('bad input: node with an unreachable signature server → exit 5', async () => {
  await refused(
    'podsec-create-policy',
    tree('unreach'),
    ['--role', 'node', '--trust-fingerprint', 'a'.repeat(64), '--keys-url', 'http://127.0.0.1:9/keys/', IP],
    5,
    /cannot reach the signature server/,
  );
});

test('bad input: create-services on a node (names bound to a remote address) → exit 1', async () => {
  const root = tree('svcnode');
  writeFileSync(join(root, 'etc/hosts'), `127.0.0.1 localhost\n192.0.2.77 registry.local sigstore.local trivy.local\n`);
  await refused(
    'podsec-create-services',
    root,
    [],
    1,
    /bound in \/etc\/hosts to the remote server 192\.0\.2\.77, not to this host\. Services cannot be started\./,
  );
});

test('bad input: create-services before create-policy (no binding) → exit 1', async () => {
  await refused('podsec-create-services', tree('svcnone'), [], 1, /are not bound in \/etc\/hosts; run podsec-create-policy first/);
});

test('bad input: create-services with an argument → exit 2', async () => {
  await refused('podsec-create-services', tree('svcarg'), ['now'], 2, /unexpected argument: now/);
});

// ------------------------------------------------------------------------------------------------
// Good runs

test("master: the first run writes upstream's files, modes and history", async () => {
  const root = tree('first');
  mkdirSync(join(root, 'etc/containers/registries.d'), { recursive: true, mode: 0o755 });
  writeFileSync(join(root, 'etc/containers/policy.json'), '{"default":[{"type":"insecureAcceptAnything"}]}\n');
  writeFileSync(join(root, 'etc/containers/registries.d/default.yaml'), 'docker:\n  example.com:\n    lookaside: https://x/\n');
  const original = 'unqualified-search-registries = ["docker.io"]\n';
  writeFileSync(join(root, 'etc/containers/registries.conf'), original);
  const ran = await runProgram('podsec-create-policy', ['--root', root, '--role', 'master', IP]);
  assert.is(ran.exitCode, 0, ran.stderr);
  assert.match(ran.stdout, /Trust key fingerprint of this master: ([0-9a-f]{4} ){15}[0-9a-f]{4}/);
  assert.match(ran.stdout, /On each node run: podsec-create-policy --trust-fingerprint [0-9a-f]{64} 10\.77\.0\.1/);

  assert.is(
    readFileSync(join(root, 'etc/hosts'), 'utf8'),
    `127.0.0.1 localhost\n::1 localhost ip6-localhost\n${IP} registry.local sigstore.local trivy.local\n`,
  );
  assert.is(readFileSync(join(root, 'etc/sysctl.d/99-podman.conf'), 'utf8'), 'kernel.unprivileged_userns_clone=1\n');
  const containers = join(root, 'etc/containers');
  const policyTarget = readlinkSync(join(containers, 'policy.json'));
  assert.ok(isHistoryName('policy_', policyTarget), policyTarget);
  assert.equal(JSON.parse(readFileSync(join(containers, 'policy.json'), 'utf8')), { default: [{ type: 'reject' }], transports: { docker: {} } });
  const names = spawnSync('ls', [containers], { encoding: 'utf8' }).stdout.split('\n');
  // The original regular file is kept, named 24 h earlier so it sorts first; registries.conf is copied.
  assert.is(names.filter((n) => isHistoryName('policy_', n)).length, 2);
  assert.is(names.filter((n) => isHistoryName('registries.conf.', n)).length, 1);
  assert.is(readFileSync(join(containers, 'registries.conf'), 'utf8'), `${original}\n[[registry]]\nlocation = "registry.local"\ninsecure = true\n`);
  assert.ok(isHistoryName('default_', readlinkSync(join(containers, 'registries.d/default.yaml'))));
  assert.is(
    readFileSync(join(containers, 'registries.d/default.yaml'), 'utf8'),
    'default-docker:\n  lookaside: http://sigstore.local:81/sigstore/\n  sigstore: ' + 'http://sigstore.local:81/sigstore/\n',
  );
  const yamlNames = spawnSync('ls', [join(containers, 'registries.d')], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean);
  assert.equal(
    yamlNames.filter((n) => n.endsWith('.yaml')),
    ['default.yaml'],
    'history names never end in .yaml',
  );

  const mode = (path: string) => {
    const st = lstatSync(join(root, path));
    return `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
  };
  assert.is(mode('var/sigstore'), '755 0:0');
  assert.is(mode('var/sigstore/keys'), `755 0:${PODMAN_DEV_GID}`);
  assert.is(mode('var/sigstore/sigstore'), `3775 0:${PODMAN_DEV_GID}`);
  assert.is(mode('var/sigstore/keys/policy.json'), '644 0:0');
  assert.is(mode('var/sigstore/keys/podsec-trust-bundle.json'), '644 0:0');
  assert.is(mode('var/lib/podsec/trust'), '700 0:0');
  assert.is(mode('var/lib/podsec/trust/master-key.pem'), '600 0:0');
  assert.match(readFileSync(join(root, 'var/sigstore/index.html'), 'utf8'), /SigStore works!/);

  // Two makers of group podman_dev: each makes its own directory; neither moves the other's away.
  const signatures = join(root, 'var/sigstore/sigstore');
  const asMaker = (uid: number, ...command: string[]) =>
    spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${PODMAN_DEV_GID}`, '--clear-groups', '--', ...command], { encoding: 'utf8' });
  assert.is(asMaker(60001, 'mkdir', join(signatures, 'team-a')).status, 0, 'a maker makes its directory');
  assert.is(asMaker(60002, 'mkdir', join(signatures, 'team-b')).status, 0, 'another maker makes its directory');
  const moved = asMaker(60002, 'mv', join(signatures, 'team-a'), join(signatures, 'team-b/stolen'));
  assert.is.not(moved.status, 0, "a maker moved another maker's signatures away");
  assert.match(moved.stderr, /not permitted/);
  assert.is(readFileSync(join(root, 'var/sigstore/keys/policy.json'), 'utf8'), readFileSync(join(containers, 'policy.json'), 'utf8'));
});

test("master: re-running with the same IP converges and keeps the makers' scopes", async () => {
  const root = copyOfConfigured();
  const before = treeHashes(root);
  const again = await runProgram('podsec-create-policy', ['--root', root, '--role', 'master', IP]);
  assert.is(again.exitCode, 0, again.stderr);
  assert.match(again.stdout, /^Nothing to change/);
  assert.equal(treeDiff(before, treeHashes(root)), []);

  // A maker's scope (as podsec-create-imagemakeruser adds it) survives a re-run; a loosening scope is dropped.
  const link = join(root, 'etc/containers/policy.json');
  const target = join(root, 'etc/containers', readlinkSync(link));
  const scope = [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/alice.pgp' }];
  writeFileSync(
    target,
    JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { 'registry.local/a': scope, 'docker.io': [{ type: 'insecureAcceptAnything' }] } } }),
  );
  writeFileSync(join(root, 'var/sigstore/keys/alice.pgp'), 'alice key\n', { mode: 0o644 });
  const rerun = await runProgram('podsec-create-policy', ['--root', root, '--role', 'master', IP]);
  assert.is(rerun.exitCode, 0, rerun.stderr);
  assert.match(rerun.stderr, /warning: \/etc\/containers\/policy\.json: the scope docker:docker\.io does not require signatures and is dropped/);
  const result = JSON.parse(readFileSync(link, 'utf8'));
  assert.equal(result, { default: [{ type: 'reject' }], transports: { docker: { 'registry.local/a': scope } } });
  assert.equal(JSON.parse(readFileSync(join(root, 'var/sigstore/keys/policy.json'), 'utf8')), result);
  const bundle = JSON.parse(readFileSync(join(root, 'var/sigstore/keys/podsec-trust-bundle.json'), 'utf8'));
  assert.equal(
    JSON.parse(bundle.manifest).files.map((f: { name: string }) => f.name),
    ['alice.pgp', 'policy.json'],
  );
});

test('a second default-docker in registries.d (podman would refuse both) is named in a warning', async () => {
  const root = copyOfConfigured();
  writeFileSync(join(root, 'etc/containers/registries.d/other.yaml'), 'default-docker:\n  lookaside: http://elsewhere/\n');
  const ran = await runProgram('podsec-create-policy', ['--root', root, '--role', 'master', IP]);
  assert.is(ran.exitCode, 0, ran.stderr);
  assert.match(ran.stderr, /warning: \/etc\/containers\/registries\.d\/other\.yaml also defines default-docker/);
});

test('--dry-run lists the changes and changes nothing', async () => {
  const root = tree('dry');
  const before = treeHashes(root);
  const ran = await runProgram('podsec-create-policy', ['--root', root, '--role', 'master', '--dry-run', IP]);
  assert.is(ran.exitCode, 0, ran.stderr);
  assert.match(ran.stdout, /^Dry run: nothing is changed/);
  for (const what of [
    '/etc/containers/policy.json',
    '/etc/containers/registries.conf',
    'default.yaml',
    'bind registry.local sigstore.local trivy.local to 10.77.0.1',
    'generate the trust key',
  ]) {
    assert.ok(ran.stdout.includes(what), what);
  }
  assert.equal(treeDiff(before, treeHashes(root)), []);
});

test("attack (item 6): a maker cannot replace the published policy, the bundle or another maker's key", async () => {
  const root = copyOfConfigured();
  writeFileSync(join(root, 'var/sigstore/keys/alice.pgp'), 'alice key\n', { mode: 0o644 });
  const before = treeHashes(root);
  // A member of podman_dev (primary group, as the test can't add supplementary ones): uid 61234.
  const script = `
    const fs = require('fs'); const dir = process.argv[1]; const out = [];
    const attempt = (what, fn) => { try { fn(); out.push(what + ': done'); } catch (e) { out.push(what + ': ' + e.code); } };
    attempt('write policy', () => fs.writeFileSync(dir + '/policy.json', '{"default":[{"type":"insecureAcceptAnything"}]}'));
    attempt('replace policy', () => {
      fs.writeFileSync('/tmp/podsec-evil-' + process.pid, 'x');
      fs.renameSync('/tmp/podsec-evil-' + process.pid, dir + '/policy.json');
    });
    attempt('unlink bundle', () => fs.unlinkSync(dir + '/podsec-trust-bundle.json'));
    attempt('write key', () => fs.writeFileSync(dir + '/alice.pgp', 'mallory key'));
    attempt('new key', () => fs.writeFileSync(dir + '/mallory.pgp', 'mallory key'));
    try { fs.unlinkSync('/tmp/podsec-evil-' + process.pid); } catch {}
    process.stdout.write(out.join('\\n'));`;
  const result = spawnSync(process.execPath, ['-e', script, join(root, 'var/sigstore/keys')], {
    uid: 61234,
    gid: PODMAN_DEV_GID,
    encoding: 'utf8',
    timeout: 10_000,
  });
  assert.is(result.status, 0, result.stderr);
  for (const line of result.stdout.split('\n')) assert.match(line, /: (EACCES|EXDEV)$/, line);
  assert.equal(treeDiff(before, treeHashes(root)), []);
});

test.run();
