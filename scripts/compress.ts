/**
 * The compressors the build and the repository index use, run on data in memory. xz always runs
 * in one thread with a fixed check: its threaded mode lays the output out differently, so the
 * same input would not give the same bytes on every machine.
 */
import { spawn } from 'node:child_process';

function pipe(command: string, args: string[], input: Buffer | string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => reject(new Error(`${command}: ${error.message}`)));
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${command} exited ${code}: ${stderr.trim()}`))));
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

export const xz = (input: Buffer | string, level: 6 | 9 = 6) => pipe('xz', [`-${level}`, '--threads=1', '--check=crc64', '-c'], input);

export const bzip2 = (input: Buffer | string) => pipe('bzip2', ['-c'], input);
