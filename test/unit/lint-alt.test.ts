import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { lintSpec, lintTree, type Finding, type LintOptions } from '../../scripts/lint/rules.ts';
import { changelogHeader, formatChangelog, isAltPackager, loadChangelog, parseChangelog, readChangelogHeader, withPackager } from '../../scripts/changelog.ts';
import { REPO_ROOT } from '../../scripts/paths.ts';

const SPECS_DIR = 'test/fixtures/specs';
const OPTIONS: LintOptions = {
  knownDirs: ['%_sysconfdir/nagwad'],
  rootMacros: ['%_bindir', '%_sysconfdir', '%_datadir', '%_localstatedir', '%_unitdir', '%_userunitdir', '%_modules_loaddir', '%_man1dir'],
};

const readSpec = (name: string) => readFileSync(join(REPO_ROOT, SPECS_DIR, name), 'utf8');
const good = readSpec('good.spec');

/** The 1-based number of the only line of `specText` containing `text`. */
function lineOf(specText: string, text: string): number {
  const numbers = specText.split('\n').flatMap((line, index) => (line.includes(text) ? [index + 1] : []));
  assert.is(numbers.length, 1, `exactly one line contains '${text}'`);
  return numbers[0]!;
}

/** The good spec with one unique piece of text replaced. */
function goodWith(old: string, replacement: string): string {
  assert.is(good.split(old).length, 2, `good.spec contains '${old}' once`);
  return good.replace(old, replacement);
}

const ruleAndLine = (findings: Finding[]) => findings.map(({ rule, line }) => [rule, line]);
const rulesOf = (findings: Finding[]) => [...new Set(findings.map(({ rule }) => rule))];

test('the good spec has no findings', () => {
  assert.equal(lintSpec(good, OPTIONS), []);
});

/** Each bad fixture: its rule and where its findings are (a marker text on the line, or 0 for a missing thing). */
const BAD_FIXTURES: { rule: string; at: (string | 0)[] }[] = [
  { rule: 'release', at: ['Release: 1.fc39'] },
  { rule: 'required-tags', at: [0, '%package -n podsec-inotify'] },
  { rule: 'group', at: ['Group: Development/JavaScript'] },
  { rule: 'weak-deps', at: ['Recommends: podman-docker'] },
  { rule: 'unpackaged', at: [0] },
  { rule: 'changelog', at: ['* Mon Aug 01 2025'] },
  { rule: 'env-s', at: ['#!/usr/bin/env -S node'] },
  { rule: 'dir-owned', at: ['%_datadir/podsec/k8s/*'] },
  { rule: 'config-etc', at: ['%config %{_datadir}/podsec/functions'] },
  { rule: 'hardcoded-path', at: ['unitdir=/lib/systemd/system'] },
  { rule: 'buildarch', at: [0] },
];

for (const { rule, at } of BAD_FIXTURES) {
  test(`bad-${rule}.spec yields only '${rule}' findings, on the right lines`, () => {
    const spec = readSpec(`bad-${rule}.spec`);
    const expected = at.map((marker) => [rule, marker === 0 ? 0 : lineOf(spec, marker)]);
    assert.equal(ruleAndLine(lintSpec(spec, OPTIONS)), expected);
  });
}

test('release: alt0, 1 and 1.fc39 fail; alt0.1, alt2.qa1 and alt1.1.1 pass', () => {
  for (const release of ['alt0', '1', '1.fc39', 'alt1~rc1', 'ALT1']) {
    const spec = goodWith('Release: alt1\n', `Release: ${release}\n`).replace('> 2.0.0-alt1', `> 2.0.0-${release}`);
    assert.equal(ruleAndLine(lintSpec(spec, OPTIONS)), [['release', 6]], release);
  }
  for (const release of ['alt0.1', 'alt2.qa1', 'alt1.1.1']) {
    const spec = goodWith('Release: alt1\n', `Release: ${release}\n`).replace('> 2.0.0-alt1', `> 2.0.0-${release}`);
    assert.equal(lintSpec(spec, OPTIONS), [], release);
  }
});

test('required-tags: a %package without Group is reported on its %package line', () => {
  const spec = goodWith('Group: System/Configuration/Other\n', '');
  assert.equal(ruleAndLine(lintSpec(spec, OPTIONS)), [['required-tags', lineOf(spec, '%package k8s')]]);
});

test('weak-deps: Suggests, Supplements and Enhances are findings too', () => {
  for (const tag of ['Suggests', 'Supplements', 'Enhances']) {
    const spec = goodWith('Requires: podman\n', `Requires: podman\n${tag}: skopeo\n`);
    assert.equal(ruleAndLine(lintSpec(spec, OPTIONS)), [['weak-deps', lineOf(spec, `${tag}:`)]]);
  }
});

const NEWEST = '* Mon Nov 24 2025 Test Packager <tester@altlinux.org> 2.0.0-alt1';
const OLDER = '* Fri Aug 01 2025 Test Packager <tester@altlinux.org> 1.1.20-alt2';

test('changelog: each broken convention is reported on the offending line', () => {
  const cases: [string, string, string][] = [
    ['dates ascending', OLDER, '* Wed Dec 31 2025 Test Packager <tester@altlinux.org> 1.1.20-alt2'],
    ['not a real date', OLDER, '* Sat Feb 30 2025 Test Packager <tester@altlinux.org> 1.1.20-alt2'],
    ['non-English month', OLDER, '* Fri Avg 01 2025 Test Packager <tester@altlinux.org> 1.1.20-alt2'],
    ['single-digit day', OLDER, '* Fri Aug 1 2025 Test Packager <tester@altlinux.org> 1.1.20-alt2'],
    ['no version-release', OLDER, '* Fri Aug 01 2025 Test Packager <tester@altlinux.org>'],
    ['newest is not Version-Release', NEWEST, NEWEST.replace('2.0.0-alt1', '2.0.0-alt2')],
    ['no blank line between entries', `\n${OLDER}`, OLDER],
    ['two blank lines between entries', OLDER, `\n${OLDER}`],
    ['item without "- "', 'permissions.\n', 'permissions.\n+ Also this.\n'],
    ['non-printable character', '- Fix u7s-admin', '- Fix\x07 u7s-admin'],
  ];
  for (const [name, old, replacement] of cases) {
    const spec = goodWith(old, replacement);
    const line = lineOf(spec, replacement.trim().split('\n').at(-1)!.slice(0, 30));
    assert.equal(ruleAndLine(lintSpec(spec, OPTIONS)), [['changelog', line]], name);
  }
});

test('changelog: an entry without items, equal dates and an epoch', () => {
  const noItems = goodWith('- Fix u7s-admin home directory permissions.\n', '');
  assert.equal(ruleAndLine(lintSpec(noItems, OPTIONS)), [['changelog', lineOf(noItems, OLDER)]]);
  assert.equal(lintSpec(goodWith(OLDER, OLDER.replace('Fri Aug 01', 'Mon Nov 24')), OPTIONS), []);
  const withEpoch = goodWith('Version: 2.0.0\n', 'Epoch: 1\nVersion: 2.0.0\n');
  assert.equal(rulesOf(lintSpec(withEpoch, OPTIONS)), ['changelog']);
  assert.equal(lintSpec(withEpoch.replace('> 2.0.0-alt1', '> 1:2.0.0-alt1'), OPTIONS), []);
  assert.equal(ruleAndLine(lintSpec(good.replace(/%changelog[^]*/, ''), OPTIONS)), [['changelog', 0]]);
});

test('changelog: every header scripts/changelog.ts writes reads back as written, without a problem', () => {
  for (const entry of loadChangelog()) {
    const header = readChangelogHeader(changelogHeader(entry));
    assert.equal(header, { time: Date.parse(`${entry.date}T00:00:00Z`), evr: `${entry.version}-${entry.release}`, problems: [] });
  }
});

test('changelog: an item that is a stringified value or has no letter is not plain text', () => {
  for (const item of ['[object Object]', 'podsec-k8s: [object Object]', 'undefined', 'null', '---']) {
    const spec = goodWith('- Fix u7s-admin home directory permissions.', `- ${item}`);
    const findings = lintSpec(spec, OPTIONS);
    assert.equal(ruleAndLine(findings), [['changelog', lineOf(spec, `- ${item}`)]], item);
  }
  assert.equal(lintSpec(goodWith('- Fix u7s-admin', '- podsec-k8s: fix u7s-admin'), OPTIONS), [], 'a colon in text is text');
});

const ENTRY = (changes: string) => `- date: 2026-11-26\n  author: A B <a@example.org>\n  version: 2.0.0\n  release: alt1\n  changes:\n${changes}`;

test('changelog.yaml schema: every item is text; a mapping, a number or a boolean item is refused with its path', () => {
  assert.equal(parseChangelog(ENTRY("    - 'podsec-k8s: quoted'\n"))[0]!.changes, ['podsec-k8s: quoted']);
  const cases: [string, RegExp][] = [
    ['    - podsec-k8s: cgroup delegation\n', /\/0\/changes\/0 must be string: \{"podsec-k8s":"cgroup delegation"\}/],
    ['    - 1.5\n', /\/0\/changes\/0 must be string: 1\.5/],
    ['    - true\n', /\/0\/changes\/0 must be string/],
    ['    - [a, b]\n', /\/0\/changes\/0 must be string/],
    ['    - "tab\\there"\n', /\/0\/changes\/0 must match pattern/],
    ['    []\n', /\/0\/changes must NOT have fewer than 1 items/],
  ];
  for (const [changes, message] of cases) assert.throws(() => parseChangelog(ENTRY(changes)), message, changes);
  assert.throws(() => parseChangelog(ENTRY('    - x\n').replace('version: 2.0.0', 'version: 2.0')), /\/0\/version must be string/);
  assert.throws(() => parseChangelog(ENTRY('    - x\n') + '  extra: 1\n'), /must NOT have additional properties/);
});

test('changelog: the project changelog renders as plain text the lint accepts', () => {
  const text = formatChangelog(loadChangelog());
  assert.not.match(text, /\[object /);
  const spec = good.replace(/%changelog[^]*/, `%changelog\n${text}`);
  assert.equal(
    lintSpec(spec, OPTIONS).filter((f) => f.rule === 'changelog' && !f.message.includes('newest entry')),
    [],
  );
});

test('packager: ALT addresses pass (sisyphus_check spellings); others are refused by the lint and by withPackager', () => {
  for (const good of ['Ivan Ivanov <ivan@altlinux.org>', 'I. I. <ivan@altlinux.ru>', 'Ivan <ivan at altlinux dot org>', 'Ivan <ivan@packages.altlinux.org>']) {
    assert.ok(isAltPackager(good), good);
    assert.equal(lintSpec(goodWith('Url: ', `Packager: ${good}\nUrl: `), OPTIONS), [], good);
  }
  for (const bad of [
    'Podsec Developers <podsec-devel@example.org>',
    '<ivan@altlinux.org>',
    'Ivan ivan@altlinux.org',
    'Ivan <ivan@altlinux.org.evil>',
    'Ivan <ivan@notaltlinux.org>',
  ]) {
    assert.not.ok(isAltPackager(bad), bad);
    const spec = goodWith('Url: ', `Packager: ${bad}\nUrl: `);
    assert.equal(ruleAndLine(lintSpec(spec, OPTIONS)), [['packager', lineOf(spec, 'Packager:')]], bad);
    assert.throws(() => withPackager(loadChangelog(), bad), /sisyphus_check's packager pattern/);
  }
  const [newest, ...older] = withPackager(loadChangelog(), 'Ivan Ivanov <ivan@altlinux.org>');
  assert.equal(newest, { ...loadChangelog()[0]!, author: 'Ivan Ivanov <ivan@altlinux.org>' });
  assert.equal(older, loadChangelog().slice(1));
});

test('env-s: env with one argument is fine; -S, two arguments, `-p` interpreters and CR are not', () => {
  const script = (shebang: string) => goodWith('%pre\n', `%pre\necho '${shebang}' > /tmp/x\n`);
  assert.equal(lintSpec(script('#!/usr/bin/env node'), OPTIONS), []);
  for (const shebang of ['#!/usr/bin/env -S node', '#!/usr/bin/env node --flag', '#!/bin/env -S', '#!/bin/sh\r']) {
    const spec = script(shebang);
    assert.equal(ruleAndLine(lintSpec(spec, OPTIONS)), [['env-s', lineOf(spec, 'echo ')]], JSON.stringify(shebang));
  }
  const interpreter = goodWith('%post k8s\n', '%post k8s -p /usr/bin/env -S node\n');
  assert.equal(ruleAndLine(lintSpec(interpreter, OPTIONS)), [['env-s', lineOf(interpreter, '%post k8s -p')]]);
  const changelogMention = goodWith('- Split monitors', '- Drop #!/usr/bin/env -S node, split monitors');
  assert.equal(lintSpec(changelogMention, OPTIONS), []);
});

test('dir-owned: nested unowned directories, %exclude, literal known dirs and options', () => {
  const nested = goodWith('%_bindir/podsec-save-oci\n', '%_datadir/podsec/a/b/c.sh\n');
  assert.equal(ruleAndLine(lintSpec(nested, OPTIONS)), [['dir-owned', lineOf(nested, 'c.sh')]]);
  assert.match(lintSpec(nested, OPTIONS)[0]!.message, "'%_datadir/podsec/a/b'");
  assert.equal(lintSpec(goodWith('%_bindir/podsec-save-oci\n', '%exclude %_datadir/podsec/a/b/c.sh\n'), OPTIONS), []);
  const literal = goodWith('%_bindir/podsec-save-oci\n', '%_sbindir/podsec-save-oci\n/opt/podsec/x\n');
  assert.equal(
    ruleAndLine(lintSpec(literal, OPTIONS)).map(([rule]) => rule),
    ['dir-owned', 'dir-owned'],
  );
  assert.equal(lintSpec(literal, { knownDirs: [...OPTIONS.knownDirs, '/opt/podsec/'], rootMacros: [...OPTIONS.rootMacros, '%{_sbindir}'] }), []);
  assert.equal(rulesOf(lintSpec(good, { knownDirs: [], rootMacros: OPTIONS.rootMacros })), ['dir-owned']);
});

test('config-etc: %config under a literal /etc/ is fine for config-etc (hardcoded-path reports it)', () => {
  const spec = goodWith('%_sysconfdir/podsec/policy.json', '/etc/podsec/policy.json');
  assert.equal(rulesOf(lintSpec(spec, { ...OPTIONS, knownDirs: [...OPTIONS.knownDirs, '/etc/podsec'] })), ['hardcoded-path']);
});

test('hardcoded-path: every literal is reported with the macro to use', () => {
  const cases: [string, string][] = [
    ['/usr/lib/systemd/user/u7s-kubelet.service', '%_userunitdir'],
    ['/usr/lib/systemd/system/u7s.service', '%_unitdir'],
    ['/lib/modules-load.d/u7s.conf', '%_modules_loaddir'],
    ['/usr/bin/podsec-k8s-create-master', '%_bindir'],
    ['/etc/podsec/x.json', '%_sysconfdir'],
  ];
  for (const [path, macro] of cases) {
    const spec = goodWith('mkdir -p %buildroot%_localstatedir/podsec\n', `install -Dm644 x %buildroot${path}\nmkdir -p %buildroot%_localstatedir/podsec\n`);
    const findings = lintSpec(spec, OPTIONS);
    assert.equal(ruleAndLine(findings), [['hardcoded-path', lineOf(spec, 'install -Dm644')]], path);
    assert.match(findings[0]!.message, macro);
  }
});

test('hardcoded-path: scriptlets too (useradd -d /var/lib/NAME is %_localstatedir/NAME)', () => {
  const cases: [string, string, string][] = [
    ['%pre k8s\n', "useradd -r -M -g u7s-admin -d /var/lib/u7s-admin -c 'x' u7s-admin ||:", '%_localstatedir'],
    ['%pre\n', 'chmod 0644 /etc/podsec/x.json', '%_sysconfdir'],
    ['%post k8s\n', 'ln -sfn usernetes/containers "/var/lib/u7s-admin/.local/share/containers"', '%_localstatedir'],
    ['%preun k8s\n', 'rm -f /usr/share/podsec/cache', '%_datadir'],
  ];
  for (const [header, line, macro] of cases) {
    const spec = goodWith(header, `${header}${line}\n`);
    const findings = lintSpec(spec, OPTIONS);
    assert.equal(ruleAndLine(findings), [['hardcoded-path', lineOf(spec, line)]], line);
    assert.match(findings[0]!.message, macro);
  }
  assert.equal(lintSpec(goodWith('%pre\n', '%pre\nuseradd -d %_localstatedir/x -s /dev/null x >/dev/null 2>&1 ||:\n'), OPTIONS), []);
});

test('buildarch: a BuildArch other than noarch is reported on its line', () => {
  const spec = goodWith('BuildArch: noarch', 'BuildArch: x86_64');
  assert.equal(ruleAndLine(lintSpec(spec, OPTIONS)), [['buildarch', lineOf(spec, 'BuildArch:')]]);
});

async function withTree(files: Record<string, [string, number]>, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'lint-alt-'));
  try {
    for (const [path, [content, mode]] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), content);
      await chmod(join(dir, path), mode);
    }
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const TREE: Record<string, [string, number]> = {
  'bin/podsec-version': ['#!/usr/bin/env -S node --flag\nconsole.log(1)\n', 0o755],
  'bin/podsec-crlf': ['#!/bin/sh\r\necho hi\r\n', 0o755],
  'bin/podsec-ok': ['#!/bin/sh\necho ok\n', 0o755],
  'bin/podsec-node': ['#!/usr/bin/env node\nconsole.log(1)\n', 0o755],
  'lib/module.mjs': ['#!/usr/bin/env -S node --flag\nexport {}\n', 0o644],
  'lib/crlf.sh': ['#!/bin/sh\r\n', 0o644],
  '.hidden/tool': ['#!/usr/bin/env -S bash -e\n', 0o700],
};

test('lintTree: executable env -S and CRLF shebangs are findings; non-executable files are ignored', async () => {
  await withTree(TREE, async (dir) => {
    const findings = await lintTree(dir);
    assert.equal(
      findings.map(({ file, line, rule }) => [file, line, rule]),
      [
        ['.hidden/tool', 1, 'env-s'],
        ['bin/podsec-crlf', 1, 'env-s'],
        ['bin/podsec-version', 1, 'env-s'],
      ],
    );
    assert.match(findings[1]!.message, 'trailing CR');
  });
});

function runCli(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'scripts/lint/cli.ts', ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
}

test('CLI: exit 1 with SPEC:LINE: RULE: on stderr for a bad spec, 0 for the good one', () => {
  const badSpec = `${SPECS_DIR}/bad-release.spec`;
  const bad = runCli(badSpec, '--known-dir', '%_sysconfdir/nagwad');
  assert.is(bad.status, 1, bad.stderr);
  assert.match(bad.stderr, `${badSpec}:${lineOf(readSpec('bad-release.spec'), 'Release:')}: release: `);

  const ok = runCli(`${SPECS_DIR}/good.spec`, '--known-dir', '%_sysconfdir/nagwad');
  assert.is(ok.status, 0, ok.stderr);
  assert.is(ok.stderr, '');

  const narrowRoots = runCli(`${SPECS_DIR}/good.spec`, '--known-dir', '%_sysconfdir/nagwad', '--root-macro', '%_bindir');
  assert.is(narrowRoots.status, 1);
  assert.match(narrowRoots.stderr, ': dir-owned: ');
});

test('CLI: --tree reports the offending file of the tree', async () => {
  await withTree(TREE, async (dir) => {
    const result = runCli(`${SPECS_DIR}/good.spec`, '--known-dir', '%_sysconfdir/nagwad', '--tree', dir);
    assert.is(result.status, 1);
    assert.match(result.stderr, `${join(dir, 'bin/podsec-version')}:1: env-s: `);
  });
});

test.run();
