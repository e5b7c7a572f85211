/**
 * How the monitors report: one journal entry per message, tagged with the program name (the
 * nagwad bucket) and starting with an untranslated severity word (`Critical: …`).
 *
 * Under systemd (JOURNAL_STREAM names our stderr) a line `<P>text` on stderr is an entry of
 * priority P, so no process is spawned per event. Elsewhere (a terminal, NRPE, cron) `logger` is
 * run with an argument array. PODSEC_INOTIFY_JOURNAL=stderr forces the stderr form (tests).
 * Messages are single lines: every name that comes from a file system, a policy or a log is put in
 * JSON quotes by the callers, so a newline or a quote in it can't forge a second entry.
 */
import { runSync } from '../lib/proc.ts';
import { fstatSync } from 'node:fs';
import { JOURNAL_PRIORITY, type JournalWord } from './severity.ts';

type Sink = (priority: number, line: string) => void;

function stderrIsJournal(env: NodeJS.ProcessEnv): boolean {
  const stream = env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const st = fstatSync(2);
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

function journalSink(tag: string, env: NodeJS.ProcessEnv = process.env): Sink {
  if (env.PODSEC_INOTIFY_JOURNAL === 'stderr' || stderrIsJournal(env)) {
    return (priority, line) => {
      process.stderr.write(`<${priority}>${line}\n`);
    };
  }
  return (priority, line) => {
    const r = runSync('logger', ['-p', `user.${['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'][priority]}`, '-t', tag, '--', line], {
      timeoutMs: 60_000,
    });
    if (r.error || r.status !== 0) process.stderr.write(`<${priority}>${line}\n`);
  };
}

/** One-line text: control characters (a newline in free text) become visible escapes. */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

/** The help every monitor's CommandSpec shares about where its messages go. */
export const JOURNAL_HELP = {
  environment: {
    JOURNAL_STREAM: 'set by systemd: messages are written to standard error as journal entries with their priority; otherwise they are logged with logger(1)',
  },
};

export class Journal {
  constructor(
    readonly tag: string,
    readonly sink: Sink = journalSink(tag),
  ) {}

  /** `<Word>: text` at the word's priority (Warning is logged at 5, as upstream). */
  report(word: JournalWord | 'Warning', text: string): void {
    this.sink(JOURNAL_PRIORITY[word], oneLine(`${word}: ${text}`));
  }

  debug(text: string): void {
    this.report('Debug', text);
  }
}

/** Mails a report with mailx (`mail -s SUBJECT ADDRESS`, body on stdin); failures are logged, not fatal. */
export function sendMail(journal: Journal, to: string, subject: string, body: string): void {
  const r = runSync('mail', ['-s', oneLine(subject), to], { input: body, timeoutMs: 60_000 });
  if (r.error || r.status !== 0) journal.report('Low', `mail to ${JSON.stringify(to)} failed: ${r.error?.message ?? r.stderr.trim()}`);
}
