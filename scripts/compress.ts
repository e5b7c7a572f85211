/**
 * The compressors the build and the repository index use, run on data in memory. xz always runs
 * in one thread with a fixed check: its threaded mode lays the output out differently, so the
 * same input would not give the same bytes on every machine.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

/** A compressor already started, waiting for its input: its start-up overlaps the work that makes the input. */
export interface Started {
  compress(input: Buffer | string): Promise<Buffer>;
  /** Stops it unused (the input will not come). */
  cancel(): void;
}

function start(command: string, args: string[]): Started {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.on('error', () => {});
  const done = new Promise<Buffer>((resolve, reject) => {
    child.on('error', (error) => reject(new Error(`${command}: ${error.message}`)));
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${command} exited ${code}: ${stderr.trim()}`))));
  });
  done.catch(() => {}); // reported by compress(); a cancelled one is not waited for
  return {
    compress(input) {
      child.stdin.end(input);
      return done;
    },
    cancel() {
      child.kill();
    },
  };
}

export const startXz = (level: 6 | 9 = 6) => start('xz', [`-${level}`, '--threads=1', '--check=crc64', '-c']);
export const startBzip2 = () => start('bzip2', ['-c']);

export const xz = (input: Buffer | string, level: 6 | 9 = 6) => startXz(level).compress(input);
export const bzip2 = (input: Buffer | string) => startBzip2().compress(input);

/**
 * `file` -> `file.xz` for each file, by one xz process: the same bytes as one xz per file (each
 * file is its own stream), without starting xz and setting up its -9 dictionary once per file.
 */
export async function xzFiles(files: string[], level: 6 | 9 = 6): Promise<void> {
  if (files.length > 0) await promisify(execFile)('xz', [`-${level}`, '--threads=1', '--check=crc64', '--', ...files]);
}
