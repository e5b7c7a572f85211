/** Render step for the spec: the package model and the changelog -> podsec.spec text. */
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import ejs from 'ejs';
import { buildCommand, bundleOutput, modulesOutput } from './bundle.ts';
import { formatChangelog, type ChangelogEntry } from './changelog.ts';
import { specPath, treePath } from './layout.ts';
import { programModulesDir } from './model/program-modules.ts';
import type { Dependency, Entry, PackageDecl, ProjectModel } from './model/types.ts';
import { plainText } from './render.ts';
import { REPO_ROOT } from './paths.ts';

const SPEC_TEMPLATE = 'specs/podsec.spec.ejs';

const octal = (mode: number) => mode.toString(8).padStart(4, '0');

function dependencyLine(dep: Dependency): string {
  return dep.op ? `${dep.name} ${dep.op} ${dep.version}` : dep.name;
}

/** The shell lines of %install that put one entry of `pkg` into the buildroot. */
function installLines(pkg: PackageDecl, entry: Entry): string[] {
  const dest = `%buildroot${specPath(entry.path)}`;
  switch (entry.kind) {
    case 'dir': {
      const made = `install -d -m ${octal(entry.mode)} ${dest}`;
      if (entry.path !== programModulesDir(pkg.name)) return [made];
      // The modules %build split off the package's programs (none when they share nothing).
      const modules = modulesOutput(pkg.name);
      return [made, `if [ -d ${modules} ]; then install -p -m 0644 -t ${dest} ${modules}/*.js; fi`];
    }
    case 'symlink':
      return [`install -d -m 0755 ${posix.dirname(dest)} && ln -sfn ${entry.target} ${dest}`];
    default: {
      // Programs come from %build; everything else from the staged tree.
      const source = entry.content && 'program' in entry.content ? bundleOutput(pkg.name, entry.path) : treePath(entry.path);
      return [`install -D -p -m ${octal(entry.mode)} ${source} ${dest}`];
    }
  }
}

const isCatalog = (entry: Entry) => entry.content !== undefined && 'catalog' in entry.content;

/**
 * The %files line of one entry, in ALT's conventions: a man page as `%_man1dir/foo.1*` (whatever
 * compression the build root's brp scripts choose), files under %_docdir as %doc.
 */
function filesLine(pkg: PackageDecl, entry: Entry): string {
  const attr = entry.kind === 'symlink' ? `%attr(-,${entry.owner},${entry.group})` : `%attr(${octal(entry.mode)},${entry.owner},${entry.group})`;
  // The program modules directory with what %build put in it (its modules are 0644, see installLines).
  if (entry.path === programModulesDir(pkg.name)) return `%attr(-,${entry.owner},${entry.group}) ${specPath(entry.path)}`;
  const isDoc = entry.kind === 'file' && specPath(entry.path).startsWith('%_docdir/');
  const flags = { dir: '%dir ', config: '%config ', 'config-noreplace': '%config(noreplace) ' }[entry.kind as string] ?? (isDoc ? '%doc ' : '');
  const path = entry.content && 'manPage' in entry.content ? specPath(entry.path).replace(/\.xz$/, '*') : specPath(entry.path);
  return `${flags}${attr} ${path}`;
}

/** The text domains of a package's message catalogs: `%find_lang DOMAIN` lists them in DOMAIN.lang. */
function textDomains(pkg: PackageDecl): string[] {
  return [...new Set(pkg.entries.flatMap((e) => (e.content && 'catalog' in e.content ? [e.content.catalog] : [])))];
}

/**
 * What ALT's rpm-build derives from the scriptlets (find-scriptlet-requires: groupadd/useradd in
 * %pre come from shadow-utils, the systemctl of %post_systemd/%preun_systemd from systemd), declared
 * so that the RPMs built off-ALT carry the same requirements.
 */
function scriptletRequires(pkg: PackageDecl): string[] {
  const lines: string[] = [];
  if (pkg.groups.length > 0 || pkg.users.length > 0) lines.push('Requires(pre): shadow-utils');
  // setpriv, with which %pre moves a directory that a symlink replaces (directoryMoveLines).
  if (pkg.entries.some((e) => e.replacesDirectory)) lines.push('Requires(pre): util-linux');
  if (pkg.entries.some((e) => e.kind === 'system-unit')) lines.push('Requires(post,preun): systemd');
  return lines;
}

/**
 * %pre lines turning a directory where the package has a symlink into that symlink's target (or
 * moving it aside when the target exists), so rpm can install the link. They run as the link's
 * owner (setpriv): a root `mv` in a home its user controls could be steered elsewhere by symlinks.
 */
function directoryMoveLines(entry: Entry): string[] {
  const path = specPath(entry.path);
  const target = posix.join(posix.dirname(path), entry.target!);
  const asOwner = entry.owner === 'root' ? '' : `setpriv --reuid=${entry.owner} --regid=${entry.group} --init-groups `;
  return [
    `if [ -d ${path} ] && [ ! -L ${path} ]; then`,
    `	if [ -e ${target} ] || [ -L ${target} ]; then`,
    `		${asOwner}mv -T ${path} ${path}.rpmsave`,
    '	else',
    `		${asOwner}mkdir -p ${posix.dirname(target)} && ${asOwner}mv -T ${path} ${target}`,
    '	fi',
    'fi',
  ];
}

/** %pre lines creating the package's groups and users; failures are ignored as ALT specs do, so re-installs pass. */
function preLines(pkg: PackageDecl): string[] {
  const lines = pkg.groups.map((g) => `groupadd -r -f ${g} >/dev/null 2>&1 ||:`);
  for (const u of pkg.users) {
    const supplementary = u.supplementaryGroups.length ? ` -G ${u.supplementaryGroups.join(',')}` : '';
    lines.push(`useradd -r -M -g ${u.group}${supplementary} -d ${specPath(u.home)} -c '${u.comment}' ${u.name} >/dev/null 2>&1 ||:`);
  }
  return [...lines, ...pkg.entries.filter((e) => e.replacesDirectory).flatMap(directoryMoveLines)];
}

const unitNames = (pkg: PackageDecl, pick: (e: Entry) => boolean) =>
  pkg.entries.filter((e) => e.kind === 'system-unit' && pick(e)).map((e) => posix.basename(e.path));

const suffixOf = (pkg: PackageDecl, main: PackageDecl) => (pkg === main ? '' : pkg.name.slice(main.name.length + 1));

/** `packager`: the maintainer's `Name <login@altlinux.org>` for the Packager: tag (none when absent). */
export async function renderSpec(model: ProjectModel, changelog: ChangelogEntry[], packager?: string): Promise<string> {
  const [main, ...rest] = model.packages;
  if (!main) throw new Error('the model has no packages');
  for (const pkg of rest) {
    if (!pkg.name.startsWith(`${main.name}-`)) throw new Error(`subpackage ${pkg.name} does not start with ${main.name}-`);
  }
  const describe = (pkg: PackageDecl) => ({
    name: pkg.name,
    suffix: suffixOf(pkg, main),
    sectionSuffix: pkg === main ? '' : ` ${suffixOf(pkg, main)}`,
    summary: pkg.summary,
    group: pkg.group,
    description: pkg.description,
    requires: [...pkg.requires.map((dep) => `Requires: ${dependencyLine(dep)}`), ...scriptletRequires(pkg)],
    preLines: preLines(pkg),
    units: unitNames(pkg, () => true),
    restartedUnits: unitNames(pkg, (e) => !e.keepRunningOnUpgrade),
    keptRunningUnits: unitNames(pkg, (e) => e.keepRunningOnUpgrade === true),
    // Catalogs are listed by %find_lang, not line by line.
    filesOptions: textDomains(pkg)
      .map((domain) => ` -f ${domain}.lang`)
      .join(''),
    fileLines: pkg.entries.filter((e) => !isCatalog(e)).map((e) => filesLine(pkg, e)),
  });
  const packages = model.packages.map(describe);
  const template = await readFile(join(REPO_ROOT, SPEC_TEMPLATE), 'utf8');
  return ejs.render(
    template,
    {
      main: packages[0],
      subpackages: packages.slice(1),
      packages,
      packager,
      version: changelog[0]!.version,
      release: changelog[0]!.release,
      buildLines: buildCommand(model.packages, '%version-%release'),
      installLines: [
        ...model.packages.flatMap((p) => p.entries.flatMap((e) => installLines(p, e))),
        ...model.packages.flatMap(textDomains).map((d) => `%find_lang ${d}`),
      ],
      changelog: formatChangelog(changelog),
    },
    { escape: plainText },
  );
}
