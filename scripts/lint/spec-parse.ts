/**
 * The generated spec read back for the lint: its sections, the tags of each package, the %files
 * lines with their directives, and the %changelog entries. Hand-written because the rules look at
 * the text as written (which macro, which literal path), which `rpmspec --parse` expands away.
 */
import { readChangelogHeader } from '../changelog.ts';

export interface SpecLine {
  number: number;
  text: string;
}

export interface Section {
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

export const SECTION_NAMES = [
  ...['package', 'description', 'prep', 'build', 'install', 'check', 'clean', 'files', 'changelog', 'verifyscript'],
  ...['pre', 'post', 'preun', 'postun', 'pretrans', 'posttrans'],
  ...['triggerprein', 'triggerin', 'triggerun', 'triggerpostun', 'filetriggerin', 'filetriggerun', 'filetriggerpostun'],
  ...['transfiletriggerin', 'transfiletriggerun', 'transfiletriggerpostun'],
];
const SECTION_HEADER = new RegExp(`^%(${SECTION_NAMES.join('|')})(?=\\s|$)`);

/** Section kinds whose body is not shell: every other section is a scriptlet. */
export const NON_SCRIPT_SECTIONS = new Set(['preamble', 'package', 'description', 'files', 'changelog']);

export function splitSections(specText: string): Section[] {
  const sections: Section[] = [{ kind: 'preamble', header: null, lines: [] }];
  specText.split('\n').forEach((text, index) => {
    const line = { number: index + 1, text };
    const kind = SECTION_HEADER.exec(text)?.[1];
    if (kind) sections.push({ kind, header: line, lines: [] });
    else sections.at(-1)!.lines.push(line);
  });
  return sections;
}

export function tagsOf(section: Section): Tag[] {
  const tags: Tag[] = [];
  for (const line of section.lines) {
    const match = /^([A-Za-z][A-Za-z0-9]*)(?:\([^)]*\))?\s*:\s*(.*?)\s*$/.exec(line.text);
    if (match) tags.push({ name: match[1]!.toLowerCase(), value: match[2]!, line });
  }
  return tags;
}

/** Sections that carry tags: the main package's preamble and every `%package`. */
export function packageSections(sections: Section[]): Section[] {
  return sections.filter((section) => section.kind === 'preamble' || section.kind === 'package');
}

export function allTags(sections: Section[]): Tag[] {
  return packageSections(sections).flatMap(tagsOf);
}

export function mainTag(sections: Section[], name: string): string | undefined {
  return tagsOf(sections[0]!).find((tag) => tag.name === name)?.value;
}

export function describeSection(section: Section): string {
  return section.header ? `'${section.header.text.trim()}'` : 'the main package';
}

/** `%{x}` → `%x`, trailing slashes dropped, so equal directories compare equal. */
export function normalisePath(path: string): string {
  return path.replace(/%\{([A-Za-z_][A-Za-z0-9_]*)\}/g, '%$1').replace(/(.)\/+$/, '$1');
}

// --- %files ----------------------------------------------------------------------------------

interface FilesEntry {
  path: string;
  line: SpecLine;
  isDir: boolean;
  isConfig: boolean;
  isExcluded: boolean;
}

/** The directives of a `%files` line (rpm's own syntax, not macros). */
export const FILES_DIRECTIVES = ['attr', 'verify', 'config', 'lang', 'dir', 'doc', 'ghost', 'exclude', 'license', 'docdir'];

/** One `%files` line with its directives stripped; undefined for blank lines, comments, conditionals and `%defattr`. */
function parseFilesLine(line: SpecLine): FilesEntry | undefined {
  let rest = line.text.trim();
  if (rest === '' || rest.startsWith('#') || /^%(?:if\w*|else|endif|defattr)\b/.test(rest)) return undefined;
  const entry: FilesEntry = { path: '', line, isDir: false, isConfig: false, isExcluded: false };
  const directive = new RegExp(`^%(${FILES_DIRECTIVES.join('|')})(?:\\([^)]*\\))?(?=\\s|$)\\s*`);
  for (let match = directive.exec(rest); match; match = directive.exec(rest)) {
    if (match[1] === 'dir') entry.isDir = true;
    if (match[1] === 'config') entry.isConfig = true;
    if (match[1] === 'exclude') entry.isExcluded = true;
    rest = rest.slice(match[0].length);
  }
  entry.path = normalisePath(rest.trim());
  return entry;
}

export function filesEntries(sections: Section[]): FilesEntry[] {
  return sections
    .filter((section) => section.kind === 'files')
    .flatMap((section) => section.lines.map(parseFilesLine))
    .filter((entry): entry is FilesEntry => entry !== undefined && entry.path !== '');
}

// --- %changelog ------------------------------------------------------------------------------

interface ChangelogEntry {
  line: SpecLine;
  /** Milliseconds since the epoch; undefined when the date is invalid. */
  time: number | undefined;
  evr: string;
  hasItem: boolean;
}

/** What a stringified non-text value looks like in an item: `[object Object]`, `undefined`, `null`, `NaN`. */
const STRINGIFIED_VALUE = /\[object \w+\]|^(?:undefined|null|NaN)$/;

/** Why a `- ` item is not plain text, or undefined when it is. */
function itemTextProblem(item: string): string | undefined {
  if (STRINGIFIED_VALUE.test(item.trim())) return `item '${item.trim()}' is a stringified value, not text (is the changelog data text?)`;
  if (!/[\p{L}\p{N}]/u.test(item)) return `item '${item}' has no letter or digit`;
  return undefined;
}

/**
 * Splits the %changelog body into entries (headers read by scripts/changelog.ts, which writes
 * them), reporting layout errors: `- ` items, one blank line between entries.
 */
export function parseChangelogEntries(lines: SpecLine[], report: (line: SpecLine, message: string) => void): ChangelogEntry[] {
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
      const header = readChangelogHeader(line.text);
      for (const problem of header.problems) report(line, problem);
      entries.push({ line, time: header.time, evr: header.evr, hasItem: false });
    } else if (line.text.startsWith('- ') && current && blankLines === 0) {
      current.hasItem = true;
      const problem = itemTextProblem(line.text.slice(2));
      if (problem) report(line, problem);
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
