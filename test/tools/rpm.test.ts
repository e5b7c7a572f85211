/**
 * The spec and the RPMs, checked by the real consumers: rpmspec, rpmbuild, rpm, rpmlint, tar.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile, chmod } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { build, type BuildResult } from '../../scripts/build.ts';
import { loadChangelog, sourceDateEpoch } from '../../scripts/changelog.ts';
import { bundleOutput, bundlePackage, programInBundle } from '../../scripts/bundle.ts';
import { renderMacros } from '../../scripts/macros.ts';
import { resolvePath } from '../../scripts/model/branches.ts';
import { programModulesDir } from '../../scripts/model/program-modules.ts';
import model from '../../scripts/model/index.ts';
import { REPO_ROOT } from '../../scripts/paths.ts';
import { buildRpms, forUpstreamRpm, macrosAltLacks, reproducibleDefines } from '../../scripts/rpm.ts';
import { ensureBuild } from '../support/build.ts';
import { run } from '../support/exec.ts';
import { expectedRows, FILE_ROWS_QUERYFORMAT, parseFileRows } from '../support/model-expectations.ts';
import { withTools } from '../support/tools.ts';

const test = withTools(base, ['rpmbuild', 'rpmspec', 'rpm', 'rpmlint', 'tar']);
const changelog = loadChangelog();
const { version, release } = changelog[0]!;
const RPM_DB = ['--dbpath', join(tmpdir(), 'podsec-test-rpmdb')];

let built: BuildResult;
const rpmOf = (name: string) => join(built.rpms[0]!, '..', `${name}-${version}-${release}.noarch.rpm`);
const sha256 = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

/** The pipeline's own bundles of each package's programs (scripts/bundle.ts), made from the same sources as %build's. */
let bundles: string;
const bundled = new Map<string, string[]>();
/** The installed paths of a package's program modules, as the pipeline's bundle names them. */
const modulesOf = (pkgName: string) => {
  const dir = resolvePath(programModulesDir(pkgName), 'p11');
  return (bundled.get(pkgName) ?? []).filter((file) => `/usr/${file}`.startsWith(`${dir}/`)).map((file) => `/usr/${file}`);
};

base.before(async () => {
  built = await ensureBuild('p11');
  bundles = await mkdtemp(join(tmpdir(), 'podsec-bundles-'));
  for (const pkg of model.packages) bundled.set(pkg.name, await bundlePackage(pkg, `${version}-${release}`, join(bundles, pkg.name)));
});

base.after(async () => {
  if (bundles) await rm(bundles, { recursive: true, force: true });
});

test('all seven packages come out of rpmbuild, named N-V-R.noarch.rpm', () => {
  const names = built.rpms.map((p) => basename(p)).sort();
  const expected = model.packages.map((p) => `${p.name}-${version}-${release}.noarch.rpm`).sort();
  assert.equal(names, expected);
});

test('rpmspec -P expands the spec with the ALT macro emulation; no ALT macro is left', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'podsec-macros-'));
  const macros = join(dir, 'alt.macros');
  await writeFile(macros, await renderMacros('p11'));
  await writeFile(join(dir, 'podsec.spec'), forUpstreamRpm(await readFile(built.spec, 'utf8')));
  const result = await run('rpmspec', ['-P', '--load', macros, join(dir, 'podsec.spec')]).finally(() => rm(dir, { recursive: true, force: true }));
  assert.is(result.exitCode, 0, result.stderr);
  for (const macro of ['%post_systemd', '%systemd_post', '%preun_systemd', '%EVR', '%_unitdir', '%_libexecdir', '%_localedir']) {
    assert.not.ok(result.stdout.includes(macro), `${macro} left unexpanded`);
  }
  assert.match(result.stdout, new RegExp(`^Requires: podsec = ${version}-${release}$`, 'm'));
});

for (const pkg of model.packages) {
  test(`${pkg.name}: every path, mode, owner, group and config flag equals the model`, async () => {
    const result = await run('rpm', ['-qp', ...RPM_DB, '--queryformat', FILE_ROWS_QUERYFORMAT, rpmOf(pkg.name)]);
    assert.is(result.exitCode, 0, result.stderr);
    assert.equal(parseFileRows(result.stdout), expectedRows(pkg, 'p11', modulesOf(pkg.name)));
  });

  test(`${pkg.name}: rpm --dump agrees (mode, owner, group, config)`, async () => {
    const result = await run('rpm', ['-qp', ...RPM_DB, '--dump', rpmOf(pkg.name)]);
    assert.is(result.exitCode, 0, result.stderr);
    const dumped = result.stdout
      .split('\n')
      .filter((line) => line !== '' && line !== '(contains no files)')
      .map((line) => {
        // path size mtime digest mode owner group isconfig isdoc rdev symlink
        const fields = line.split(' ');
        return [fields[0], Number.parseInt(fields[4]!, 8).toString(8), fields[5], fields[6], fields[7] === '1'].join(' ');
      })
      .sort();
    const expected = expectedRows(pkg, 'p11', modulesOf(pkg.name))
      .map((row) => [row.path, row.mode, row.owner, row.group, row.config].join(' '))
      .sort();
    assert.equal(dumped, expected);
  });

  test(`${pkg.name}: scriptlets carry no unexpanded macro`, async () => {
    const result = await run('rpm', ['-qp', ...RPM_DB, '--scripts', rpmOf(pkg.name)]);
    assert.is(result.exitCode, 0, result.stderr);
    assert.not.match(result.stdout, /%[{a-zA-Z_]/);
  });

  test(`${pkg.name}: requires include the model's, and what ALT's rpm-build derives from the scriptlets`, async () => {
    const result = await run('rpm', [
      '-qp',
      ...RPM_DB,
      '--queryformat',
      '[%{REQUIRENAME} %{REQUIREFLAGS:deptype} %{REQUIREFLAGS:depflags} %{REQUIREVERSION}\n]',
      rpmOf(pkg.name),
    ]);
    assert.is(result.exitCode, 0, result.stderr);
    const requires = result.stdout.split('\n').map((l) => l.trim());
    const names = requires.map((line) => line.split(' ')[0]);
    for (const dep of pkg.requires) {
      const line = dep.op ? `${dep.name} manual ${dep.op} ${dep.version === '%EVR' ? `${version}-${release}` : dep.version}` : `${dep.name} manual`;
      assert.ok(requires.includes(line), `missing Requires: ${line}\n${result.stdout}`);
    }
    // groupadd/useradd in %pre, systemctl in %post/%preun (ALT's find-scriptlet-requires adds these).
    assert.is(requires.includes('shadow-utils pre'), pkg.groups.length + pkg.users.length > 0, `Requires(pre): shadow-utils\n${result.stdout}`);
    const hasUnits = pkg.entries.some((e) => e.kind === 'system-unit');
    assert.is(requires.includes('systemd post,preun'), hasUnits, `Requires(post,preun): systemd\n${result.stdout}`);
    // The programs units start (nginx, docker-registry): what newer rpm-build derives from ExecStart=.
    for (const external of pkg.externalPrograms ?? []) assert.ok(names.includes(external.providedBy), `${external.path}: ${external.providedBy}`);
  });
}

test('ALT spec conventions: BuildRequires(pre):, man pages as %_manNdir/foo.N*, %find_lang, %doc, subpackage requires as upstream', async () => {
  const spec = await readFile(built.spec, 'utf8');
  assert.match(spec, /^BuildRequires\(pre\): rpm-macros-systemd$/m);
  assert.not.match(spec, /^BuildPreReq:/m);
  const manLines = spec.split('\n').filter((line) => /%_man\d?dir|%_mandir/.test(line) && !line.startsWith('install ') && !line.startsWith('%dir'));
  assert.ok(manLines.length > 0);
  for (const line of manLines) assert.match(line, /\/[^/]+\.[18]\*$/, line);
  for (const domain of ['podsec', 'podsec-k8s', 'podsec-k8s-rbac', 'podsec-inotify']) {
    assert.match(spec, new RegExp(`^%find_lang ${domain}$`, 'm'));
    const header = domain === 'podsec' ? '%files' : `%files ${domain.slice('podsec-'.length)}`;
    assert.match(spec, new RegExp(`^${header} -f ${domain}\\.lang$`, 'm'));
  }
  assert.not.match(spec, /^%lang\(/m, 'catalogs come from %find_lang');
  assert.match(spec, /^Requires: podsec >= %EVR$/m);
  assert.match(spec, /^Requires: podsec-k8s = %EVR$/m);
  // In the RPM: the catalog is %lang(ru), the schemas and man pages are documentation.
  const flags = await run('rpm', ['-qp', ...RPM_DB, '--queryformat', '[%{FILENAMES} %{FILELANGS} %{FILEFLAGS:fflags}\n]', rpmOf('podsec')]);
  const rows = flags.stdout.split('\n');
  assert.ok(rows.includes('/usr/share/locale/ru/LC_MESSAGES/podsec.mo ru '), flags.stdout);
  assert.ok(rows.includes('/usr/share/doc/podsec/podsec-get-platform.schema.json  d'), flags.stdout);
  assert.ok(rows.includes('/usr/share/man/man1/podsec-get-platform.1.xz  d'), flags.stdout);
  const inotify = await run('rpm', ['-qp', ...RPM_DB, '--requires', rpmOf('podsec-inotify')]);
  for (const restored of ['trivy', 'mailx']) assert.match(inotify.stdout, new RegExp(`^${restored}$`, 'm'));
});

test('the %pre scriptlets create the groups and users the model declares', async () => {
  for (const pkg of model.packages) {
    const result = await run('rpm', ['-qp', ...RPM_DB, '--queryformat', '%{PREIN}', rpmOf(pkg.name)]);
    for (const group of pkg.groups) assert.match(result.stdout, new RegExp(`groupadd -r -f ${group} `), pkg.name);
    for (const user of pkg.users) assert.match(result.stdout, new RegExp(`useradd -r -M -g ${user.group} .* ${user.name} `), pkg.name);
  }
});

test('rpmlint passes with the ALT filter configuration', async () => {
  const result = await run('rpmlint', ['-c', join(REPO_ROOT, 'specs/rpmlint-alt.toml'), ...built.rpms]);
  assert.is(result.exitCode, 0, result.stdout + result.stderr);
});

test('rpmlint fails on a real problem the configuration does not filter', async () => {
  // A world-writable directory must still be reported: the filters are narrow.
  const dir = await mkdtemp(join(tmpdir(), 'podsec-lintbad-'));
  const spec = join(dir, 'bad.spec');
  await writeFile(
    spec,
    `Name: bad\nVersion: 1\nRelease: alt1\nSummary: bad\nLicense: GPL-2.0-or-later\nGroup: ` +
      `Other\nBuildArch: noarch\n%description\nbad\n%install\ninstall -d -m 0777 ` +
      `%buildroot/var/lib/bad\n%files\n%dir /var/lib/bad\n%changelog\n* Thu Nov 26 2026 A B ` +
      `<a@example.org> 1-alt1\n- x\n`,
  );
  const rpmbuild = await run('rpmbuild', ['-bb', '--nodeps', ...reproducibleDefines(dir), spec], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  assert.is(rpmbuild.exitCode, 0, rpmbuild.stderr);
  const rpms = await readdir(join(dir, 'RPMS', 'noarch'));
  const result = await run('rpmlint', ['-c', join(REPO_ROOT, 'specs/rpmlint-alt.toml'), join(dir, 'RPMS', 'noarch', rpms[0]!)]);
  assert.is.not(result.exitCode, 0, result.stdout);
  await rm(dir, { recursive: true, force: true });
});

test('the spec expands with nothing but the ALT macro file: no macro is left that ALT lacks', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'podsec-altonly-'));
  try {
    const macros = join(dir, 'alt.macros');
    await writeFile(macros, await renderMacros('p11'));
    await writeFile(join(dir, 'podsec.spec'), forUpstreamRpm(await readFile(built.spec, 'utf8')));
    // --macros: this file alone, none of Debian's rpm macro files.
    const result = await run('rpmspec', ['-P', '--macros', macros, '--define', 'buildroot /BUILDROOT', join(dir, 'podsec.spec')]);
    assert.is(result.exitCode, 0, result.stderr);
    assert.match(
      result.stdout,
      /^install -D -p -m 0644 tree\/localedir\/ru\/LC_MESSAGES\/podsec\.mo \/BUILDROOT\/usr\/share\/locale\/ru\/LC_MESSAGES\/podsec\.mo$/m,
    );
    assert.match(result.stdout, /^Requires: podsec = 2\.0\.0-alt1$/m);
    assert.match(result.stdout, /systemctl -q preset podsec-registry\.service/);
    assert.match(result.stdout, /-d \/var\/lib\/u7s-admin /);
    assert.equal(await macrosAltLacks(await readFile(built.spec, 'utf8'), await renderMacros('p11')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the ALT macro file defines no macro ALT lacks: %_localedir unconditionally, or %make_build, fails the build check', async () => {
  const spec = await readFile(built.spec, 'utf8');
  const macros = await renderMacros('p11');
  assert.not.match(macros, /^%_localedir\b/m, 'rpm-build 4.0.4-alt135 has no %_localedir');
  assert.match(macros, /^# rpm-build$/m);
  assert.match(macros, /^# rpm-macros-systemd$/m);
  const unconditional = spec.replace(/^%\{!\?_localedir:.*\n/m, '');
  assert.is.not(unconditional, spec);
  assert.equal(await macrosAltLacks(unconditional, macros), ['_localedir']);
  // A Debian-only macro (rpm 4.18 defines %_rundir; ALT's rpm-build does not).
  assert.equal(await macrosAltLacks(spec.replace('%install\n', '%install\nmkdir -p %buildroot%_rundir/podsec\n'), macros), ['_rundir']);
  // The RPM step refuses such a spec before rpmbuild runs.
  const dir = await mkdtemp(join(tmpdir(), 'podsec-altlacks-'));
  try {
    await writeFile(join(dir, 'podsec.spec'), unconditional);
    const input = { specFile: join(dir, 'podsec.spec'), tarball: built.tarball, macrosText: macros, sourceDateEpoch: 0, outDir: join(dir, 'RPMS') };
    await buildRpms(input).then(
      () => assert.unreachable('built a spec using %_localedir unconditionally'),
      (error: Error) => assert.match(error.message, /uses %_localedir, which neither ALT's rpm-build nor rpm-macros-systemd defines/),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the tarball is deterministic in shape: sorted, uid/gid 0, one mtime, one top directory', async () => {
  const result = await run('tar', ['--numeric-owner', '--full-time', '-tvf', built.tarball], { env: { TZ: 'UTC' } });
  assert.is(result.exitCode, 0, result.stderr);
  const lines = result.stdout.trim().split('\n');
  const names = lines.map((l) => l.split(/\s+/).slice(5).join(' '));
  // Sorted by path; tar lists directories with a trailing slash, which is not part of the order.
  const paths = names.map((n) => n.replace(/\/$/, ''));
  assert.equal(paths, [...paths].sort());
  const epochDate = new Date(sourceDateEpoch(changelog) * 1000).toISOString().slice(0, 10);
  for (const line of lines) {
    const [, owner, , date] = line.split(/\s+/);
    assert.is(owner, '0/0', line);
    if (!line.startsWith('d')) assert.is(date, epochDate, line);
  }
  assert.ok(names.every((n) => n.startsWith(`podsec-${version}/`)));
  assert.ok(names.includes(`podsec-${version}/src/bin/podsec-get-platform.ts`));
  assert.ok(names.includes(`podsec-${version}/src/node_modules/yaml/package.json`), 'runtime dependencies ship as sources');
  assert.ok(names.includes(`podsec-${version}/src/node_modules/yaml/LICENSE`), 'with their licences');
});

test('no prebuilt bundle in the tarball: %build bundles every program from src/ with esbuild (BuildRequires)', async () => {
  const spec = await readFile(built.spec, 'utf8');
  assert.match(spec, /^BuildRequires: esbuild$/m);
  const buildSection = spec.slice(spec.indexOf('\n%build\n'), spec.indexOf('\n%install\n'));
  const programs = model.packages.flatMap((pkg) =>
    pkg.entries.flatMap((e) => (e.content && 'program' in e.content ? [{ pkg, entry: e, program: e.content.program }] : [])),
  );
  assert.ok(programs.length > 20);
  for (const { program } of programs) assert.match(buildSection, new RegExp(`^\\t\\S+=bin/${program}\\.ts( \\\\)?$`, 'm'), program);
  for (const { pkg, entry } of programs) {
    assert.ok(spec.includes(`\ninstall -D -p -m 0${entry.mode.toString(8)} ${bundleOutput(pkg.name, entry.path)} %buildroot${entry.path}\n`), entry.path);
  }
  const listing = await run('tar', ['-xOf', built.tarball, '--wildcards', `podsec-${version}/tree/*`]);
  assert.is(listing.exitCode, 0, listing.stderr);
  assert.not.match(listing.stdout, /#!\/usr\/bin\/node/, 'a bundled program in tree/');
  const tarList = (await run('tar', ['-tf', built.tarball])).stdout;
  assert.not.match(tarList, /\/tree\/bindir\/podsec-get-platform$/m);
});

test("the programs and modules %build made are byte-identical to the pipeline's own bundles of the same sources", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'podsec-programs-'));
  try {
    for (const rpm of built.rpms) {
      const extract = await run('sh', ['-c', 'rpm2cpio "$1" | cpio -idm --quiet', 'sh', rpm], { cwd: dir });
      assert.is(extract.exitCode, 0, extract.stderr);
    }
    let compared = 0;
    for (const pkg of model.packages) {
      const same = async (installedPath: string, bundledFile: string) => {
        const installed = await readFile(join(dir, installedPath), 'utf8');
        assert.ok(installed === (await readFile(join(bundles, pkg.name, bundledFile), 'utf8')), `${installedPath} differs from the pipeline's bundle`);
        compared++;
      };
      for (const entry of pkg.entries) {
        if (entry.content && 'program' in entry.content) await same(resolvePath(entry.path, 'p11'), programInBundle(entry.path));
      }
      for (const module of modulesOf(pkg.name)) await same(module, module.slice('/usr/'.length));
      const modulesDir = resolvePath(programModulesDir(pkg.name), 'p11');
      const installedModules = await readdir(join(dir, modulesDir)).catch(() => []);
      assert.equal(installedModules.map((name) => `${modulesDir}/${name}`).sort(), modulesOf(pkg.name).sort(), `${pkg.name}: the modules installed`);
    }
    assert.ok(compared > 40);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('dist/gear holds the spec, .gear/rules and the same tree as the tarball', async () => {
  const rules = await readFile(join(built.gearDir, '.gear', 'rules'), 'utf8');
  assert.match(rules, /^tar: \. name=@name@-@version@/m);
  assert.is(await readFile(join(built.gearDir, 'podsec.spec'), 'utf8'), await readFile(built.spec, 'utf8'));
  const tarList = await run('tar', ['-tf', built.tarball]);
  for (const name of tarList.stdout.trim().split('\n')) {
    if (name.endsWith('/')) continue;
    const inGear = join(built.gearDir, name.slice(`podsec-${version}/`.length));
    await readFile(inGear).catch(() => assert.unreachable(`${inGear} missing from dist/gear`));
  }
});

test('reproducible: two builds in different directories at different times are byte-identical', async () => {
  const dirs = [await mkdtemp(join(tmpdir(), 'podsec-repro-a-')), await mkdtemp(join(tmpdir(), 'podsec-repro-b-'))];
  try {
    const results: BuildResult[] = [];
    for (const dir of dirs) {
      results.push(await build({ branch: 'p11', outDir: join(dir, 'dist'), model, log: () => {}, force: true }));
      await new Promise((resolve) => setTimeout(resolve, 1100)); // a different second for the second build
    }
    const [a, b] = results as [BuildResult, BuildResult];
    assert.is(await sha256(a.tarball), await sha256(b.tarball), 'tarball differs');
    assert.is(a.rpms.length, 7);
    for (let i = 0; i < a.rpms.length; i++) {
      assert.is(basename(a.rpms[i]!), basename(b.rpms[i]!));
      assert.is(await sha256(a.rpms[i]!), await sha256(b.rpms[i]!), `${basename(a.rpms[i]!)} differs`);
    }
  } finally {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
});

test('the installed program is the bundled entrypoint: #!/usr/bin/node, mode 0755, no node_modules at run time', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'podsec-rpm2cpio-'));
  const extract = await run('sh', ['-c', 'rpm2cpio "$1" | cpio -idm --quiet', 'sh', rpmOf('podsec')], { cwd: dir });
  assert.is(extract.exitCode, 0, extract.stderr);
  const program = join(dir, 'usr/bin/podsec-get-platform');
  const text = await readFile(program, 'utf8');
  assert.ok(text.startsWith('#!/usr/bin/node\n'));
  // What the program and its modules require: node's own modules, or the package's modules by a relative path.
  const modulesDir = join(dir, resolvePath(programModulesDir('podsec'), 'p11'));
  const modules = (await readdir(modulesDir)).map((name) => join(modulesDir, name));
  assert.ok(modules.length > 0, 'the programs of podsec share modules');
  for (const file of [program, ...modules]) {
    const code = await readFile(file, 'utf8');
    assert.not.ok(code.startsWith('#!') && file !== program, `${file}: a module has no shebang`);
    for (const [, required] of code.matchAll(/require\(["']([^"']+)["']\)/g)) {
      if (required!.startsWith('node:') || builtinModules.includes(required!)) continue;
      assert.ok(required!.startsWith('.'), `${file} requires ${required}`);
      assert.is(dirname(join(dirname(file), required!)), modulesDir, `${file} requires ${required}, outside the package's modules`);
    }
  }
  await chmod(program, 0o755);
  const result = await run(process.execPath, [program, '--version']);
  assert.is(result.stdout, `podsec-get-platform (podsec) ${version}-${release}\n`);
  await rm(dir, { recursive: true, force: true });
});

test.run();
