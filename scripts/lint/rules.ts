/**
 * The ALT conventions lint of our generated spec and source tree: the checks rpmbuild,
 * sisyphus_check and shebang.req would make on ALT (Release `altN`, a Group from ALT's list, the
 * %changelog format and order, no weak dependencies, no `env -S` shebangs, every directory owned,
 * %config only under /etc, path macros instead of literal paths), run before we ever reach hasher.
 * The build runs it (scripts/build.ts); scripts/lint/cli.ts runs it on any spec.
 */
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { globby } from 'globby';
import { isAltPackager } from '../changelog.ts';
import { unownedParent } from '../model/validate.ts';
import { REPO_ROOT } from '../paths.ts';
import {
  allTags,
  describeSection,
  filesEntries,
  mainTag,
  NON_SCRIPT_SECTIONS,
  normalisePath,
  packageSections,
  parseChangelogEntries,
  splitSections,
  tagsOf,
  type Section,
  type SpecLine,
} from './spec-parse.ts';

export interface Finding {
  /** 1-based; 0 when the finding is not tied to a line. */
  line: number;
  rule: string;
  message: string;
  /** Set by lintTree only: the offending file, relative to the tree root. */
  file?: string;
}

export interface LintOptions {
  /** Directories that exist on the target without our packages owning them (already macro form, e.g. '%_bindir', '%_sysconfdir/nagwad'), plus literal paths. */
  knownDirs: string[];
  /** Root macros that are directories owned by the base system (e.g. '%_bindir', '%_unitdir'). */
  rootMacros: string[];
}

// --- tags ------------------------------------------------------------------------------------

function checkRelease(sections: Section[]): Finding[] {
  return allTags(sections)
    .filter((tag) => tag.name === 'release' && !/^alt(?:[1-9]|0\.)[0-9a-z.]*$/.test(tag.value))
    .map((tag) => ({
      line: tag.line.number,
      rule: 'release',
      message: `Release '${tag.value}' must match ^alt([1-9]|0\\.)[0-9a-z.]* (e.g. alt1, alt0.1)`,
    }));
}

const MAIN_REQUIRED_TAGS = ['Name', 'Version', 'Release', 'Summary', 'Group', 'License'];
const SUBPACKAGE_REQUIRED_TAGS = ['Summary', 'Group'];

function checkRequiredTags(sections: Section[]): Finding[] {
  return packageSections(sections).flatMap((section) => {
    const present = new Set(tagsOf(section).map((tag) => tag.name));
    const required = section.kind === 'preamble' ? MAIN_REQUIRED_TAGS : SUBPACKAGE_REQUIRED_TAGS;
    return required
      .filter((name) => !present.has(name.toLowerCase()))
      .map((name) => ({ line: section.header?.number ?? 0, rule: 'required-tags', message: `${describeSection(section)} has no ${name}:` }));
  });
}

let altGroups: Set<string> | undefined;

/** specs/alt-groups.txt: ALT's /usr/lib/rpm/GROUPS, one group per line. */
function loadAltGroups(): Set<string> {
  altGroups ??= new Set(readFileSync(join(REPO_ROOT, 'specs/alt-groups.txt'), 'utf8').split('\n').filter(Boolean));
  return altGroups;
}

function checkGroup(sections: Section[]): Finding[] {
  const groups = loadAltGroups();
  return allTags(sections)
    .filter((tag) => tag.name === 'group' && !groups.has(tag.value))
    .map((tag) => ({ line: tag.line.number, rule: 'group', message: `Group '${tag.value}' is not in specs/alt-groups.txt` }));
}

/** sisyphus_check 040-check-packager: a Packager: tag, when there is one, is an ALT maintainer's address. */
function checkPackager(sections: Section[]): Finding[] {
  return allTags(sections)
    .filter((tag) => tag.name === 'packager' && !isAltPackager(tag.value))
    .map((tag) => ({ line: tag.line.number, rule: 'packager', message: `Packager '${tag.value}' is not 'Name <login@altlinux.org>'` }));
}

const WEAK_DEPENDENCY_TAGS = new Set(['recommends', 'suggests', 'supplements', 'enhances']);

function checkWeakDependencies(sections: Section[]): Finding[] {
  return allTags(sections)
    .filter((tag) => WEAK_DEPENDENCY_TAGS.has(tag.name))
    .map((tag) => ({ line: tag.line.number, rule: 'weak-deps', message: `${tag.line.text.split(':')[0]}: is not supported by ALT's rpm-build` }));
}

function checkUnpackagedFilesTerminateBuild(specText: string): Finding[] {
  if (/^%(?:define|global)\s+_unpackaged_files_terminate_build\s+1\s*$/m.test(specText)) return [];
  return [{ line: 0, rule: 'unpackaged', message: "missing '%define _unpackaged_files_terminate_build 1'" }];
}

function checkBuildArch(sections: Section[]): Finding[] {
  const buildArchTags = tagsOf(sections[0]!).filter((tag) => tag.name === 'buildarch' || tag.name === 'buildarchitectures');
  if (buildArchTags.length === 0) return [{ line: 0, rule: 'buildarch', message: "missing 'BuildArch: noarch'" }];
  return buildArchTags
    .filter((tag) => tag.value !== 'noarch')
    .map((tag) => ({ line: tag.line.number, rule: 'buildarch', message: `BuildArch '${tag.value}': our packages are noarch` }));
}

// --- changelog -------------------------------------------------------------------------------

function checkChangelogPrintable(lines: SpecLine[]): Finding[] {
  return lines
    .filter((line) => /[\x00-\x08\x0a-\x1f\x7f-\x9f]/.test(line.text))
    .map((line) => ({ line: line.number, rule: 'changelog', message: 'non-printable character in %changelog' }));
}

function checkChangelog(sections: Section[]): Finding[] {
  const section = sections.find((candidate) => candidate.kind === 'changelog');
  if (!section) return [{ line: 0, rule: 'changelog', message: 'no %changelog section' }];
  const findings = checkChangelogPrintable(section.lines);
  const entries = parseChangelogEntries(section.lines, (line, message) => findings.push({ line: line.number, rule: 'changelog', message }));
  if (entries.length === 0) findings.push({ line: section.header!.number, rule: 'changelog', message: '%changelog has no entries' });

  const dated = entries.filter((entry) => entry.time !== undefined);
  dated.forEach((entry, index) => {
    const newer = dated[index - 1];
    if (newer && entry.time! > newer.time!) {
      findings.push({ line: entry.line.number, rule: 'changelog', message: `not in descending chronological order (newer than line ${newer.line.number})` });
    }
  });

  const [version, release, epoch] = ['version', 'release', 'epoch'].map((name) => mainTag(sections, name));
  const newest = entries[0];
  if (newest?.evr && version && release) {
    const expected = `${epoch ? `${epoch}:` : ''}${version}-${release}`;
    if (newest.evr !== expected) {
      findings.push({ line: newest.line.number, rule: 'changelog', message: `newest entry is '${newest.evr}', but the spec is '${expected}'` });
    }
  }
  return findings;
}

// --- shebangs --------------------------------------------------------------------------------

/**
 * What shebang.req on p10 would reject in an interpreter command (the text after `#!`, or after
 * `%post -p`): `env` with an option or more than one argument (`env -S node --flag`), or a trailing CR.
 */
function interpreterProblem(command: string): string | undefined {
  const [interpreter, ...args] = command.trim().split(/\s+/);
  if (interpreter && basename(interpreter) === 'env' && (args.length > 1 || args.some((arg) => arg.startsWith('-')))) {
    return `'${command.trim()}': env with more than one argument (or -S) is rejected on p10`;
  }
  if (command.endsWith('\r')) return `'${command.trim()}': trailing CR in the interpreter line`;
  return undefined;
}

function checkScriptletShebangs(sections: Section[]): Finding[] {
  const findings: Finding[] = [];
  for (const section of sections.filter((candidate) => !NON_SCRIPT_SECTIONS.has(candidate.kind))) {
    const interpreterOption = /\s-p\s+(.+)$/.exec(section.header!.text)?.[1];
    const headerProblem = interpreterOption === undefined ? undefined : interpreterProblem(interpreterOption);
    if (headerProblem) findings.push({ line: section.header!.number, rule: 'env-s', message: headerProblem });
    for (const line of section.lines) {
      // up to a closing quote, for `echo '#!…' > file`; a heredoc line runs to the end (keeping any CR)
      const shebang = /#!([^'"]*)/.exec(line.text)?.[1];
      const problem = shebang === undefined ? undefined : interpreterProblem(shebang);
      if (problem) findings.push({ line: line.number, rule: 'env-s', message: problem });
    }
  }
  return findings;
}

async function readFirstLine(path: string): Promise<string> {
  const handle = await open(path);
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(4096), 0, 4096, 0);
    return buffer.subarray(0, bytesRead).toString('utf8').split('\n')[0]!;
  } finally {
    await handle.close();
  }
}

/** The source tree going into the tarball: executable files whose shebang p10 would reject. */
export async function lintTree(dir: string): Promise<Finding[]> {
  const entries = await globby('**', { cwd: dir, dot: true, onlyFiles: true, followSymbolicLinks: false, objectMode: true, stats: true });
  const findings: Finding[] = [];
  for (const entry of entries.sort((a, b) => (a.path < b.path ? -1 : 1))) {
    if (((entry.stats?.mode ?? 0) & 0o111) === 0) continue;
    const firstLine = await readFirstLine(join(dir, entry.path));
    const problem = firstLine.startsWith('#!') ? interpreterProblem(firstLine.slice(2)) : undefined;
    if (problem) findings.push({ file: entry.path, line: 1, rule: 'env-s', message: problem });
  }
  return findings;
}

// --- %files ----------------------------------------------------------------------------------

/** Absolute or macro paths; relative `%doc README` entries land in the package's own docdir. */
function isInstalledPath(path: string): boolean {
  return path.startsWith('/') || path.startsWith('%');
}

function checkDirectoriesOwned(sections: Section[], options: LintOptions): Finding[] {
  const entries = filesEntries(sections).filter((entry) => !entry.isExcluded && isInstalledPath(entry.path));
  const owned = new Set([
    ...entries.filter((entry) => entry.isDir).map((entry) => entry.path),
    ...options.rootMacros.map(normalisePath),
    ...options.knownDirs.map(normalisePath),
  ]);
  return entries.flatMap((entry) => {
    const parent = unownedParent(entry.path, (dir) => owned.has(dir));
    if (parent === undefined) return [];
    return [{ line: entry.line.number, rule: 'dir-owned', message: `directory '${parent}' of '${entry.path}' is not owned: add '%dir ${parent}'` }];
  });
}

function checkConfigUnderEtc(sections: Section[]): Finding[] {
  return filesEntries(sections)
    .filter((entry) => entry.isConfig && !/^(?:%_sysconfdir|\/etc)\//.test(entry.path))
    .map((entry) => ({ line: entry.line.number, rule: 'config-etc', message: `%config '${entry.path}' is not under %_sysconfdir` }));
}

const HARDCODED_PATHS: [RegExp, string][] = [
  [/^\/usr\/lib\/systemd\/user\//, '%_userunitdir'],
  [/^\/(?:usr\/)?lib\/systemd\//, '%_unitdir'],
  [/^\/lib\/modules-load\.d/, '%_modules_loaddir'],
  [/^\/usr\/bin\//, '%_bindir'],
  [/^\/etc\//, '%_sysconfdir'],
  [/^\/var\/lib\//, '%_localstatedir'],
  [/^\/usr\/share\//, '%_datadir'],
];

/** Where a path starts in a shell or %files line: line start, after whitespace, a quote or `=`, or after the buildroot. */
const PATH_START = /(?:^|[\s'"=]|%buildroot|%\{buildroot\}|\$RPM_BUILD_ROOT|\$\{RPM_BUILD_ROOT\})(?=\/)/g;

/** %files and every shell section (%prep … %install and the scriptlets, where ALT specs write `-d %_localstatedir/NAME`). */
function checkHardcodedPaths(sections: Section[]): Finding[] {
  const findings: Finding[] = [];
  for (const section of sections.filter((candidate) => candidate.kind === 'files' || !NON_SCRIPT_SECTIONS.has(candidate.kind))) {
    for (const line of section.lines) {
      if (line.text.trim().startsWith('#')) continue;
      for (const start of line.text.matchAll(PATH_START)) {
        const path = line.text.slice(start.index! + start[0].length);
        const hit = HARDCODED_PATHS.find(([pattern]) => pattern.test(path));
        if (hit) findings.push({ line: line.number, rule: 'hardcoded-path', message: `literal '${path.split(/[\s'"]/)[0]}': use ${hit[1]}` });
      }
    }
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------

export function lintSpec(specText: string, options: LintOptions): Finding[] {
  const sections = splitSections(specText);
  return [
    ...checkRelease(sections),
    ...checkRequiredTags(sections),
    ...checkGroup(sections),
    ...checkPackager(sections),
    ...checkWeakDependencies(sections),
    ...checkUnpackagedFilesTerminateBuild(specText),
    ...checkChangelog(sections),
    ...checkScriptletShebangs(sections),
    ...checkDirectoriesOwned(sections, options),
    ...checkConfigUnderEtc(sections),
    ...checkHardcodedPaths(sections),
    ...checkBuildArch(sections),
  ].sort((a, b) => a.line - b.line);
}
