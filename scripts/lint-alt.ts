/**
 * ALT conventions lint for our generated spec (research alt-packaging.md §1, §2.3): the checks
 * rpmbuild, sisyphus_check and shebang.req would make on ALT, run before we ever reach hasher.
 *
 *   npx tsx scripts/lint-alt.ts SPEC [--tree DIR] [--known-dir D]... [--root-macro M]...
 *
 * Prints `FILE:LINE: RULE: message` per finding on stderr; exits 1 if there is any finding.
 */
import { readFileSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { globby } from 'globby';
import { REPO_ROOT } from './repo.ts';

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

/** Base-system directory macros the CLI assumes when no --root-macro is given. */
export const DEFAULT_ROOT_MACROS = [
  '%_bindir', '%_sbindir', '%_sysconfdir', '%_datadir', '%_docdir', '%_libexecdir', '%_localstatedir',
  '%_unitdir', '%_userunitdir', '%_modules_loaddir', '%_tmpfilesdir', '%_sysctldir', '%_mandir',
  '%_man1dir', '%_man5dir', '%_man8dir',
];

// ---------------------------------------------------------------------------------------------
// Spec structure

interface SpecLine {
  number: number;
  text: string;
}

interface Section {
  /** 'preamble' for the lines before the first section header, else the header name ('package', 'files', …). */
  kind: string;
  /** The `%kind …` line; null for the preamble. */
  header: SpecLine | null;
  lines: SpecLine[];
}

interface Tag {
  name: string;
  value: string;
  line: SpecLine;
}

const SECTION_HEADER =
  /^%(package|description|prep|build|install|check|clean|files|changelog|pre|post|preun|postun|pretrans|posttrans|triggerprein|triggerin|triggerun|triggerpostun|filetriggerin|filetriggerun|filetriggerpostun|transfiletriggerin|transfiletriggerun|transfiletriggerpostun|verifyscript)(?=\s|$)/;

/** Section kinds whose body is not shell: every other section is a scriptlet. */
const NON_SCRIPT_SECTIONS = new Set(['preamble', 'package', 'description', 'files', 'changelog']);

function splitSections(specText: string): Section[] {
  const sections: Section[] = [{ kind: 'preamble', header: null, lines: [] }];
  specText.split('\n').forEach((text, index) => {
    const line = { number: index + 1, text };
    const kind = SECTION_HEADER.exec(text)?.[1];
    if (kind) sections.push({ kind, header: line, lines: [] });
    else sections.at(-1)!.lines.push(line);
  });
  return sections;
}

function tagsOf(section: Section): Tag[] {
  const tags: Tag[] = [];
  for (const line of section.lines) {
    const match = /^([A-Za-z][A-Za-z0-9]*)(?:\([^)]*\))?\s*:\s*(.*?)\s*$/.exec(line.text);
    if (match) tags.push({ name: match[1]!.toLowerCase(), value: match[2]!, line });
  }
  return tags;
}

/** Sections that carry tags: the main package's preamble and every `%package`. */
function packageSections(sections: Section[]): Section[] {
  return sections.filter((section) => section.kind === 'preamble' || section.kind === 'package');
}

function allTags(sections: Section[]): Tag[] {
  return packageSections(sections).flatMap(tagsOf);
}

function mainTag(sections: Section[], name: string): string | undefined {
  return tagsOf(sections[0]!).find((tag) => tag.name === name)?.value;
}

function describeSection(section: Section): string {
  return section.header ? `'${section.header.text.trim()}'` : 'the main package';
}

/** `%{x}` → `%x`, trailing slashes dropped, so equal directories compare equal. */
function normalisePath(path: string): string {
  return path.replace(/%\{([A-Za-z_][A-Za-z0-9_]*)\}/g, '%$1').replace(/(.)\/+$/, '$1');
}

// ---------------------------------------------------------------------------------------------
// Rules

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

const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTH_NAMES = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

interface ChangelogEntry {
  line: SpecLine;
  /** Milliseconds since the epoch; undefined when the date is invalid. */
  time: number | undefined;
  evr: string;
  hasItem: boolean;
}

/** The time of `Dow Mon DD YYYY`, or undefined after reporting why it is not a real date on that weekday. */
function changelogTime(dayName: string, monthName: string, day: string, year: string, report: (message: string) => void): number | undefined {
  const weekday = DAY_NAMES.indexOf(dayName);
  const month = MONTH_NAMES.indexOf(monthName);
  if (weekday < 0) {
    report(`'${dayName}' is not an English day name (${DAY_NAMES.join(' ')})`);
  } else if (month < 0) {
    report(`'${monthName}' is not an English month name (${MONTH_NAMES.join(' ')})`);
  } else if (!/^\d{2}$/.test(day) || !/^\d{4}$/.test(year)) {
    report(`'${day} ${year}' is not 'DD YYYY'`);
  } else {
    const date = new Date(Date.UTC(Number(year), month, Number(day)));
    if (date.getUTCFullYear() !== Number(year) || date.getUTCMonth() !== month || date.getUTCDate() !== Number(day)) report(`${monthName} ${day} ${year} is not a real date`);
    else if (date.getUTCDay() !== weekday) report(`${monthName} ${day} ${year} is a ${DAY_NAMES[date.getUTCDay()]}, not a ${dayName}`);
    else return date.getTime();
  }
  return undefined;
}

/** Parses `* Dow Mon DD YYYY Name <email> [epoch:]version-release`, reporting what is wrong with it. */
function parseChangelogHeader(line: SpecLine, findings: Finding[]): ChangelogEntry {
  const report = (message: string) => findings.push({ line: line.number, rule: 'changelog', message });
  const match = /^\* (\S+) (\S+) (\S+) (\S+) (\S.*?) <([^<>\s]+@[^<>\s]+)> (\S+)$/.exec(line.text);
  if (!match) {
    report(`malformed entry header (want '* Dow Mon DD YYYY Name <email> [epoch:]version-release'): ${line.text}`);
    return { line, time: undefined, evr: '', hasItem: false };
  }
  const [, dayName = '', monthName = '', day = '', year = '', , , evr = ''] = match;
  if (!/^(?:\d+:)?[^\s:-]+-[^\s:-]+$/.test(evr)) report(`'${evr}' is not [epoch:]version-release`);
  return { line, time: changelogTime(dayName, monthName, day, year, report), evr, hasItem: false };
}

function checkChangelogPrintable(lines: SpecLine[]): Finding[] {
  return lines
    .filter((line) => /[\x00-\x08\x0a-\x1f\x7f-\x9f]/.test(line.text))
    .map((line) => ({ line: line.number, rule: 'changelog', message: 'non-printable character in %changelog' }));
}

/** Splits the %changelog body into entries, reporting layout errors: `- ` items, one blank line between entries. */
function parseChangelogEntries(lines: SpecLine[], findings: Finding[]): ChangelogEntry[] {
  const report = (line: SpecLine, message: string) => findings.push({ line: line.number, rule: 'changelog', message });
  const entries: ChangelogEntry[] = [];
  const reportMissingItem = (entry: ChangelogEntry | undefined) => {
    if (entry && !entry.hasItem) report(entry.line, "entry has no '- ' item line");
  };
  let blankLines = 0;
  for (const line of lines) {
    const current = entries.at(-1);
    if (line.text.trim() === '') {
      blankLines++;
      continue;
    }
    if (line.text.startsWith('*')) {
      reportMissingItem(current);
      if (current && blankLines !== 1) report(line, `entries must be separated by exactly one blank line (found ${blankLines})`);
      entries.push(parseChangelogHeader(line, findings));
    } else if (line.text.startsWith('- ') && current && blankLines === 0) {
      current.hasItem = true;
    } else if (/^\s/.test(line.text) && current?.hasItem && blankLines === 0) {
      // continuation of the previous item
    } else {
      report(line, blankLines > 0 && current ? 'blank line inside an entry' : `unexpected line in %changelog: ${line.text}`);
    }
    blankLines = 0;
  }
  reportMissingItem(entries.at(-1));
  return entries;
}

function checkChangelog(sections: Section[]): Finding[] {
  const section = sections.find((candidate) => candidate.kind === 'changelog');
  if (!section) return [{ line: 0, rule: 'changelog', message: 'no %changelog section' }];
  const findings = checkChangelogPrintable(section.lines);
  const entries = parseChangelogEntries(section.lines, findings);
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

interface FilesEntry {
  path: string;
  line: SpecLine;
  isDir: boolean;
  isConfig: boolean;
  isExcluded: boolean;
}

/** One `%files` line with its directives stripped; undefined for blank lines, comments, conditionals and `%defattr`. */
function parseFilesLine(line: SpecLine): FilesEntry | undefined {
  let rest = line.text.trim();
  if (rest === '' || rest.startsWith('#') || /^%(?:if\w*|else|endif|defattr)\b/.test(rest)) return undefined;
  const entry: FilesEntry = { path: '', line, isDir: false, isConfig: false, isExcluded: false };
  const directive = /^%(attr|verify|config|lang|dir|doc|ghost|exclude|license|docdir)(?:\([^)]*\))?(?=\s|$)\s*/;
  for (let match = directive.exec(rest); match; match = directive.exec(rest)) {
    if (match[1] === 'dir') entry.isDir = true;
    if (match[1] === 'config') entry.isConfig = true;
    if (match[1] === 'exclude') entry.isExcluded = true;
    rest = rest.slice(match[0].length);
  }
  entry.path = normalisePath(rest.trim());
  return entry;
}

function filesEntries(sections: Section[]): FilesEntry[] {
  return sections
    .filter((section) => section.kind === 'files')
    .flatMap((section) => section.lines.map(parseFilesLine))
    .filter((entry): entry is FilesEntry => entry !== undefined && entry.path !== '');
}

/** `%_datadir/podsec/functions` → `%_datadir/podsec`; undefined for a bare macro or `/`. */
function parentDirectory(path: string): string | undefined {
  const slash = path.lastIndexOf('/');
  if (slash < 0) return undefined;
  return slash === 0 ? (path === '/' ? undefined : '/') : path.slice(0, slash);
}

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
    const parent = parentDirectory(entry.path);
    if (parent === undefined || owned.has(parent)) return [];
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
];

/** Where a path starts in a shell or %files line: line start, after whitespace, a quote or `=`, or after the buildroot. */
const PATH_START = /(?:^|[\s'"=]|%buildroot|%\{buildroot\}|\$RPM_BUILD_ROOT|\$\{RPM_BUILD_ROOT\})(?=\/)/g;

function checkHardcodedPaths(sections: Section[]): Finding[] {
  const findings: Finding[] = [];
  for (const section of sections.filter((candidate) => candidate.kind === 'install' || candidate.kind === 'files')) {
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

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      tree: { type: 'string' },
      'known-dir': { type: 'string', multiple: true, default: [] },
      'root-macro': { type: 'string', multiple: true },
    },
  });
  const [specPath] = positionals;
  if (positionals.length !== 1 || !specPath) {
    console.error('usage: lint-alt.ts SPEC [--tree DIR] [--known-dir D]... [--root-macro M]...');
    return 2;
  }
  const options: LintOptions = { knownDirs: values['known-dir'], rootMacros: values['root-macro'] ?? DEFAULT_ROOT_MACROS };
  const reports = lintSpec(await readFile(specPath, 'utf8'), options).map((finding) => ({ ...finding, file: specPath }));
  if (values.tree) reports.push(...(await lintTree(values.tree)).map((finding) => ({ ...finding, file: join(values.tree!, finding.file!) })));
  for (const finding of reports) console.error(`${finding.file}:${finding.line}: ${finding.rule}: ${finding.message}`);
  return reports.length > 0 ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
