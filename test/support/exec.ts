/** Spawning helpers for tests: argument arrays only, bounded by a timeout. */
import { execa } from 'execa';
import { REPO_ROOT } from '../../scripts/paths.ts';

export interface Ran {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export async function run(
  command: string,
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number; input?: string } = {},
): Promise<Ran> {
  const result = await execa(command, args, {
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env,
    reject: false,
    timeout: options.timeoutMs ?? 120_000,
    input: options.input,
    stripFinalNewline: false,
  });
  if (result.timedOut) throw new Error(`${command} ${args.join(' ')}: timed out`);
  return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode ?? -1 };
}

/** Runs a TypeScript entry of this repository with tsx, as `npm run` would. */
export function runTs(file: string, args: string[], options: Parameters<typeof run>[2] = {}): Promise<Ran> {
  return run(process.execPath, ['--import', 'tsx', file, ...args], options);
}

/**
 * Runs `sh -c SCRIPT` with ARGS as its $0, $1, ... as root in a mount namespace of its own, where
 * the mounts SCRIPT makes stay private; UNSHARE adds namespaces (e.g. '--net').
 */
export function runInPrivateMounts(script: string, args: string[], options: Parameters<typeof run>[2] & { unshare?: string[] } = {}): Promise<Ran> {
  const { unshare = [], ...runOptions } = options;
  return run('unshare', [...unshare, '--mount', '--propagation', 'private', '--', 'sh', '-c', script, ...args], runOptions);
}

/** `timed(label, f)` runs f and records its duration in ms under label in `times` (printed by the tests that keep them). */
export function stopwatch(times: Record<string, number>) {
  return async <T>(label: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      times[label] = Math.round(performance.now() - t0);
    }
  };
}
