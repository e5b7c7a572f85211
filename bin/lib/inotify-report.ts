/**
 * The report of the policy plugins (check-policy, check-images): journal lines per finding over
 * the journal thresholds, one Nagios status line over the summed metric, an optional mail.
 */
import { Journal, sendMail } from './inotify-journal.ts';
import { JOURNAL_LEVELS, levelFor, NAGIOS_LEVELS, type JournalWord, type MonitorOptions } from './inotify-severity.ts';

export interface ReportItem {
  code: number;
  weight: number;
  users: string[];
  text: string;
  details: string[];
}

export const OK_LINE = 'POLICY OK: Containerization policies are not violated';
export const NOT_ROOT_LINE = 'POLICY Unknown plugin must be run as root user';

/** A Nagios UNKNOWN: the status line on stdout (what Nagios reads) and exit code 3. */
export function unknown(reason: string): number {
  process.stdout.write(`POLICY UNKNOWN: ${reason}\n`);
  return 3;
}

/** `Users "a" "b" <text>` with the details for verbose levels ≥ 2. */
export function itemText(item: ReportItem, verbose: number): string {
  const users = item.users.map((u) => JSON.stringify(u)).join(' ');
  const details = verbose >= 2 && item.details.length > 0 ? `: ${item.details.join(', ')}` : '';
  return `Users ${users} ${item.text}${details}`;
}

/** Journal line of one item, or undefined when its weight crosses no journal threshold. */
export function journalLine(item: ReportItem, options: MonitorOptions): { word: JournalWord; text: string } | undefined {
  const level = levelFor(JOURNAL_LEVELS, options.journal, item.weight);
  if (!level) return undefined;
  const word = level.word as JournalWord;
  return { word, text: `${word}(${item.weight}): ${itemText(item, Math.max(options.verbose, 2))}` };
}

export interface Status {
  line: string;
  exitCode: number;
  body: string;
}

export function nagiosStatus(items: ReportItem[], options: MonitorOptions, subject: string): Status {
  const sum = items.reduce((total, i) => total + i.weight, 0);
  const level = levelFor(NAGIOS_LEVELS, options.nagios, sum);
  if (!level) return { line: OK_LINE, exitCode: 0, body: '' };
  const users = [...new Set(items.flatMap((i) => i.users))].map((u) => JSON.stringify(u)).join(' ');
  const body = items.map((i) => `${i.code}: ${itemText(i, options.verbose)}`).join('\n');
  return { line: `POLICY ${level.word}(${sum}): ${subject} ${users} | violations=${sum}`, exitCode: level.code, body };
}

/** Logs every item over a journal threshold, prints and mails the status; returns the exit code. */
export function reportOnce(journal: Journal, items: ReportItem[], options: MonitorOptions, subject: string): number {
  for (const item of items) {
    const line = journalLine(item, options);
    if (line) journal.report(line.word, line.text);
  }
  const status = nagiosStatus(items, options, subject);
  process.stdout.write(`${status.line}\n${options.verbose >= 1 && status.body ? `${status.body}\n` : ''}`);
  if (options.mailTo && status.exitCode !== 0) sendMail(journal, options.mailTo, status.line, status.body);
  return status.exitCode;
}
