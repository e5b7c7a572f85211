/** The changelog data file: the source of Version, Release, %changelog and SOURCE_DATE_EPOCH. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { REPO_ROOT } from './repo.ts';

export interface ChangelogEntry {
  date: string; // YYYY-MM-DD
  author: string; // Name <email>
  version: string;
  release: string;
  changes: string[];
}

export const CHANGELOG_FILE = join(REPO_ROOT, 'specs/changelog.yaml');

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export function parseChangelog(text: string): ChangelogEntry[] {
  const entries = YAML.parse(text) as ChangelogEntry[];
  if (!Array.isArray(entries) || entries.length === 0) throw new Error('changelog: no entries');
  for (const entry of entries) {
    // YAML reads an unquoted 2026-11-26 as a string with the default (core) schema.
    if (!/^\d{4}-\d{2}-\d{2}$/.test(String(entry.date))) throw new Error(`changelog: bad date ${entry.date}`);
    if (!/^[^<>]+ <[^<>\s]+@[^<>\s]+>$/.test(entry.author)) throw new Error(`changelog: bad author ${entry.author}`);
    if (!Array.isArray(entry.changes) || entry.changes.length === 0) throw new Error(`changelog: ${entry.version}-${entry.release} has no changes`);
  }
  return entries;
}

export function loadChangelog(): ChangelogEntry[] {
  return parseChangelog(readFileSync(CHANGELOG_FILE, 'utf8'));
}

function utcDate(date: string): Date {
  return new Date(`${date}T00:00:00Z`);
}

/** Seconds since the epoch of the newest entry's date (midnight UTC). */
export function sourceDateEpoch(entries: ChangelogEntry[]): number {
  return utcDate(entries[0]!.date).getTime() / 1000;
}

/** `* Thu Nov 26 2026 Name <email> 2.0.0-alt1` */
export function changelogHeader(entry: ChangelogEntry): string {
  const d = utcDate(entry.date);
  const day = String(d.getUTCDate()).padStart(2, '0');
  return `* ${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${day} ${d.getUTCFullYear()} ${entry.author} ${entry.version}-${entry.release}`;
}

/** The %changelog body in ALT's format, newest first, one blank line between entries. */
export function formatChangelog(entries: ChangelogEntry[]): string {
  return entries.map((e) => [changelogHeader(e), ...e.changes.map((c) => `- ${c}`)].join('\n')).join('\n\n') + '\n';
}
