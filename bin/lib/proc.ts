/**
 * Spawning the tools the trust commands need (useradd, chpasswd, gpg, skopeo, chattr): argument
 * arrays only, never a shell; optionally as another user (numeric uid/gid, supplementary groups
 * dropped by libuv, a clean environment); secrets go through a pipe on fd 3, never through argv,
 * the environment or a file.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { closeSync, constants as C, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError } from './command.ts';
import { translator } from './i18n.ts';
import { faultPoint } from './fault-point.ts';

const t = translator('podsec');

export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_TIMEOUT_MS = 10 * 60 * 1000;
const MAX_OUTPUT = 16 * 1024 * 1024;

/** Who a child runs as: the account's ids and the environment a login would give it. */
export interface RunAs {
  name: string;
  uid: number;
  gid: number;
  /** The home directory as this process sees it (under --root, the path inside the tree). */
  home: string;
}

export interface RunOptions {
  as?: RunAs;
  /** Extra or replacement environment variables. */
  env?: Record<string, string | undefined>;
  /** Bytes for the child's stdin; stdin is /dev/null when neither this nor `interactive` is set. */
  input?: string | Uint8Array;
  /** Bytes written to a pipe the child sees as fd 3 (e.g. `--passphrase-fd 3`, `/dev/fd/3`). */
  fd3Input?: string | Uint8Array;
  /** Collect what the child writes to fd 3 (gpg --status-fd 3 while the terminal is the user's). */
  fd3Output?: boolean;
  /** An open descriptor the child gets as fd 3 (a directory opened safely: `/proc/self/fd/3/.`). */
  shareFd?: number;
  /** The child talks to the user on our terminal (stdin, stdout, stderr inherited). */
  interactive?: boolean;
  /** Let the child's stderr through to ours (progress of long runs), while stdout is still captured. */
  passStderr?: boolean;
  timeoutMs?: number;
}

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  fd3: string;
  error?: Error;
}

function environment(options: RunOptions): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = options.as
    ? {
        HOME: options.as.home,
        USER: options.as.name,
        LOGNAME: options.as.name,
        PATH: process.env.PATH || SYSTEM_PATH,
        ...(process.env.LANG ? { LANG: process.env.LANG } : {}),
        ...(process.env.LC_ALL ? { LC_ALL: process.env.LC_ALL } : {}),
        ...(process.env.TERM ? { TERM: process.env.TERM } : {}),
      }
    : { ...process.env, PATH: process.env.PATH || SYSTEM_PATH };
  const env: NodeJS.ProcessEnv = { ...base };
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Runs `command` to completion. Never throws for a non-zero exit: the caller decides. */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const useFd3 = options.fd3Input !== undefined || options.fd3Output;
    if (useFd3 && options.shareFd !== undefined) throw new Error('fd 3 is either a pipe or a shared descriptor');
    const stdin = options.interactive ? 'inherit' : options.input !== undefined ? 'pipe' : 'ignore';
    const stdio: StdioOptions = [
      stdin,
      options.interactive ? 'inherit' : 'pipe',
      options.interactive || options.passStderr ? 'inherit' : 'pipe',
      ...(useFd3 ? (['pipe'] as const) : options.shareFd !== undefined ? [options.shareFd] : []),
    ];
    faultPoint(`run ${command}`);
    const child = spawn(command, args, {
      stdio,
      env: environment(options),
      cwd: '/',
      ...(options.as ? { uid: options.as.uid, gid: options.as.gid } : {}),
    });
    const out = { stdout: '', stderr: '', fd3: '' };
    const collect = (key: keyof typeof out) => (chunk: Buffer) => {
      if (out[key].length < MAX_OUTPUT) out[key] += chunk.toString('utf8');
    };
    child.stdout?.on('data', collect('stdout'));
    child.stderr?.on('data', collect('stderr'));
    const fd3 = useFd3 ? (child.stdio[3] as NodeJS.ReadWriteStream | null) : null;
    if (fd3) {
      fd3.on('error', () => {}); // the child may close it early; its exit status tells what happened
      if (options.fd3Output) fd3.on('data', collect('fd3'));
      if (options.fd3Input !== undefined) fd3.end(options.fd3Input);
    }
    if (child.stdin) {
      child.stdin.on('error', () => {});
      child.stdin.end(options.input ?? '');
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    let spawnError: Error | undefined;
    child.on('error', (error) => {
      spawnError = error;
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      faultPoint(`ran ${command}`);
      const error = spawnError ?? (timedOut ? new Error(t('timed out')) : undefined);
      resolve({ status, signal, ...out, error });
    });
  });
}

/** The last non-empty line of a tool's output, for one-line messages. */
export function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .pop() ?? ''
  );
}

/** Why a run failed, in one line. */
export function failure(result: RunResult): string {
  if (result.error) return result.error.message;
  if (result.signal) return t('killed by {signal}', { signal: result.signal });
  return lastLine(result.stderr) || lastLine(result.stdout) || t('exit status {status}', { status: String(result.status) });
}

/** Runs `command`; a failure becomes a CommandError naming what was being done. */
export async function runOrFail(what: string, command: string, args: string[], options: RunOptions = {}, exitCode = 1): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.error || result.status !== 0) {
    throw new CommandError(t('{what}: {command} failed: {reason}', { what, command, reason: failure(result) }), exitCode);
  }
  return result;
}

/**
 * Runs a tool that reads a secret from a file path (skopeo --sign-passphrase-file): the path is a
 * FIFO in a private temp directory, fed from memory once the tool opens it, so the secret never
 * reaches a disk. (A /dev/fd/N path does not work: Node's stdio pipes are sockets, which cannot be
 * opened by path.)
 */
export async function runWithSecretFile(command: string, args: (file: string) => string[], secret: string, options: RunOptions = {}): Promise<RunResult> {
  const dir = mkdtempSync(join(process.env.TMPDIR || tmpdir(), 'podsec-secret-'));
  try {
    const fifo = join(dir, 'secret');
    const made = await run('mkfifo', ['-m', '600', '--', fifo]);
    if (made.error || made.status !== 0) throw new CommandError(t('mkfifo failed: {reason}', { reason: failure(made) }), 1);
    let finished = false;
    const child = run(command, args(fifo), options).finally(() => {
      finished = true;
    });
    const feed = (async () => {
      while (!finished) {
        let fd: number;
        try {
          fd = openSync(fifo, C.O_WRONLY | C.O_NONBLOCK);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENXIO') return;
          await new Promise((resolve) => setTimeout(resolve, 10));
          continue;
        }
        try {
          writeSync(fd, `${secret}\n`);
        } catch {
          // the reader went away; its exit status tells what happened
        } finally {
          closeSync(fd);
        }
        return;
      }
    })();
    const result = await child;
    await feed;
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
