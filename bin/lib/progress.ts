/**
 * Progress of long operations (loading, signing and pushing images; saving archives; image pulls).
 *
 *   const progress = createProgress({ total: images.length, label: t('Pushing images'), stream: process.stderr });
 *   for (const image of images) { progress.step(image); await push(image); }
 *   progress.done();
 *
 * On a terminal (`stream.isTTY`) one line is redrawn in place (carriage return, erase line):
 *
 *   Pushing images [#########---------------------] 3/10 alt/nginx:1.24
 *
 * cut to the terminal's width (`stream.columns`) so it never wraps; `done()` ends the line.
 * When the stream is not a terminal (a pipe, a log, the journal) every step is one line of its
 * own, in this documented, parseable format (see PROGRESS_LINE):
 *
 *   <label>: <n>/<total> <name>
 *
 * where n counts from 1 and is the step being started. The label and the names are the caller's,
 * already translated with its t(); this module has no messages of its own. Control characters in
 * them are shown as "?", so a step is always exactly one line.
 */

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

interface ProgressOptions {
  /** The number of steps expected. */
  total: number;
  /** What is being done, e.g. t('Pushing images'). */
  label: string;
  /** Where to draw: usually process.stderr (default), so stdout stays the command's output. */
  stream?: ProgressStream;
}

interface Progress {
  /** Starts the next step, named `name` (an image, a file). */
  step(name: string): void;
  /** Ends the progress display (on a terminal, ends the redrawn line). Idempotent. */
  done(): void;
}

/** One non-terminal progress line: label, step number, total, name. */
export const PROGRESS_LINE = /^(.*?): (\d+)\/(\d+)(?: (.*))?$/;

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const clean = (text: string) => text.replace(CONTROL, '?');

/** The widest bar; a narrow terminal gets a shorter one. */
const BAR_WIDTH = 30;
const MIN_BAR_WIDTH = 10;
const DEFAULT_COLUMNS = 80;

/** The non-terminal line of step `n` (without the line break). */
function progressLine(label: string, n: number, total: number, name: string): string {
  return `${clean(label)}: ${n}/${total}${name === '' ? '' : ` ${clean(name)}`}`;
}

/** The terminal line of step `n`, at most `columns - 1` characters (the last column would wrap). */
export function progressBar(label: string, n: number, total: number, name: string, columns: number): string {
  const width = Math.max(1, columns - 1);
  const count = `${n}/${total}`;
  const head = clean(label);
  // label + ' [' + bar + '] ' + count + ' ' + name: give the bar what is left, within its bounds.
  const room = width - [...head].length - count.length - 5;
  const barWidth = Math.max(MIN_BAR_WIDTH, Math.min(BAR_WIDTH, room));
  const filled = total > 0 ? Math.round((Math.min(n, total) / total) * barWidth) : barWidth;
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]`;
  const line = `${head} ${bar} ${count}${name === '' ? '' : ` ${clean(name)}`}`;
  const chars = [...line];
  return chars.length <= width ? line : chars.slice(0, width).join('');
}

export function createProgress({ total, label, stream = process.stderr }: ProgressOptions): Progress {
  const tty = stream.isTTY === true;
  let n = 0;
  let drawn = false;
  let finished = false;
  return {
    step(name: string) {
      if (finished) return;
      n++;
      const shownTotal = Math.max(total, n);
      if (tty) {
        const columns = stream.columns && stream.columns > 0 ? stream.columns : DEFAULT_COLUMNS;
        stream.write(`\r\x1b[K${progressBar(label, n, shownTotal, name, columns)}`);
        drawn = true;
      } else {
        stream.write(`${progressLine(label, n, shownTotal, name)}\n`);
      }
    },
    done() {
      if (finished) return;
      finished = true;
      if (tty && drawn) stream.write('\n');
    },
  };
}
