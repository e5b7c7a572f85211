import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OsReleaseSyntaxError, parseOsRelease } from '../../bin/lib/os-release.ts';
import { platformFromOsRelease, resolvePlatform, UnknownPlatformError } from '../../bin/lib/platform.ts';
import { runTs } from '../support/exec.ts';

test('os-release: quoting rules of os-release(5)', () => {
  const fields = parseOsRelease(`# comment\nNAME="ALT Server"\nID=altlinux\nPRETTY='it''s'\nX="a \\"q\\" \\$HOME"\n\n`);
  assert.is(fields.NAME, 'ALT Server');
  assert.is(fields.ID, 'altlinux');
  assert.is(fields.X, 'a "q" $HOME');
});

test('os-release: shell syntax is data, never executed, and bad lines are refused', () => {
  assert.is(parseOsRelease('CPE_NAME="$(touch /tmp/pwned)"').CPE_NAME, '$(touch /tmp/pwned)');
  assert.throws(
    () => parseOsRelease('ID=$(reboot)'),
    (e: unknown) => e instanceof OsReleaseSyntaxError,
  );
  assert.throws(
    () => parseOsRelease('export ID=alt'),
    (e: unknown) => e instanceof OsReleaseSyntaxError,
  );
  assert.throws(
    () => parseOsRelease('ID="unterminated'),
    (e: unknown) => e instanceof OsReleaseSyntaxError,
  );
});

const cases: [Record<string, string>, string][] = [
  [{ ALT_BRANCH_ID: 'c10f2' }, 'c10f'],
  [{ ALT_BRANCH_ID: 'c10f1' }, 'c10f'],
  [{ ALT_BRANCH_ID: 'p11' }, 'p11'],
  [{ ALT_BRANCH_ID: 'sisyphus', CPE_NAME: 'cpe:/o:alt:server:10.1' }, 'sisyphus'],
  [{ CPE_NAME: 'cpe:/o:alt:spserver:10' }, 'c10f'],
  [{ CPE_NAME: 'cpe:/o:alt:server:10.1' }, 'p10'],
  [{ CPE_NAME: 'cpe:/o:alt:workstation:11' }, 'p11'],
  [{ CPE_NAME: 'cpe:/o:alt:sisyphus:20240101' }, 'sisyphus'],
];
for (const [fields, expected] of cases) {
  test(`platform of ${JSON.stringify(fields)} is ${expected}`, () => {
    assert.is(platformFromOsRelease(fields).platform, expected);
  });
}

test('platform: non-ALT or malformed os-release is an error, not a guess', () => {
  const malformed: Record<string, string>[] = [
    { ID: 'debian' },
    { CPE_NAME: 'cpe:/o:debian:debian_linux:12' },
    { CPE_NAME: 'cpe:/o:alt:server:' },
    { ALT_BRANCH_ID: '../p10' },
  ];
  for (const fields of malformed) {
    assert.throws(
      () => platformFromOsRelease(fields),
      (e: unknown) => e instanceof UnknownPlatformError,
      JSON.stringify(fields),
    );
  }
});

test('platform: U7S_PLATFORM wins without reading os-release; a bad value is refused', () => {
  let read = false;
  const result = resolvePlatform({ U7S_PLATFORM: 'p10' }, () => ((read = true), {}));
  assert.equal(result, { platform: 'p10', source: 'U7S_PLATFORM' });
  assert.not.ok(read);
  assert.throws(
    () => resolvePlatform({ U7S_PLATFORM: 'p10/../x' }, () => ({})),
    (e: unknown) => e instanceof UnknownPlatformError,
  );
});

function rootWith(osRelease: string | undefined, at = 'etc/os-release'): string {
  const root = mkdtempSync(join(tmpdir(), 'podsec-platform-'));
  if (osRelease !== undefined) {
    mkdirSync(join(root, at, '..'), { recursive: true });
    writeFileSync(join(root, at), osRelease);
  }
  return root;
}

const cli = (args: string[], env: Record<string, string | undefined> = {}) =>
  runTs('bin/podsec-get-platform.ts', args, { env: { U7S_PLATFORM: undefined, LANG: 'C', LC_ALL: undefined, ...env }, timeoutMs: 30_000 });

test('podsec-get-platform --root reads DIR/etc/os-release (and /usr/lib/os-release as fallback)', async () => {
  const root = rootWith('NAME="ALT"\nALT_BRANCH_ID=p11\n');
  const fallback = rootWith('CPE_NAME="cpe:/o:alt:server:10.2"\n', 'usr/lib/os-release');
  try {
    const a = await cli(['--root', root]);
    assert.equal([a.exitCode, a.stdout, a.stderr], [0, 'p11\n', '']);
    const b = await cli(['--root', fallback]);
    assert.equal([b.exitCode, b.stdout], [0, 'p10\n']);
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(fallback, { recursive: true, force: true });
  }
});

test('podsec-get-platform: U7S_PLATFORM is taken and said on stderr', async () => {
  const result = await cli([], { U7S_PLATFORM: 'c10f' });
  assert.is(result.stdout, 'c10f\n');
  assert.match(result.stderr, /predefined by the variable U7S_PLATFORM/);
});

test('podsec-get-platform: bad input gets one line on stderr and a non-zero exit', async () => {
  const empty = rootWith(undefined);
  const debian = rootWith('ID=debian\nVERSION_ID="12"\n');
  const broken = rootWith('ID=$(reboot)\n');
  try {
    for (const [args, code] of [
      [['--root', empty], 1],
      [['--root', debian], 1],
      [['--root', broken], 1],
      [['--root', join(empty, 'missing')], 2],
      [['--bogus'], 2],
      [['extra'], 2],
    ] as [string[], number][]) {
      const result = await cli(args);
      assert.is(result.exitCode, code, `${args.join(' ')}: ${result.stderr}`);
      assert.is(result.stdout, '');
      assert.is(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
      assert.ok(result.stderr.startsWith('podsec-get-platform: '), result.stderr);
    }
  } finally {
    for (const dir of [empty, debian, broken]) rmSync(dir, { recursive: true, force: true });
  }
});

test('podsec-get-platform --help and --version', async () => {
  const help = await cli(['--help']);
  assert.is(help.exitCode, 0);
  for (const option of ['--root DIR', '--help', '--version']) assert.ok(help.stdout.includes(option), option);
  const version = await cli(['--version']);
  assert.match(version.stdout, /^podsec-get-platform \(podsec\) \S+\n$/);
});

test.run();
