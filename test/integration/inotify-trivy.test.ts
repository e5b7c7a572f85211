/**
 * podsec-inotify-check-vuln and podsec-inotify-build-invulnerable-image with trivy replaced by a
 * clearly named test double (test/fixtures/inotify/trivy-double, first in PATH as `trivy`: it
 * records its argv and prints canned `--format json` reports per case). What is checked: the exact
 * trivy command line (client mode against $U7S_TRIVY_SERVER:4954, JSON, HIGH and CRITICAL, the image
 * after `--`), the journal line and exit code for no findings, HIGH, CRITICAL, a trivy failure, an
 * unreadable report and trivy absent ("not installed", exit 3, never OK); images found in every
 * storage (root's overlay, a user's vfs storage, u7s-admin's usernetes storage); image names from a
 * user's images.json passed as data. build-invulnerable-image builds with the real podman (an
 * isolated storage) and removes an image that is not clean.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { inotifyProgram, JOURNAL_ENV } from '../support/inotify-programs.ts';
import { podsecTree } from '../support/inotify-tree.ts';
import { run, type Ran } from '../support/exec.ts';
import { withTools } from '../support/tools.ts';
import { enterableTempDir } from '../support/temp-dir.ts';

const DOUBLE = realpathSync(fileURLToPath(new URL('../fixtures/inotify/trivy-double', import.meta.url)));
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const test = base;
const withPodman = withTools(base, ['podman']);

let work = '';
let withTrivy = ''; // a bin dir holding only `trivy` -> the double
let empty = ''; // a bin dir with nothing
let checkVuln = '';
let buildImage = '';
let logFile = '';
let logCount = 0;

base.before(async () => {
  work = enterableTempDir('podsec-inotify-trivy-');
  withTrivy = join(work, 'bin');
  empty = join(work, 'empty');
  mkdirSync(withTrivy);
  mkdirSync(empty);
  symlinkSync(DOUBLE, join(withTrivy, 'trivy'));
  checkVuln = await inotifyProgram('podsec-inotify-check-vuln');
  buildImage = await inotifyProgram('podsec-inotify-build-invulnerable-image');
});

base.after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Invocation {
  argv: string[];
  server: string | null;
}

/** Runs a program with the double first in PATH (or without any trivy); returns its result and the double's invocations. */
async function runWith(
  program: string,
  args: string[],
  options: { trivy?: boolean; env?: Record<string, string>; path?: string; cwd?: string } = {},
): Promise<Ran & { calls: Invocation[]; journal: string[] }> {
  logFile = join(work, `trivy-${++logCount}.log`);
  const path = options.trivy === false ? [empty, options.path].filter(Boolean).join(':') : `${withTrivy}:${options.path ?? SYSTEM_PATH}`;
  const r = await run(program, args, { env: { ...JOURNAL_ENV, PATH: path, TRIVY_DOUBLE_LOG: logFile, ...options.env }, cwd: options.cwd, timeoutMs: 120_000 });
  const calls = existsSync(logFile)
    ? readFileSync(logFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Invocation)
    : [];
  return { ...r, calls, journal: r.stderr.split('\n').filter((l) => /^<\d>/.test(l)) };
}

const trivyArgv = (image: string, server = 'http://trivy.local:4954') => [
  'image',
  '--quiet',
  '--format',
  'json',
  '--exit-code',
  '0',
  '--server',
  server,
  '--severity',
  'HIGH,CRITICAL',
  '--',
  image,
];

/** Writes a containers-storage image list the way podman does (driver dir, id, names, digest). */
function images(storage: string, driver: string, names: string[][]): void {
  const list = names.map((n, i) => {
    const hex = (i + 1).toString(16).padStart(64, String(i % 10));
    return { id: hex, ...(n.length ? { names: n } : {}), digest: `sha256:${hex}`, created: '2026-01-01T00:00:00Z' };
  });
  mkdirSync(join(storage, `${driver}-images`), { recursive: true });
  writeFileSync(join(storage, `${driver}-images/images.json`), JSON.stringify(list));
}

const HIGH_LINE = (image: string, user: string) =>
  `<3>High: In the image ${JSON.stringify(image)} of the user ${JSON.stringify(user)} high vulnerabilities found (HIGH: 2)`;
const CRITICAL_LINE = (image: string, user: string) =>
  `<2>Critical: In the image ${JSON.stringify(image)} of the user ${JSON.stringify(user)}` +
  ` critical and high vulnerabilities were discovered (CRITICAL: 1, HIGH: 2)`;

test(
  'check-vuln: every storage is scanned; clean → nothing, HIGH → High (3), CRITICAL → Critical (2), failure → Fatal (1); ' + 'exit is the worst, 5',
  async () => {
    const tree = podsecTree();
    const r = 'registry.local/podsec';
    images(join(tree.root, 'var/lib/containers/storage'), 'overlay', [
      [`${r}/clean:1`],
      [`${r}/noresults:1`],
      [`${r}/high:1`, `${r}/high:latest`],
      [`${r}/critical:1`],
      [`${r}/fail:1`],
    ]);
    const alice = tree.addUser('alice', 2001, ['podman']);
    images(join(alice, '.local/share/containers/storage'), 'vfs', [[`${r}/alice-high:1`]]);
    images(join(tree.root, 'var/lib/u7s-admin/.local/share/usernetes/containers/storage'), 'overlay', [[`${r}/kube-critical:1`]]);
    try {
      const ran = await runWith(checkVuln, ['--root', tree.root]);
      assert.is(ran.exitCode, 5, ran.stderr);
      assert.equal(
        ran.calls.map((c) => c.argv),
        [`${r}/clean:1`, `${r}/noresults:1`, `${r}/high:1`, `${r}/critical:1`, `${r}/fail:1`, `${r}/alice-high:1`, `${r}/kube-critical:1`].map((image) =>
          trivyArgv(image),
        ),
      );
      assert.equal(ran.journal, [
        HIGH_LINE(`${r}/high:1`, 'root'),
        CRITICAL_LINE(`${r}/critical:1`, 'root'),
        `<1>Fatal: The trivy vulnerability analysis command failed for the image ${JSON.stringify(`${r}/fail:1`)}` +
          ` of the user "root": 2026-01-01T00:00:00Z\\tFATAL\\tFatal error\\trun error` +
          `: image scan error: scan error: unable to initialize a scan service: twirp error unavailable` +
          `: dial tcp: lookup http://trivy.local:4954: no such host`,
        HIGH_LINE(`${r}/alice-high:1`, 'alice'),
        CRITICAL_LINE(`${r}/kube-critical:1`, 'u7s-admin'),
      ]);
      assert.not.match(ran.stdout, /OK/);
    } finally {
      tree.cleanup();
    }
  },
);

test('check-vuln: one image per case gives the documented exit code (0 clean, 0 no targets, 4 HIGH, 5 CRITICAL, 3 failure, 3 unreadable report)', async () => {
  const cases: [string, number, RegExp | undefined][] = [
    ['clean', 0, undefined],
    ['noresults', 0, undefined],
    ['high', 4, /^<3>High: In the image "registry.local\/x\/high:1" of the user "root" high vulnerabilities found \(HIGH: 2\)$/],
    [
      'critical',
      5,
      new RegExp(
        String.raw`^<2>Critical: In the image "registry.local/x/critical:1" of the user "root" ` +
          String.raw`critical and high vulnerabilities were discovered \(CRITICAL: 1, HIGH: 2\)$`,
      ),
    ],
    ['fail', 3, /^<1>Fatal: The trivy vulnerability analysis command failed for the image "registry.local\/x\/fail:1" of the user "root": .*no such host$/],
    [
      'garbage',
      3,
      /^<1>Fatal: The trivy vulnerability analysis command failed for the image "registry.local\/x\/garbage:1" of the user "root": unreadable trivy report: /,
    ],
  ];
  for (const [kase, code, line] of cases) {
    const tree = podsecTree();
    images(join(tree.root, 'var/lib/containers/storage'), 'overlay', [[`registry.local/x/${kase}:1`]]);
    try {
      const ran = await runWith(checkVuln, ['--root', tree.root]);
      assert.is(ran.exitCode, code, `${kase}: ${ran.stderr}`);
      if (line) {
        assert.is(ran.journal.length, 1, `${kase}: ${ran.journal.join('\n')}`);
        assert.match(ran.journal[0]!, line);
      } else assert.equal(ran.journal, [], kase);
    } finally {
      tree.cleanup();
    }
  }
});

test('check-vuln: U7S_TRIVY_SERVER names the server; upstream unit options (-vvv -c 100) are accepted; a nameless image is not scanned', async () => {
  const tree = podsecTree();
  images(join(tree.root, 'var/lib/containers/storage'), 'overlay', [['registry.local/x/clean:1'], []]);
  try {
    const ran = await runWith(checkVuln, ['-vvv', '-c', '100', '--root', tree.root], { env: { U7S_TRIVY_SERVER: 'scanner.example' } });
    assert.is(ran.exitCode, 0, ran.stderr);
    assert.equal(
      ran.calls.map((c) => c.argv),
      [trivyArgv('registry.local/x/clean:1', 'http://scanner.example:4954')],
    );
    assert.equal(ran.journal.length, 1);
    assert.match(ran.journal[0]!, /^<5>Low: The image "[0-9a-f]{64}" of the user "root" has no name and is not scanned$/);
  } finally {
    tree.cleanup();
  }
});

test('trivy absent: check-vuln says "not installed" and exits 3, also on a node without images; never OK', async () => {
  for (const withImages of [true, false]) {
    const tree = podsecTree();
    if (withImages) images(join(tree.root, 'var/lib/containers/storage'), 'overlay', [['registry.local/x/clean:1']]);
    try {
      const ran = await runWith(checkVuln, ['--root', tree.root], { trivy: false });
      assert.is(ran.exitCode, 3, ran.stderr);
      assert.equal(ran.journal, ['<1>Fatal: trivy is not installed: container images are not scanned for vulnerabilities']);
      assert.match(ran.stderr, /podsec-inotify-check-vuln: trivy is not installed/);
      assert.not.match(ran.stdout + ran.stderr, /\bOK\b/);
      assert.equal(ran.calls, []);
    } finally {
      tree.cleanup();
    }
  }
});

test("image names from a user's images.json reach trivy as one argument after --; the canary never appears", async () => {
  const tree = podsecTree();
  const canary = join(work, 'CANARY');
  const hostile = [`x';touch ${canary};'`, `$(touch ${canary})`, `\`touch ${canary}\``, `--server=http://evil.example`, `-o${canary}`, `a\nCritical: forged`];
  const mallory = tree.addUser('mallory', 2002, ['podman']);
  images(
    join(mallory, '.local/share/containers/storage'),
    'overlay',
    hostile.map((n) => [n]),
  );
  try {
    const ran = await runWith(checkVuln, ['--root', tree.root]);
    assert.not.ok(existsSync(canary), 'the canary file appeared');
    assert.equal(
      ran.calls.map((c) => c.argv),
      hostile.map((n) => trivyArgv(n)),
    );
    assert.is(ran.exitCode, 0, ran.stderr); // the double finds nothing in them
    const forged = await runWith(checkVuln, ['--root', tree.root], { env: { TRIVY_DOUBLE_CASE: 'high' } });
    assert.is(forged.exitCode, 4);
    assert.is(forged.journal.length, hostile.length, forged.journal.join('\n'));
    for (const name of hostile)
      assert.ok(
        forged.journal.some((l) => l.includes(JSON.stringify(name))),
        name,
      );
    assert.not.ok(existsSync(canary), 'the canary file appeared');
  } finally {
    tree.cleanup();
  }
});

test('build-invulnerable-image without a Dockerfile scans only: 0 / 4 / 5 / 3, journal as check-vuln; no arguments → usage, exit 1', async () => {
  const cases: [string, number][] = [
    ['clean', 0],
    ['high', 4],
    ['critical', 5],
    ['fail', 3],
  ];
  for (const [kase, code] of cases) {
    const image = `registry.local/x/${kase}:1`;
    const ran = await runWith(buildImage, [image]);
    assert.is(ran.exitCode, code, `${kase}: ${ran.stderr}`);
    assert.equal(
      ran.calls.map((c) => c.argv),
      [trivyArgv(image)],
    );
    if (code === 0) assert.equal(ran.journal, []);
    else
      assert.match(ran.journal[0]!, code === 4 ? /^<3>High: / : code === 5 ? /^<2>Critical: / : /^<1>Fatal: The trivy vulnerability analysis command failed/);
  }
  const usage = await runWith(buildImage, []);
  assert.is(usage.exitCode, 1);
  assert.match(usage.stderr, /Format: podsec-inotify-build-invulnerable-image <image_name>/);
  assert.equal(usage.calls, []);
});

test('build-invulnerable-image with trivy absent: "not installed", exit 3, nothing built', async () => {
  for (const args of [['registry.local/x/clean:1'], ['localhost/podsec-test/never:1', join(work, 'no-such-Dockerfile'), work]]) {
    const ran = await runWith(buildImage, args, { trivy: false, path: SYSTEM_PATH });
    assert.is(ran.exitCode, 3, ran.stderr);
    assert.equal(ran.journal, ['<1>Fatal: trivy is not installed: the image "' + args[0] + '" is not built or scanned']);
    assert.match(ran.stderr, /trivy is not installed/);
  }
});

/** An isolated root podman: its own storage and engine dirs (nothing of the host's is touched). */
function podmanEnv(): Record<string, string> {
  const dir = mkdtempSync(join(work, 'podman-'));
  writeFileSync(join(dir, 'storage.conf'), `[storage]\ndriver = "vfs"\ngraphroot = "${dir}/graph"\nrunroot = "${dir}/run"\n`);
  writeFileSync(
    join(dir, 'containers.conf'),
    `[engine]\ntmp_dir = "${dir}/tmp"\nstatic_dir = "${dir}/static"\nvolume_path = "${dir}/volumes"\nevents_logger = "none"\n`,
  );
  mkdirSync(join(dir, 'home'));
  return { CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'), CONTAINERS_CONF: join(dir, 'containers.conf'), HOME: join(dir, 'home') };
}

withPodman(
  'build-invulnerable-image builds with podman; a HIGH/CRITICAL/unscannable image is removed, a ' +
    'clean one kept; build options after the context, with or without --',
  async () => {
    const env = podmanEnv();
    const context = join(work, 'context');
    mkdirSync(context, { recursive: true });
    writeFileSync(join(context, 'payload'), 'payload\n');
    writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nCOPY payload /payload\n');
    const podman = (args: string[]) => run('podman', args, { env: { ...process.env, ...env }, timeoutMs: 120_000 });
    const present = async (image: string) => (await podman(['image', 'exists', image])).exitCode === 0;

    const clean = await runWith(buildImage, ['localhost/podsec-test/clean:1', join(context, 'Dockerfile'), context, '--label', 'podsec.test=legacy'], { env });
    assert.is(clean.exitCode, 0, clean.stderr);
    assert.ok(await present('localhost/podsec-test/clean:1'), 'a clean image is kept');
    const label = await podman(['image', 'inspect', '--format', '{{index .Labels "podsec.test"}}', 'localhost/podsec-test/clean:1']);
    assert.is(label.stdout.trim(), 'legacy', 'options after the context reach podman build');

    for (const [kase, code] of [
      ['high', 4],
      ['critical', 5],
      ['fail', 3],
    ] as const) {
      const image = `localhost/podsec-test/${kase}:1`;
      const ran = await runWith(buildImage, [image, 'Dockerfile', '--', '--label', 'podsec.test=dashdash'], { env, cwd: context });
      assert.is(ran.exitCode, code, `${kase}: ${ran.stderr}`);
      assert.equal(
        ran.calls.map((c) => c.argv),
        [trivyArgv(image)],
      );
      assert.not.ok(await present(image), `${image} must have been removed`);
      assert.match(ran.stderr, new RegExp(`Image ${image} of user root has been deleted\\.`));
    }

    writeFileSync(join(context, 'Broken'), 'FROM scratch\nCOPY missing-file /x\n');
    const broken = await runWith(buildImage, ['localhost/podsec-test/broken:1', join(context, 'Broken'), context], { env });
    assert.is(broken.exitCode, 2, broken.stderr);
    assert.equal(broken.journal, ['<1>Fatal: Building image "localhost/podsec-test/broken:1" failed. Image analysis is skipped.']);
    assert.equal(broken.calls, [], 'no scan after a failed build');
    await podman(['rmi', '--all', '--force']);
  },
);

test.run();
