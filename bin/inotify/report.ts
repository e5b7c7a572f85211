/**
 * The report of the policy plugins (check-policy, check-images): journal lines per finding over
 * the journal thresholds, one Nagios status line over the summed metric, an optional mail.
 */
import { Journal, sendMail } from './journal.ts';
import { JOURNAL_LEVELS, levelFor, NAGIOS_LEVELS, type JournalWord, type MonitorOptions } from './severity.ts';

export interface ReportItem {
  code: number;
  weight: number;
  users: string[];
  text: string;
  details: string[];
}

export const OK_LINE = 'POLICY OK: Containerization policies are not violated';
export const NOT_ROOT_LINE = 'POLICY Unknown plugin must be run as root user';

/**
 * The --json document of the policy plugins, described by policies/schemas/podsec-inotify-check-policy.schema.ts.
 * Keys and values are English and never translated.
 */
export interface JsonFinding {
  code: number;
  weight: number;
  /** The journal level the weight crosses, or null when it crosses none (not logged). */
  severity: JournalWord | null;
  users: string[];
  message: string;
  details: string[];
}
export interface JsonReport {
  status: 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';
  exitCode: number;
  /** The summed weights checked against the Nagios thresholds (absent for UNKNOWN). */
  violations?: number;
  /** Why the check could not run (UNKNOWN only). */
  reason?: string;
  findings: JsonFinding[];
}

export function printJson(report: JsonReport): void {
  process.stdout.write(JSON.stringify(report) + '\n');
}

/** A Nagios UNKNOWN: the status line (or the --json document) on stdout, what Nagios reads, and exit code 3. */
export function unknown(reason: string, json = false): number {
  if (json) printJson({ status: 'UNKNOWN', exitCode: 3, reason, findings: [] });
  else process.stdout.write(`POLICY UNKNOWN: ${reason}\n`);
  return 3;
}

/** Not run as root: UNKNOWN with upstream's line. */
export function notRoot(json = false): number {
  if (json) return unknown('plugin must be run as root user', true);
  process.stdout.write(`${NOT_ROOT_LINE}\n`);
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
  word: 'OK' | 'WARNING' | 'CRITICAL';
  sum: number;
}

export function nagiosStatus(items: ReportItem[], options: MonitorOptions, subject: string): Status {
  const sum = items.reduce((total, i) => total + i.weight, 0);
  const level = levelFor(NAGIOS_LEVELS, options.nagios, sum);
  if (!level) return { line: OK_LINE, exitCode: 0, body: '', word: 'OK', sum };
  const users = [...new Set(items.flatMap((i) => i.users))].map((u) => JSON.stringify(u)).join(' ');
  const body = items.map((i) => `${i.code}: ${itemText(i, options.verbose)}`).join('\n');
  return { line: `POLICY ${level.word}(${sum}): ${subject} ${users} | violations=${sum}`, exitCode: level.code, body, word: level.word as Status['word'], sum };
}

/** Logs every item over a journal threshold, prints and mails the status; returns the exit code. */
export function reportOnce(journal: Journal, items: ReportItem[], options: MonitorOptions, subject: string): number {
  for (const item of items) {
    const line = journalLine(item, options);
    if (line) journal.report(line.word, line.text);
  }
  const status = nagiosStatus(items, options, subject);
  if (options.json) {
    printJson({
      status: status.word,
      exitCode: status.exitCode,
      violations: status.sum,
      findings: items.map((i) => ({
        code: i.code,
        weight: i.weight,
        severity: (levelFor(JOURNAL_LEVELS, options.journal, i.weight)?.word as JournalWord | undefined) ?? null,
        users: i.users,
        message: i.text,
        details: i.details,
      })),
    });
  } else process.stdout.write(`${status.line}\n${options.verbose >= 1 && status.body ? `${status.body}\n` : ''}`);
  if (options.mailTo && status.exitCode !== 0) sendMail(journal, options.mailTo, status.line, status.body);
  return status.exitCode;
}
