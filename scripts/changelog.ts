/** The changelog data file: the source of Version, Release, %changelog and SOURCE_DATE_EPOCH. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import AjvModule from 'ajv';
import YAML from 'yaml';
import { REPO_ROOT } from './paths.ts';

export interface ChangelogEntry {
  date: string; // YYYY-MM-DD
  author: string; // Name <email>
  version: string;
  release: string;
  changes: string[];
}

const CHANGELOG_FILE = join(REPO_ROOT, 'specs/changelog.yaml');
const CHANGELOG_SCHEMA = join(REPO_ROOT, 'specs/changelog.schema.json');

const Ajv = AjvModule as unknown as typeof AjvModule.default;
let validateEntries: ReturnType<InstanceType<typeof Ajv>['compile']> | undefined;

/** What specs/changelog.schema.json finds wrong with the parsed data, one line each (empty when it is valid). */
function schemaProblems(data: unknown): string[] {
  validateEntries ??= new Ajv({ allErrors: true }).compile(JSON.parse(readFileSync(CHANGELOG_SCHEMA, 'utf8')) as object);
  if (validateEntries(data)) return [];
  return (validateEntries.errors ?? []).map((error) => {
    const value = error.instancePath
      .split('/')
      .slice(1)
      .reduce<unknown>((node, key) => (node as Record<string, unknown>)?.[key], data);
    return `changelog: ${error.instancePath || '/'} ${error.message}: ${JSON.stringify(value)}`;
  });
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The entries of specs/changelog.yaml; every value must be text (the schema), so nothing prints as `[object Object]`. */
export function parseChangelog(text: string): ChangelogEntry[] {
  // YAML reads an unquoted 2026-11-26 as a string with the default (core) schema.
  const data: unknown = YAML.parse(text);
  const problems = schemaProblems(data);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return data as ChangelogEntry[];
}

export function loadChangelog(): ChangelogEntry[] {
  return parseChangelog(readFileSync(CHANGELOG_FILE, 'utf8'));
}

function utcDate(date: string): Date {
  return new Date(`${date}T00:00:00Z`);
}

/**
 * sisyphus_check's packager pattern (040-check-packager and the newest changelog entry):
 * `Name <login@altlinux.org>`, also .ru/.com/.net, `packages.altlinux…` and the ` at `/` dot ` spellings.
 */
const ALT_PACKAGER = /^[^<>@]*[^<>@\s] <[^<>@\s]+(?:@| at )(?:packages(?:\.| dot ))?altlinux(?:\.| dot )(?:org|ru|com|net)>$/;

export function isAltPackager(identity: string): boolean {
  return ALT_PACKAGER.test(identity);
}

/**
 * The changelog as an ALT maintainer submits it: the newest entry is theirs (sisyphus_check wants
 * the packager's ALT address there), with the same date, version-release and items.
 */
export function withPackager(entries: ChangelogEntry[], packager: string): ChangelogEntry[] {
  if (!isAltPackager(packager)) throw new Error(`packager '${packager}' is not 'Name <login@altlinux.org>' (sisyphus_check's packager pattern)`);
  const [newest, ...older] = entries;
  return [{ ...newest!, author: packager }, ...older];
}

/** Seconds since the epoch of the newest entry's date (midnight UTC). */
export function sourceDateEpoch(entries: ChangelogEntry[]): number {
  return utcDate(entries[0]!.date).getTime() / 1000;
}

/** `* Thu Nov 26 2026 Name <email> 2.0.0-alt1` (read back by readChangelogHeader) */
export function changelogHeader(entry: ChangelogEntry): string {
  const d = utcDate(entry.date);
  const day = String(d.getUTCDate()).padStart(2, '0');
  return `* ${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${day} ${d.getUTCFullYear()} ${entry.author} ${entry.version}-${entry.release}`;
}

/** The %changelog body in ALT's format, newest first, one blank line between entries. */
export function formatChangelog(entries: ChangelogEntry[]): string {
  return entries.map((e) => [changelogHeader(e), ...e.changes.map((c) => `- ${c}`)].join('\n')).join('\n\n') + '\n';
}

interface ChangelogHeader {
  /** Milliseconds since the epoch of the entry's date; undefined when it is not a valid date. */
  time: number | undefined;
  /** `[epoch:]version-release`; '' when the line is no entry header. */
  evr: string;
  /** What is wrong with the line, one message each. */
  problems: string[];
}

/** The time of `Dow Mon DD YYYY`, or undefined after reporting why it is not a real date on that weekday. */
function headerTime(dayName: string, monthName: string, day: string, year: string, report: (message: string) => void): number | undefined {
  const weekday = DAYS.indexOf(dayName);
  const month = MONTHS.indexOf(monthName);
  if (weekday < 0) {
    report(`'${dayName}' is not an English day name (${DAYS.join(' ')})`);
  } else if (month < 0) {
    report(`'${monthName}' is not an English month name (${MONTHS.join(' ')})`);
  } else if (!/^\d{2}$/.test(day) || !/^\d{4}$/.test(year)) {
    report(`'${day} ${year}' is not 'DD YYYY'`);
  } else {
    const date = new Date(Date.UTC(Number(year), month, Number(day)));
    if (date.getUTCFullYear() !== Number(year) || date.getUTCMonth() !== month || date.getUTCDate() !== Number(day))
      report(`${monthName} ${day} ${year} is not a real date`);
    else if (date.getUTCDay() !== weekday) report(`${monthName} ${day} ${year} is a ${DAYS[date.getUTCDay()]}, not a ${dayName}`);
    else return date.getTime();
  }
  return undefined;
}

/** Reads `* Dow Mon DD YYYY Name <email> [epoch:]version-release` from a spec, saying what is wrong with it. */
export function readChangelogHeader(text: string): ChangelogHeader {
  const problems: string[] = [];
  const match = /^\* (\S+) (\S+) (\S+) (\S+) (\S.*?) <([^<>\s]+@[^<>\s]+)> (\S+)$/.exec(text);
  if (!match) {
    problems.push(`malformed entry header (want '* Dow Mon DD YYYY Name <email> [epoch:]version-release'): ${text}`);
    return { time: undefined, evr: '', problems };
  }
  const [, dayName = '', monthName = '', day = '', year = '', , , evr = ''] = match;
  if (!/^(?:\d+:)?[^\s:-]+-[^\s:-]+$/.test(evr)) problems.push(`'${evr}' is not [epoch:]version-release`);
  return { time: headerTime(dayName, monthName, day, year, (message) => problems.push(message)), evr, problems };
}
