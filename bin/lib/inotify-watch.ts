/**
 * Recursive inotify through `inotifywait` (inotify-tools) as a child process: Node 18's fs.watch
 * is not recursive on Linux and reports no event names (CREATE/MODIFY/ATTRIB…), which the
 * container monitor classifies. The output format is three NUL-terminated fields per event
 * (`%e\0%w\0%f\0`), so any byte a container puts in a file name, a newline included, is data.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface WatchEvent {
  events: string[];
  /** Full path: the watched directory plus the name. */
  path: string;
}

export interface WatchOptions {
  paths: string[];
  events: string[];
  exclude?: string;
  onEvent: (event: WatchEvent) => void;
  onReady: () => void;
  onError: (line: string) => void;
  onExit: (code: number | null) => void;
}

export function startInotifywait(options: WatchOptions): ChildProcess {
  const args = ['-m', '-r', '--format', '%e%0%w%0%f%0', '--no-newline', '-e', options.events.join(','), ...(options.exclude ? ['--exclude', options.exclude] : []), '--', ...options.paths];
  const child = spawn('inotifywait', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let pending: Buffer = Buffer.alloc(0);
  const fields: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let start = 0;
    for (let i = pending.indexOf(0, start); i >= 0; i = pending.indexOf(0, start)) {
      fields.push(pending.toString('utf8', start, i));
      start = i + 1;
      if (fields.length === 3) {
        const [mask, dir, name] = fields.splice(0, 3) as [string, string, string];
        options.onEvent({ events: mask.split(','), path: name === '' ? dir.replace(/\/$/, '') : dir + name });
      }
    }
    pending = pending.subarray(start);
  });
  let errText = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    errText += chunk;
    let nl: number;
    while ((nl = errText.indexOf('\n')) >= 0) {
      const line = errText.slice(0, nl);
      errText = errText.slice(nl + 1);
      if (line.startsWith('Watches established')) options.onReady();
      else if (!line.startsWith('Setting up watches') && line.trim() !== '') options.onError(line);
    }
  });
  child.on('error', (error) => options.onError(error.message));
  child.on('exit', (code) => options.onExit(code));
  return child;
}
