/**
 * podsec-inotify-check-policy on real file trees: the Nagios plugin mode (status line, exit codes
 * 0/1/2/3, fail-closed on a malformed policy) and the watching daemon (real inotify; a drift is in
 * the journal within a second).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, rmSync, symlinkSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { COMPLIANT_POLICY, podsecTree, type Tree } from '../support/inotify-tree.ts';
import { Daemon, inotifyProgram, JOURNAL_ENV } from '../support/inotify-programs.ts';
import { run } from '../support/exec.ts';
import { withTools } from '../support/tools.ts';

const test = withTools(base, ['lsattr', 'chattr']);
let program: string;
base.before(async () => {
  program = await inotifyProgram('podsec-inotify-check-policy');
});

const check = (tree: Tree, args: string[] = []) => run(program, ['--root', tree.root, ...args], { env: JOURNAL_ENV });
const journalOf = (stderr: string) => stderr.split('\n').filter((l) => l !== '');

test('a compliant node: POLICY OK, exit 0, nothing in the journal', async () => {
  const tree = podsecTree();
  const r = await check(tree);
  assert.is(r.stdout, 'POLICY OK: Containerization policies are not violated\n');
  assert.is(r.exitCode, 0);
  assert.equal(journalOf(r.stderr), []);
  tree.cleanup();
});

test('each drift is CRITICAL with its code; the journal gets one Critical line per finding', async () => {
  const cases: [string, (t: Tree) => void, RegExp][] = [
    [
      'default insecureAcceptAnything',
      (t) => t.write('etc/containers/policy.json', JSON.stringify({ ...COMPLIANT_POLICY, default: [{ type: 'insecureAcceptAnything' }] })),
      /Critical\(102\): Users "root" have defaultPolicy!=reject/,
    ],
    [
      'registry.local removed',
      (t) => t.write('etc/containers/policy.json', JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: {} } })),
      /Critical\(103\): Users "root" do not require signatures for registry.local/,
    ],
    [
      'an unsigned registry',
      (t) =>
        t.write(
          'etc/containers/policy.json',
          JSON.stringify({
            ...COMPLIANT_POLICY,
            transports: { docker: { ...COMPLIANT_POLICY.transports.docker, 'docker.io': [{ type: 'insecureAcceptAnything' }] } },
          }),
        ),
      /Critical\(104\): Users "root" have registries that do not require signatures in policy.json: "root": "docker.io"/,
    ],
    [
      'an oci transport',
      (t) =>
        t.write(
          'etc/containers/policy.json',
          JSON.stringify({ ...COMPLIANT_POLICY, transports: { ...COMPLIANT_POLICY.transports, oci: { '': [{ type: 'insecureAcceptAnything' }] } } }),
        ),
      /Critical\(105\): Users "root" have transports other than docker in policy.json: "root": "oci"/,
    ],
    [
      'a changed lookaside',
      (t) => t.write('etc/containers/registries.d/default.yaml', 'default-docker:\n  lookaside: http://evil.example:81/sigstore/\n'),
      new RegExp(
        String.raw`Critical\(106\): Users "root" have a lookaside for registry.local other than http://sigstore.local:81/sigstore/: ` +
          String.raw`"root": "http://evil.example:81/sigstore/"`,
      ),
    ],
    [
      'a lookaside for registry.local only',
      (t) => t.write('etc/containers/registries.d/local.yaml', 'docker:\n  registry.local:\n    lookaside: http://other:81/s/\n'),
      /Critical\(106\)/,
    ],
    [
      'a malformed policy (upstream said OK)',
      (t) => t.write('etc/containers/policy.json', '{"default": [{"type": "reject"}],'),
      /Critical\(200\): Users "root" have a containers policy that cannot be used: "root": "\/etc\/containers\/policy.json":1:\d+ is not valid JSON/,
    ],
    [
      'an unknown requirement type',
      (t) => t.write('etc/containers/policy.json', JSON.stringify({ default: [{ type: 'acceptEverything' }] })),
      /Critical\(200\)/,
    ],
    ['no policy at all', (t) => rmSync(join(t.root, 'etc/containers/policy.json')), /Critical\(200\): .* is missing/],
  ];
  for (const [name, change, line] of cases) {
    const tree = podsecTree();
    change(tree);
    const r = await check(tree);
    assert.is(r.exitCode, 2, `${name}: ${r.stdout}`);
    assert.match(r.stdout, /^POLICY CRITICAL\(\d+\): Violation of user containerization policies "root" \| violations=\d+\n$/, name);
    assert.ok(
      journalOf(r.stderr).some((l) => l.startsWith('<2>Critical: ') && line.test(l)),
      `${name}:\n${r.stderr}`,
    );
    tree.cleanup();
  }
});

test('an unsafe node is not POLICY OK: configs and keys users can change are CRITICAL, a missing key is a WARNING', async () => {
  const policyWithKey = (keyPath: string) =>
    JSON.stringify({ ...COMPLIANT_POLICY, transports: { docker: { 'registry.local': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath }] } } });
  const KEY = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n-----END PGP PUBLIC KEY BLOCK-----\n';
  const cases: [string, (t: Tree) => void, number, RegExp][] = [
    [
      '/etc/containers writable by everyone',
      (t) => chmodSync(join(t.root, 'etc/containers'), 0o777),
      2,
      /Critical\(200\): .*"\/etc\/containers" writable by everyone/,
    ],
    [
      "policy.json's policy_<time> target owned by a user",
      (t) => {
        renameSync(join(t.root, 'etc/containers/policy.json'), join(t.root, 'etc/containers/policy_2026-01-01_00:00:00'));
        symlinkSync('policy_2026-01-01_00:00:00', join(t.root, 'etc/containers/policy.json'));
        chownSync(join(t.root, 'etc/containers/policy_2026-01-01_00:00:00'), 2001, 2001);
      },
      2,
      /Critical\(200\): .*"\/etc\/containers\/policy.json" -> "\/etc\/containers\/policy_2026-01-01_00:00:00" owned by uid 2001/,
    ],
    [
      'registries.d writable by the podman group',
      (t) => {
        chownSync(join(t.root, 'etc/containers/registries.d'), 0, 991);
        chmodSync(join(t.root, 'etc/containers/registries.d'), 0o775);
      },
      2,
      /Critical\(200\): .*"\/etc\/containers\/registries.d" writable by gid 991/,
    ],
    [
      'a key file owned by a user',
      (t) => chownSync(join(t.root, 'var/sigstore/keys/policy.json.pgp'), 2001, 2001),
      2,
      /Critical\(200\): Users "root" have a policy that trusts a key file a user can change: .*"\/var\/sigstore\/keys\/policy.json.pgp" owned by uid 2001/,
    ],
    [
      'a keyPath in /tmp',
      (t) => {
        t.write('tmp/key.pgp', KEY);
        chmodSync(join(t.root, 'tmp'), 0o1777);
        t.write('etc/containers/policy.json', policyWithKey('/tmp/key.pgp'));
      },
      2,
      /Critical\(200\): .*"\/tmp\/key.pgp": "\/tmp" writable by everyone/,
    ],
    [
      'a missing key file',
      (t) => t.write('etc/containers/policy.json', policyWithKey('/var/sigstore/keys/gone.pgp')),
      1,
      /High\(100\): Users "root" have a policy that names a missing key file: "root": "\/var\/sigstore\/keys\/gone.pgp"/,
    ],
  ];
  for (const [name, change, exitCode, line] of cases) {
    const tree = podsecTree();
    change(tree);
    const r = await check(tree);
    assert.is(r.exitCode, exitCode, `${name}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, exitCode === 2 ? /^POLICY CRITICAL\(\d+\)/ : /^POLICY WARNING\(100\)/, name);
    assert.ok(
      journalOf(r.stderr).some((l) => line.test(l)),
      `${name}:\n${r.stderr}`,
    );
    tree.cleanup();
  }
});

test('users: podman user in wheel (exact group names), makers exempt from default/transport checks, symlinks out of the config dir refused', async () => {
  const tree = podsecTree();
  tree.addUser('wheely', 2001, ['podman', 'wheel']);
  tree.addUser('podmanx', 2002, ['podman_dev']); // "podman" is a substring of podman_dev: not a podman user
  const maker = join(tree.root, 'home/podmanx/.config/containers');
  mkdirSync(maker, { recursive: true });
  writeFileSync(
    join(maker, 'policy.json'),
    JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }], transports: { 'docker-archive': { '': [{ type: 'insecureAcceptAnything' }] } } }),
  );
  const r = await check(tree, ['-vv']);
  assert.is(r.exitCode, 2);
  assert.match(r.stderr, /Critical\(107\): Users "wheely" are in the podman group and in the wheel group/);
  assert.not.match(r.stderr, /"podmanx"/, 'the maker is not a podman user and may accept anything');
  assert.match(r.stdout, /^107: Users "wheely"/m);

  const sneaky = podsecTree();
  const home = sneaky.addUser('sneaky', 2003, ['podman']);
  mkdirSync(join(home, '.config/containers'), { recursive: true });
  writeFileSync(join(sneaky.root, 'secret'), 'root:$y$SECRET-HASH:19000::::::\n');
  symlinkSync(join(sneaky.root, 'secret'), join(home, '.config/containers/policy.json'));
  const s = await check(sneaky, ['-vv']);
  assert.is(s.exitCode, 2);
  assert.match(s.stderr, /Critical\(200\): Users "sneaky" .*is a symlink out of its directory/);
  assert.not.match(s.stdout + s.stderr, /SECRET-HASH/);
  tree.cleanup();
  sneaky.cleanup();
});

test('share metrics: storage.conf missing and a changeable config dir; immutable (chattr +i) passes', async () => {
  const tree = podsecTree();
  const home = tree.addUser('u1', 2001, ['podman']);
  const dir = join(home, '.config/containers');
  mkdirSync(dir, { recursive: true });
  const r = await check(tree, ['-l', '0', '-c', '100', '-vv']);
  assert.match(r.stderr, /Low\(90\): Users "u1" do not have config file .config\/containers\/storage.conf/);
  assert.match(r.stderr, /Low\(90\): Users "u1" can change their .config\/containers directory/);
  assert.is(r.exitCode, 2, 'the sum 180 is over the default Nagios CRITICAL 100');
  writeFileSync(join(dir, 'storage.conf'), '[storage]\ndriver = "overlay"\n');
  execFileSync('chattr', ['+i', dir]);
  const fixed = await check(tree, ['-l', '0', '-c', '100']);
  assert.is(fixed.exitCode, 0, fixed.stdout + fixed.stderr);
  tree.cleanup();
});

test('nagios exit codes: WARNING with -w under -c; UNKNOWN for a bad range; thresholds in severity order', async () => {
  const tree = podsecTree();
  tree.write('etc/containers/policy.json', JSON.stringify({ ...COMPLIANT_POLICY, default: [{ type: 'insecureAcceptAnything' }] }));
  const warning = await check(tree, ['-w', '0', '-c', '200']);
  assert.is(warning.exitCode, 1);
  assert.match(warning.stdout, /^POLICY WARNING\(102\)/);
  const both = await check(tree, ['-w', '0', '-h', '0', '-c', '100']);
  assert.is(both.exitCode, 2, 'Critical over Warning');
  assert.match(both.stderr, /^<2>Critical: Critical\(102\)/m, 'Critical over High (upstream: High)');
  const bad = await check(tree, ['-c', '20-100']);
  assert.is(bad.exitCode, 3);
  // Nagios reads the plugin's stdout: the UNKNOWN status line must be there.
  assert.match(bad.stdout, /^POLICY UNKNOWN: invalid threshold range "20-100"$/m);
  tree.cleanup();
});

test('the Nagios plugin refuses to run as non-root on the real tree (UNKNOWN, exit 3)', async () => {
  const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', program], { env: JOURNAL_ENV });
  assert.is(r.stdout, 'POLICY Unknown plugin must be run as root user\n');
  assert.is(r.exitCode, 3);
});

test('--watch: every drift reaches the journal; a user config appearing later is watched too', async () => {
  const tree = podsecTree();
  const home = tree.addUser('u1', 2001, ['podman']);
  const daemon = new Daemon(program, ['--root', tree.root, '--watch', '--recheck', '1', '-v', '-c', '100', '-l', '0']);
  try {
    await daemon.waitFor(/^Debug: watching \d+ directories/);
    const timed = async (change: () => void, pattern: RegExp) => {
      const start = Date.now();
      change();
      // The latency (well under a second) is measured by `npm run bench`; a test only waits for the event.
      await daemon.waitFor(pattern, 60_000, start);
    };
    // An editor's way: write a temp file, rename it over policy.json.
    await timed(() => {
      tree.write('etc/containers/.policy.json.tmp', JSON.stringify({ ...COMPLIANT_POLICY, default: [{ type: 'insecureAcceptAnything' }] }));
      renameSync(join(tree.root, 'etc/containers/.policy.json.tmp'), join(tree.root, 'etc/containers/policy.json'));
    }, /^Critical: Critical\(102\): Users "root" "u1"/);
    await timed(() => tree.write('etc/containers/registries.d/default.yaml', 'default-docker:\n  lookaside: http://x/\n'), /^Critical: Critical\(106\)/);
    await timed(
      () => tree.write('etc/group', tree.read('etc/group').replace('wheel:x:10:root', 'wheel:x:10:root,u1')),
      /^Critical: Critical\(107\): Users "u1"/,
    );
    // ~/.config/containers did not exist at start: it is picked up, and its policy watched.
    await timed(() => mkdirSync(join(home, '.config/containers'), { recursive: true }), /Users "u1" can change their .config\/containers directory/);
    await timed(
      () =>
        writeFileSync(
          join(home, '.config/containers/policy.json'),
          JSON.stringify({ ...COMPLIANT_POLICY, transports: { ...COMPLIANT_POLICY.transports, dir: { '': [{ type: 'insecureAcceptAnything' }] } } }),
        ),
      /^Critical: Critical\(105\): Users "u1"/,
    );
    // chattr +i makes no inotify event: the periodic check (--recheck 1) sees it.
    const start = Date.now();
    execFileSync('chattr', ['+i', join(home, '.config/containers')]);
    await daemon.waitFor(/^Debug: finding 109 resolved/, 60_000, start);
  } finally {
    assert.is(await daemon.stop(), 0);
    tree.cleanup();
  }
});

test.run();
