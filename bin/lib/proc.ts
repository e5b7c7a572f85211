/**
 * The one way the runtime programs start other programs: argument arrays only, never a shell;
 * bounded in time and in captured output; optionally as another user (numeric uid/gid,
 * supplementary groups dropped by libuv, a clean environment). Secrets go through a pipe on fd 3
 * or a FIFO, never through argv, the environment or a file. `run` waits asynchronously,
 * `runSync` blocks (for code paths that cannot wait: planning, a log line), `capture` is `run`
 * reported as an exit code the way a shell reports it, `stand` runs a child in our place.
 */
import { spawn, spawnSync, type SpawnOptions, type StdioOptions } from 'node:child_process';
import { accessSync, closeSync, constants as C, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError } from './command.ts';
import { translator } from './i18n.ts';
import { faultPoint } from './fault-point.ts';

const t = translator('podsec');

/** The PATH of a child when ours is unset, and where system tools are looked up (never the caller's PATH). */
export const SYSTEM_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
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

interface RunOptions {
  as?: RunAs;
  /** Extra or replacement environment variables (undefined removes one). */
  env?: Record<string, string | undefined>;
  /** The child's whole environment: nothing of ours is inherited (PATH only when it has none). */
  fullEnv?: NodeJS.ProcessEnv;
  /** The child's working directory; `/` when not given. */
  cwd?: string;
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
  /** Killed (SIGKILL) after this long; 10 minutes when not given, 0 for no limit. */
  timeoutMs?: number;
}

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  fd3: string;
  /** The child did not start, or was killed for running too long. */
  error?: Error;
  timedOut: boolean;
}

function environment(options: RunOptions): NodeJS.ProcessEnv {
  if (options.fullEnv) return { ...options.fullEnv, PATH: options.fullEnv.PATH || SYSTEM_PATH };
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

function stdioOf(options: RunOptions): StdioOptions {
  const useFd3 = options.fd3Input !== undefined || options.fd3Output;
  if (useFd3 && options.shareFd !== undefined) throw new Error('fd 3 is either a pipe or a shared descriptor');
  return [
    options.interactive ? 'inherit' : options.input !== undefined ? 'pipe' : 'ignore',
    options.interactive ? 'inherit' : 'pipe',
    options.interactive || options.passStderr ? 'inherit' : 'pipe',
    ...(useFd3 ? (['pipe'] as const) : options.shareFd !== undefined ? [options.shareFd] : []),
  ];
}

const spawnOptions = (options: RunOptions) => ({
  env: environment(options),
  cwd: options.cwd ?? '/',
  ...(options.as ? { uid: options.as.uid, gid: options.as.gid } : {}),
});

const timeoutOf = (options: RunOptions) => options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

/** Runs `command` to completion. Never throws for a non-zero exit: the caller decides. */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const stdio = stdioOf(options);
    faultPoint(`run ${command}`);
    const child = spawn(command, args, { stdio, ...spawnOptions(options) });
    const out = { stdout: '', stderr: '', fd3: '' };
    const collect = (key: keyof typeof out) => (chunk: Buffer) => {
      if (out[key].length < MAX_OUTPUT) out[key] += chunk.toString('utf8');
    };
    child.stdout?.on('data', collect('stdout'));
    child.stderr?.on('data', collect('stderr'));
    const fd3 = stdio.length > 3 && stdio[3] === 'pipe' ? (child.stdio[3] as NodeJS.ReadWriteStream | null) : null;
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
    const limit = timeoutOf(options);
    const timer = limit
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, limit)
      : undefined;
    let spawnError: Error | undefined;
    child.on('error', (error) => {
      spawnError = error;
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      faultPoint(`ran ${command}`);
      const error = spawnError ?? (timedOut ? new Error(t('timed out')) : undefined);
      resolve({ status, signal, ...out, error, timedOut });
    });
  });
}

/** `run`, blocking: for code that cannot wait (a plan being made, a line logged on the way out). */
export function runSync(command: string, args: string[], options: Omit<RunOptions, 'fd3Input' | 'fd3Output' | 'shareFd'> = {}): RunResult {
  faultPoint(`run ${command}`);
  const result = spawnSync(command, args, {
    stdio: stdioOf(options),
    input: options.input,
    encoding: 'utf8',
    maxBuffer: MAX_OUTPUT,
    timeout: timeoutOf(options),
    killSignal: 'SIGKILL',
    ...spawnOptions(options),
  });
  faultPoint(`ran ${command}`);
  const timedOut = (result.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  return {
    status: result.status,
    signal: result.signal,
    stdout: result.stdout ?? '',
    stderr: result.stderr ?? '',
    fd3: '',
    error: timedOut ? new Error(t('timed out')) : result.error,
    timedOut,
  };
}

/** The last `count` non-empty lines of a tool's output, joined by " / ", for one-line messages. */
export function lastLines(text: string, count: number): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-count)
    .join(' / ');
}

/** The last non-empty line of a tool's output, for one-line messages. */
export const lastLine = (text: string) => lastLines(text, 1);

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

/** What `capture` reports: the output and an exit code as a shell gives it. */
export interface Captured {
  stdout: string;
  stderr: string;
  /** 127: the command did not start; 128+N: killed by signal N. */
  code: number;
}

interface CaptureOptions {
  /** The child's whole environment (ours when not given). */
  env?: NodeJS.ProcessEnv;
  /** Our working directory when not given. */
  cwd?: string;
  input?: string;
  /** 60 s when not given. */
  timeoutMs?: number;
}

const signalCode = (signal: NodeJS.Signals | null) => 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);

/** Runs a command to completion and returns its output as a shell reports it; it never throws. */
export async function capture(command: string, args: string[], options: CaptureOptions = {}): Promise<Captured> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const result = await run(command, args, { fullEnv: options.env ?? process.env, cwd: options.cwd ?? process.cwd(), input: options.input ?? '', timeoutMs });
  if (result.error && !result.timedOut) return { stdout: result.stdout, stderr: result.stderr + result.error.message, code: 127 };
  const stderr = result.timedOut
    ? `${result.stderr}\n${t('{command}: no answer within {seconds} s', { command, seconds: Math.round(timeoutMs / 1000) })}`
    : result.stderr;
  return { stdout: result.stdout, stderr, code: result.status ?? signalCode(result.signal) };
}

const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/**
 * Runs a command in our place: its stdio is ours, the signals we get are passed on, and its exit
 * status becomes ours (128+N when it is killed by signal N, as a shell reports it).
 */
export function stand(command: string, args: string[], options: SpawnOptions = {}): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit', ...options });
    const handlers = FORWARDED.map((signal) => {
      const handler = () => child.kill(signal);
      process.on(signal, handler);
      return [signal, handler] as const;
    });
    const done = (code: number) => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
      resolve(code);
    };
    child.on('error', (error) => {
      process.stderr.write(t('cannot start {command}: {reason}', { command, reason: error.message }) + '\n');
      done(127);
    });
    child.on('exit', (code, signal) => done(code ?? signalCode(signal)));
  });
}

/**
 * Notes a stop request (SIGTERM, SIGINT) for us while a command runs in our place; `cleanStop`
 * then reports the command's 128+N from a stop signal as a clean stop (0), so a unit stopped on
 * purpose is not counted as failed.
 */
export function stopRequested(): { requested: boolean } {
  const state = { requested: false };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => (state.requested = true));
  return state;
}

// 137 too: a command inside the node namespace is killed by the kernel when the namespace's
// init ends during the same stop.
export const cleanStop = (code: number, stopping: { requested: boolean }) => (stopping.requested && [130, 137, 143].includes(code) ? 0 : code);

/** The first executable `name` in the system directories (never the caller's PATH). */
export function systemTool(name: string): string | undefined {
  for (const dir of SYSTEM_PATH.split(':')) {
    const path = join(dir, name);
    try {
      accessSync(path, C.X_OK);
      return path;
    } catch {
      // next directory
    }
  }
  return undefined;
}

export function requireTool(name: string, hint: string): string {
  const path = systemTool(name);
  if (!path) throw new CommandError(t('{tool} is not installed; {hint}', { tool: name, hint }));
  return path;
}
