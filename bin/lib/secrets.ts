/**
 * Passwords and passphrases: from a file (first line), from stdin (first line), or asked on the
 * terminal without echo. They are kept in memory only and handed to tools through pipes.
 */
import { CommandError } from './command.ts';
import { translator } from './i18n.ts';
import { readRegularFile } from './safe-fs.ts';

const t = translator('podsec');
const MAX_SECRET_BYTES = 4096;

function firstLine(bytes: Buffer, source: string): string {
  const text = bytes.toString('utf8');
  const line = text.split('\n')[0]!.replace(/\r$/, '');
  if (line.includes('\0')) throw new CommandError(t('{source}: the secret contains a NUL character', { source }), 1);
  return line;
}

/** The first line of a regular file (symlinks, FIFOs and devices are refused). */
export function secretFromFile(path: string): string {
  return firstLine(readRegularFile(path, { maxBytes: MAX_SECRET_BYTES }), path);
}

let stdinText: Promise<Buffer> | undefined;

/** All of stdin (read once, at most a few KiB). */
function readStdin(): Promise<Buffer> {
  stdinText ??= new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    process.stdin.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_SECRET_BYTES) reject(new CommandError(t('standard input: more than {max} bytes', { max: MAX_SECRET_BYTES }), 1));
      else chunks.push(chunk);
    });
    process.stdin.on('end', () => resolve(Buffer.concat(chunks)));
    process.stdin.on('error', reject);
  });
  return stdinText;
}

/** The first line of standard input. */
export async function secretFromStdin(): Promise<string> {
  return firstLine(await readStdin(), t('standard input'));
}

/** Typed-ahead input not consumed by the last question (a paste of several answers at once). */
let typedAhead = '';

/** Asks for a secret on the terminal without echoing it; twice when `confirm`. */
export async function promptSecret(prompt: string, confirm?: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) throw new CommandError(t('no terminal to ask for the secret on; use the file or stdin option (see --help)'), 1);
  const ask = (text: string) =>
    new Promise<string>((resolve, reject) => {
      // Echo goes off before the prompt shows, so an answer typed at once is never echoed.
      stdin.setRawMode(true);
      process.stderr.write(text);
      let value = '';
      let finished = false;
      const done = (error?: Error) => {
        finished = true;
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
        process.stderr.write('\n');
        if (error) reject(error);
        else resolve(value);
      };
      /** Consumes typed input up to the first Enter; keeps the rest for the next question. */
      const consume = () => {
        const chars = [...typedAhead];
        for (let i = 0; i < chars.length; i++) {
          const char = chars[i]!;
          if (char === '\r' || char === '\n') {
            let rest = chars.slice(i + 1).join('');
            if (char === '\r' && rest.startsWith('\n')) rest = rest.slice(1);
            typedAhead = rest;
            return done();
          }
          if (char === '\u0003' || char === '\u0004') {
            typedAhead = '';
            return done(new CommandError(t('interrupted'), 130));
          }
          if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
          else if (value.length < MAX_SECRET_BYTES) value += char;
        }
        typedAhead = '';
      };
      const onData = (chunk: Buffer) => {
        typedAhead += chunk.toString('utf8');
        consume();
      };
      consume();
      if (finished) return;
      stdin.on('data', onData);
      stdin.resume();
    });
  const first = await ask(prompt);
  if (confirm !== undefined && (await ask(confirm)) !== first) throw new CommandError(t('the two entries differ'), 1);
  return first;
}

/** Asks a yes/no question on the terminal; false without a terminal. */
export async function confirmOnTerminal(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  process.stderr.write(question);
  const answer = await new Promise<string>((resolve) => {
    process.stdin.resume();
    process.stdin.once('data', (chunk: Buffer) => {
      process.stdin.pause();
      resolve(chunk.toString('utf8').trim());
    });
  });
  return /^y(es)?$/i.test(answer);
}
