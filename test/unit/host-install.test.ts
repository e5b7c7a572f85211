/**
 * What `npm run build` and `npm test` install: the missing-package detection, the plan and its
 * messages, and the installer run against a recording double of dpkg-query and apt-get
 * (test/fixtures/apt/apt-double.cjs) on PATH; and .ci/run keeps no package list of its own.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { aptListsStale, ensureHostPackages, missingNeeds, parseDpkgQuery, planInstall, type HostFacts } from '../../scripts/host-install.ts';
import { HOST_NEEDS, type HostNeed } from '../../scripts/host-packages.ts';
import { BUILD_PACKAGES } from '../../scripts/k8s-tools/recipe.ts';
import { REPO_ROOT } from '../../scripts/paths.ts';

const DOUBLE = join(REPO_ROOT, 'test', 'fixtures', 'apt', 'apt-double.cjs');
const BUILD = HOST_NEEDS.build;
const debs = (needs: readonly HostNeed[]) => needs.map((n) => n.deb);
const rootDebian: HostFacts = { debian: true, root: true, optOut: false };

test('dpkg-query: installed versions, everything else absent', () => {
  const out = 'gcc\tii \t4:12.2.0-3\nlibc6:amd64\tii \t2.36-9\nconmon\tiU \t2.1.6\n';
  assert.equal(parseDpkgQuery(out, ['gcc', 'libc6', 'conmon', 'nothing']), { gcc: '4:12.2.0-3', libc6: '2.36-9', conmon: 'absent', nothing: 'absent' });
});

test('one list per purpose: the tests need what the build and k8s-tools need; k8s-tools reads its list from there', () => {
  assert.ok(debs(BUILD).includes('rpm'));
  for (const deb of [...debs(BUILD), ...debs(HOST_NEEDS['k8s-tools'])]) assert.ok(debs(HOST_NEEDS.test).includes(deb), deb);
  assert.equal(new Set(debs(HOST_NEEDS.test)).size, HOST_NEEDS.test.length, 'each package once');
  assert.equal([...BUILD_PACKAGES], debs(HOST_NEEDS['k8s-tools']));
  for (const need of HOST_NEEDS.test) assert.ok(need.why.length > 0, need.deb);
});

test('missing: by dpkg on Debian, by command elsewhere; kubectl from anywhere meets kubernetes-client', () => {
  const none = () => false;
  assert.equal(debs(missingNeeds(BUILD, new Set(['rpm', 'bzip2']), none)), ['xz-utils']);
  assert.equal(debs(missingNeeds(BUILD, undefined, (c) => c !== 'rpmspec')), ['rpm'], 'off Debian: rpm-build lacks rpmspec');
  const kubectl = HOST_NEEDS.test.filter((n) => n.deb === 'kubernetes-client');
  assert.equal(debs(missingNeeds(kubectl, new Set(), (c) => c === 'kubectl')), [], 'a kubectl is there: no kubernetes-client');
  assert.equal(debs(missingNeeds(kubectl, new Set(['kubernetes-client']), none)), ['kubernetes-client'], 'decided by the command alone');
  const library = HOST_NEEDS.test.filter((n) => n.deb === 'libseccomp-dev');
  assert.equal(missingNeeds(library, undefined, none), [], 'off Debian a library cannot be checked');
});

test('plan as root on Debian: update, then install exactly what is missing, each named with why', () => {
  const missing = BUILD.filter((n) => n.deb === 'rpm');
  const plan = planInstall('build', missing, rootDebian);
  assert.is(plan.update, true);
  assert.equal(plan.install, ['rpm']);
  assert.match(plan.lines[0]!, /^npm run build: installing with apt-get/);
  assert.equal(plan.lines.slice(1), [`  rpm — ${missing[0]!.why}`]);
  assert.equal(planInstall('build', [], rootDebian), { update: false, install: [], lines: [] }, 'nothing missing: nothing said or done');
});

test('plan when not root, or opted out: the exact command and what goes without, nothing run', () => {
  for (const [facts, reason] of [
    [{ ...rootDebian, root: false }, 'not root'],
    [{ ...rootDebian, optOut: true }, 'PODSEC_NO_INSTALL is set'],
  ] as const) {
    const plan = planInstall('test', BUILD, facts, true);
    assert.is(plan.update, false);
    assert.equal(plan.install, []);
    assert.ok(plan.lines[0]!.includes(`(${reason})`), plan.lines[0]);
    assert.ok(
      plan.lines.includes('  install them as root with: apt-get update && apt-get install --no-install-recommends rpm xz-utils bzip2'),
      plan.lines.join('\n'),
    );
    assert.match(plan.lines.at(-1)!, /skipped .*CI=true/);
  }
  assert.match(planInstall('build', BUILD, { ...rootDebian, root: false }).lines.at(-1)!, /RPMs and their repository are not built/);
});

test('plan off Debian: ALT package names, and the commands where no ALT name is known', () => {
  const missing = HOST_NEEDS.test.filter((n) => ['rpm', 'mmdebstrap'].includes(n.deb));
  const plan = planInstall('test', missing, { debian: false, root: true, optOut: false });
  assert.equal(plan.install, []);
  assert.match(plan.lines[0]!, /not a Debian host \(no dpkg-query\), nothing installed/);
  assert.ok(plan.lines.includes('  on ALT, as root: apt-get install rpm-build'), plan.lines.join('\n'));
  assert.ok(
    plan.lines.some((l) => l.includes('mmdebstrap (Debian: mmdebstrap)')),
    plan.lines.join('\n'),
  );
});

test('stale package lists: a test run as root refreshes them even with nothing missing', () => {
  assert.is(planInstall('test', [], rootDebian, true).update, true);
  assert.is(planInstall('test', [], { ...rootDebian, root: false }, true).update, false);
  const dir = mkdtempSync(join(tmpdir(), 'podsec-apt-lists-'));
  const lists = { dir, stamp: join(dir, 'stamp') };
  try {
    writeFileSync(lists.stamp, '');
    assert.is(aptListsStale(lists), true, 'no index');
    writeFileSync(join(dir, 'deb.example_debian_dists_bookworm_main_binary-amd64_Packages.lz4'), '');
    assert.is(aptListsStale(lists), false, 'an index and a fresh stamp');
    const twoDaysAgo = (Date.now() - 2 * 24 * 3600_000) / 1000;
    utimesSync(lists.stamp, twoDaysAgo, twoDaysAgo);
    assert.is(aptListsStale(lists), true, 'the last update here is older than a day');
    rmSync(lists.stamp);
    assert.is(aptListsStale(lists), true, 'no update made here');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('as root with stale lists and nothing missing: apt-get update alone, and the stamp is touched', async () => {
  const host = doubleHost(['rpm', 'xz-utils', 'bzip2']);
  const lists = { dir: host.dir, stamp: join(host.dir, 'stamp') };
  try {
    const { lines, log } = collect();
    await ensureHostPackages('build', { log, env: host.env, root: true, freshLists: true, lists });
    assert.equal(
      host.calls().map((c) => `${c.name} ${c.argv[0]}`),
      ['dpkg-query -W', 'apt-get update'],
    );
    assert.match(lines.join('\n'), /apt-get update \(none made here in the last day/);
    assert.is(aptListsStale(lists), true, 'still no index in this directory');
    writeFileSync(join(host.dir, 'x_Packages'), '');
    assert.is(aptListsStale(lists), false, 'the stamp was touched');
  } finally {
    host.remove();
  }
});

/** A PATH holding only node and the double as dpkg-query and apt-get (no real apt is reachable); `dpkg: false` leaves them out. */
function doubleHost(installed: string[], options: { dpkg?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'podsec-apt-double-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  if (options.dpkg !== false) for (const name of ['dpkg-query', 'apt-get']) symlinkSync(DOUBLE, join(bin, name));
  writeFileSync(join(dir, 'installed'), installed.map((p) => `${p}\n`).join(''));
  writeFileSync(join(dir, 'log'), '');
  const env = { PATH: bin, APT_DOUBLE_LOG: join(dir, 'log'), APT_DOUBLE_INSTALLED: join(dir, 'installed') };
  const calls = () =>
    readFileSync(join(dir, 'log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { name: string; argv: string[] });
  return { dir, bin, env, calls, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const collect = () => {
  const lines: string[] = [];
  return { lines, log: (line: string) => void lines.push(line) };
};

test('as root on Debian: dpkg-query, apt-get update, apt-get install of the missing only, then checked again', async () => {
  const host = doubleHost(['xz-utils', 'bzip2']);
  try {
    const { lines, log } = collect();
    const still = await ensureHostPackages('build', { log, env: host.env, root: true });
    assert.equal(still, []);
    const calls = host.calls();
    assert.equal(
      calls.map((c) => c.name),
      ['dpkg-query', 'apt-get', 'apt-get', 'dpkg-query'],
    );
    assert.is(calls[1]!.argv[0], 'update');
    assert.equal(calls[0]!.argv.slice(-3), ['rpm', 'xz-utils', 'bzip2'], 'asks about every need');
    const install = calls[2]!.argv;
    assert.equal(install.slice(0, 4), ['install', '-y', '-q', '--no-install-recommends']);
    assert.equal(install.at(-1), 'rpm');
    assert.not.ok(install.includes('xz-utils'), 'installed packages are not installed again');
    assert.match(lines.join('\n'), /installing with apt-get[^]*\n {2}rpm — rpmbuild/);
  } finally {
    host.remove();
  }
});

test('a failing apt-get is reported and its packages stay missing', async () => {
  const host = doubleHost([]);
  try {
    const { lines, log } = collect();
    const still = await ensureHostPackages('build', { log, env: { ...host.env, APT_DOUBLE_FAIL: 'install' }, root: true });
    assert.equal(debs(still), ['rpm', 'xz-utils', 'bzip2']);
    assert.ok(lines.includes('npm run build: apt-get install failed (exit 100)'), lines.join('\n'));
  } finally {
    host.remove();
  }
});

test('not root, or PODSEC_NO_INSTALL=1: apt-get is never run; the missing are returned and named', async () => {
  for (const [extra, root] of [
    [{}, false],
    [{ PODSEC_NO_INSTALL: '1' }, true],
  ] as const) {
    const host = doubleHost(['rpm']);
    try {
      const { lines, log } = collect();
      const still = await ensureHostPackages('build', { log, env: { ...host.env, ...extra }, root });
      assert.equal(debs(still), ['xz-utils', 'bzip2']);
      assert.equal(
        host.calls().map((c) => c.name),
        ['dpkg-query'],
      );
      assert.ok(
        lines.some((l) => l.endsWith('apt-get install --no-install-recommends xz-utils bzip2')),
        lines.join('\n'),
      );
    } finally {
      host.remove();
    }
  }
});

test('no dpkg-query on PATH: not Debian, judged by the commands, nothing run', async () => {
  const host = doubleHost([], { dpkg: false });
  try {
    symlinkSync(process.execPath, join(host.bin, 'xz'));
    const { lines, log } = collect();
    const still = await ensureHostPackages('build', { log, env: host.env, root: true });
    assert.equal(debs(still), ['rpm', 'bzip2']);
    assert.equal(host.calls(), []);
    assert.ok(lines.includes('  on ALT, as root: apt-get install rpm-build bzip2'), lines.join('\n'));
  } finally {
    host.remove();
  }
});

test('.ci/run keeps no package list: it installs nothing itself and runs the README test command', () => {
  const code = readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8')
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join('\n');
  assert.not.match(code, /apt-get|dpkg|apt /);
  for (const need of HOST_NEEDS.test) {
    assert.not.ok(new RegExp(`(^|[\\s'"(])${need.deb.replace(/[.+]/g, '\\$&')}($|[\\s'")])`, 'm').test(code), `${need.deb} in .ci/run`);
  }
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  assert.ok(readme.includes('npm test                   #'), 'the README names npm test as its second command');
  assert.match(code, /\nnpm ci[^\n]*\nnpm test\s*$/, 'npm ci, then the test command, last');
});

test.run();
