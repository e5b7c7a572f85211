/**
 * Starting other programs: always an argument array (never a shell), always bounded in time when
 * we wait for an answer, signals passed on to a child that stands in for us.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { translator } from '../../lib/i18n.ts';
import { CommandError } from '../../lib/command.ts';
import type { Account } from './accounts.ts';
import { SYSTEM_PATH } from './paths.ts';

const t = translator('podsec-k8s');

export interface Captured {
  stdout: string;
  stderr: string;
  code: number;
}

export interface CaptureOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
}

/** Runs a command to completion and returns its output; a command that does not start is code 127. */
export function capture(command: string, args: string[], options: CaptureOptions = {}): Promise<Captured> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ stdout, stderr: stderr + error.message, code: 127 });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) stderr += `\n${t('{command}: no answer within {seconds} s', { command, seconds: Math.round((options.timeoutMs ?? 60_000) / 1000) })}`;
      resolve({ stdout, stderr, code: code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0) });
    });
    child.stdin!.on('error', () => {});
    child.stdin!.end(options.input ?? '');
  });
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
    child.on('exit', (code, signal) => done(code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0)));
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
      accessSync(path, constants.X_OK);
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

/** The environment of the node account's processes: nothing inherited but the locale. */
export function accountEnv(account: Account, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    HOME: account.home,
    USER: account.name,
    LOGNAME: account.name,
    SHELL: account.shell || '/bin/sh',
    PATH: SYSTEM_PATH,
    XDG_RUNTIME_DIR: `/run/user/${account.uid}`,
    DBUS_SESSION_BUS_ADDRESS: `unix:path=/run/user/${account.uid}/bus`,
  };
  for (const key of ['LANG', 'LC_ALL', 'LC_MESSAGES', 'TERM']) if (process.env[key]) env[key] = process.env[key];
  return { ...env, ...extra };
}

/**
 * argv that runs `command` as the node account with its own groups (util-linux setpriv): root
 * hands work to u7s-admin instead of doing it, so nothing u7s-admin controls runs as root.
 */
export function asAccount(account: Account, command: string, args: string[]): [string, string[]] {
  const setpriv = requireTool('setpriv', t('install util-linux'));
  return [setpriv, [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--init-groups', '--', command, ...args]];
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every `intervalMs` until it returns a value or `timeoutMs` passes (then undefined). */
export async function poll<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, intervalMs = 100): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; attempt < Math.ceil(timeoutMs / intervalMs) + 1; attempt++) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
  return undefined;
}
