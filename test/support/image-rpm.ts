/**
 * RPMs for the image tests that the repository does not build: a synthetic package of units and
 * preset files (to prove the enablement expectation against real systemd), and our packages
 * rebuilt with a bumped release (the upgrade test's N+1) from a temp copy of the repository,
 * so the checkout's changelog is never edited.
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import YAML from 'yaml';
import type { ChangelogEntry } from '../../scripts/changelog.ts';
import { REPO_ROOT } from '../../scripts/paths.ts';

/** Builds `<name>-1-alt1.noarch.rpm` installing `units` into %_unitdir and `presets` into %_presetdir. */
export async function buildUnitsRpm(
  work: string,
  macrosFile: string,
  name: string,
  units: Record<string, string>,
  presets: Record<string, string>,
): Promise<string> {
  const heredoc = (dir: string, file: string, text: string) => {
    if (text.includes('%') || text.includes('\nEOF')) throw new Error(`${file}: no % or EOF lines in test units`);
    return [`cat > %{buildroot}${dir}/${file} <<'EOF'`, text.trimEnd(), 'EOF'];
  };
  const spec = [
    `Name: ${name}`,
    'Version: 1',
    'Release: alt1',
    'Summary: unit enablement test package',
    'License: GPL-2.0-or-later',
    'Group: Development/Other',
    'BuildArch: noarch',
    '',
    '%description',
    'Units and presets for the image tests.',
    '',
    '%install',
    'mkdir -p %{buildroot}%_unitdir %{buildroot}%_presetdir',
    ...Object.entries(units).flatMap(([f, t]) => heredoc('%_unitdir', f, t)),
    ...Object.entries(presets).flatMap(([f, t]) => heredoc('%_presetdir', f, t)),
    '',
    '%post',
    `%post_systemd ${Object.keys(units).join(' ')}`,
    '',
    '%preun',
    `%preun_systemd ${Object.keys(units).join(' ')}`,
    '',
    '%files',
    ...Object.keys(units).map((f) => `%_unitdir/${f}`),
    ...Object.keys(presets).map((f) => `%_presetdir/${f}`),
    '',
  ].join('\n');
  const specFile = join(work, `${name}.spec`);
  await fs.writeFile(specFile, spec);
  const r = await execa('rpmbuild', ['-bb', '--load', macrosFile, '--define', `_topdir ${work}/rpmbuild`, '--define', `_dbpath ${work}/rpmdb`, specFile], {
    reject: false,
    stdin: 'ignore',
    timeout: 120_000,
  });
  const rpm = join(work, 'rpmbuild/RPMS/noarch', `${name}-1-alt1.noarch.rpm`);
  if (r.exitCode !== 0 || !existsSync(rpm)) throw new Error(`rpmbuild ${name} failed: ${r.stderr}`);
  return rpm;
}

/** What a repository copy needs to build (node_modules is linked, not copied). */
const BUILD_TREE = ['scripts', 'bin', 'specs', 'units', 'policies', 'package.json', 'package-lock.json', 'tsconfig.json'];

/** `alt1` -> `alt2`. */
export const bumpRelease = (release: string) => release.replace(/(\d+)$/, (n) => String(Number(n) + 1));

/**
 * Our packages with the newest changelog entry's release bumped, built by a copy of the
 * repository into `work`. Returns the RPMs and the new release.
 */
export async function buildBumpedRelease(work: string): Promise<{ rpms: string[]; release: string; version: string }> {
  const copy = join(work, 'repo');
  await fs.mkdir(copy, { recursive: true });
  for (const item of BUILD_TREE) {
    if (!existsSync(join(REPO_ROOT, item))) continue;
    await execa('cp', ['-a', join(REPO_ROOT, item), join(copy, item)]);
  }
  await fs.symlink(join(REPO_ROOT, 'node_modules'), join(copy, 'node_modules'));
  const changelogFile = join(copy, 'specs/changelog.yaml');
  const entries = YAML.parse(await fs.readFile(changelogFile, 'utf8')) as ChangelogEntry[];
  const top = entries[0]!;
  const next: ChangelogEntry = { ...top, release: bumpRelease(top.release), changes: ['Rebuild with a bumped release for the upgrade test.'] };
  await fs.writeFile(changelogFile, YAML.stringify([next, ...entries]));
  const out = join(work, 'dist');
  const r = await execa(process.execPath, ['--import', 'tsx', join(copy, 'scripts/cli.ts'), 'build', '--out', out], {
    cwd: copy,
    reject: false,
    stdin: 'ignore',
    timeout: 10 * 60_000,
  });
  if (r.exitCode !== 0) throw new Error(`build of the bumped release failed (${r.exitCode}):\n${r.stderr}\n${r.stdout}`);
  const dir = join(out, 'RPMS/noarch');
  const rpms = (await fs.readdir(dir))
    .filter((f) => f.endsWith('.rpm'))
    .map((f) => join(dir, f))
    .sort();
  if (!rpms.some((r) => r.endsWith(`-${next.version}-${next.release}.noarch.rpm`))) {
    throw new Error(`bumped build produced ${rpms.map((r) => r.slice(r.lastIndexOf('/') + 1)).join(', ')}, not ${next.release}`);
  }
  return { rpms, release: next.release, version: next.version };
}

export const macrosOf = (specFile: string, branch = 'p11') => join(dirname(specFile), 'macros', `${branch}.macros`);
