/**
 * Crash tests without timing: kill an operation at every one of its write steps in turn.
 *
 * The programs under test are bundled with fault points compiled in (bin/lib/fault-point.ts):
 * PODSEC_FAULT_LOG=FILE makes them list the steps they reach ("<n> <label>"), PODSEC_FAULT_AT=N
 * makes them SIGKILL themselves at step N. crashAtEveryStep() runs the operation once to count its
 * steps, then once per step killed exactly there, checking the state after each kill and (if
 * asked) that a run to completion converges. The verdict does not depend on how fast the machine is.
 *
 *   const bundle = await faultBundle('podsec-create-policy');
 *   await crashAtEveryStep({
 *     prepare: (i) => ({ old: readState() }),              // the state a run starts from
 *     run: (env) => runCommand(process.execPath, [bundle, ...args], { env: { ...process.env, ...env } }),
 *     afterKill: (step, prepared) => { ...files parse, equal old or new... },
 *     converge: async (step, prepared) => { ...re-run, assert the new state... },
 *   });
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleProgram } from '../../scripts/bundle.ts';
import { enterableTempDir } from './temp-dir.ts';

export const FAULT_AT = 'PODSEC_FAULT_AT';
export const FAULT_LOG = 'PODSEC_FAULT_LOG';
export const FAULT_FAIL = 'PODSEC_FAULT_FAIL';

let work: string | undefined;
const bundles = new Map<string, Promise<string>>();
const workDir = () => {
  if (!work) {
    work = enterableTempDir('podsec-fault-');
    process.on('exit', () => rmSync(work!, { recursive: true, force: true }));
  }
  return work;
};

/** bin/<name>.ts bundled like the package's program, plus the fault points; built once per test process. */
export function faultBundle(name: string): Promise<string> {
  if (!bundles.has(name)) {
    const outfile = join(workDir(), `${name}.cjs`);
    bundles.set(
      name,
      bundleProgram(name, 'fault-test', { faultPoints: true }).then((text) => {
        writeFileSync(outfile, text, { mode: 0o755 });
        return outfile;
      }),
    );
  }
  return bundles.get(name)!;
}

interface Step {
  n: number;
  label: string;
}

/** The steps a run listed, and the step it killed itself at or failed at (if it did). */
export function readFaultLog(path: string): { steps: Step[]; killedAt?: Step } {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const steps: Step[] = [];
  let killedAt: Step | undefined;
  for (const line of text.split('\n')) {
    const kill = /^(?:kill|fail) (\d+) (.*)$/.exec(line);
    if (kill) killedAt = { n: Number(kill[1]), label: kill[2]! };
    else {
      const step = /^(\d+) (.*)$/.exec(line);
      if (step) steps.push({ n: Number(step[1]), label: step[2]! });
    }
  }
  return { steps, killedAt };
}

export interface RunOutcome {
  exitCode: number | null;
  stderr: string;
}

interface CrashOptions<T> {
  /** Brings the system to the state a run starts from (index 0: the counting run); returns what the checks need. */
  prepare: (index: number) => T | Promise<T>;
  /** Runs the operation with `env` added to its environment (the fault variables); resolves when it has ended. */
  run: (env: Record<string, string>) => Promise<RunOutcome>;
  /** After the complete counting run. */
  afterComplete?: (prepared: T, outcome: RunOutcome) => void | Promise<void>;
  /** After a run killed at `step`: what a reader or the next run sees must be whole. */
  afterKill: (step: Step, prepared: T, outcome: RunOutcome) => void | Promise<void>;
  /** After afterKill: a run to completion must repair everything (runs after every kill unless `convergeEvery` says otherwise). */
  converge?: (step: Step, prepared: T) => void | Promise<void>;
  /** Converge after every k-th kill (and always after the last); default 1. */
  convergeEvery?: number;
  /**
   * The part of a label that must be the same when counted and when killed; default: digits
   * masked (history names carry timestamps, a new user per run carries its number).
   */
  normalize?: (label: string) => string;
  /** Steps to kill at; default all of them. The counting run decides how many there are. */
  only?: (step: Step) => boolean;
  /** 'fail': the step throws an error (the program may undo what it did) instead of a SIGKILL; default 'kill'. */
  mode?: 'kill' | 'fail';
}

/**
 * Counts the operation's steps, then kills a fresh run at each of them. Fails when a run meant to
 * be killed at step n finishes first (the operation's steps differ between runs: `prepare` must
 * bring every run to the same kind of work) or exits with an error.
 */
export async function crashAtEveryStep<T>(options: CrashOptions<T>): Promise<{ steps: Step[]; kills: number }> {
  const dir = mkdtempSync(join(workDir(), 'log-'));
  chmodSync(dir, 0o777);
  const countLog = join(dir, 'count');
  const prepared0 = await options.prepare(0);
  const counted = await options.run({ [FAULT_LOG]: countLog });
  if (counted.exitCode !== 0) throw new Error(`the counting run failed (exit ${counted.exitCode}): ${counted.stderr.trim()}`);
  const { steps } = readFaultLog(countLog);
  if (steps.length === 0) throw new Error('the operation reached no fault point: is the program bundled with faultBundle()?');
  await options.afterComplete?.(prepared0, counted);
  const targets = steps.filter((s) => !options.only || options.only(s));
  let kills = 0;
  for (const [index, target] of targets.entries()) {
    const prepared = await options.prepare(index + 1);
    const log = join(dir, `kill-${target.n}`);
    const outcome = await options.run({ [options.mode === 'fail' ? FAULT_FAIL : FAULT_AT]: String(target.n), [FAULT_LOG]: log });
    const { killedAt, steps: reached } = readFaultLog(log);
    if (!killedAt) {
      throw new Error(
        `the run meant to be killed at step ${target.n} (${target.label}) ended by itself after ${reached.length} steps (exit ${outcome.exitCode})` +
          `: ${outcome.stderr.trim()}`,
      );
    }
    const normalize = options.normalize ?? ((label: string) => label.replace(/\d+(?:[.:_-]\d+)*/g, '#'));
    if (normalize(killedAt.label) !== normalize(target.label))
      throw new Error(`step ${target.n} was "${target.label}" when counted, "${killedAt.label}" when killed: the runs do different work`);
    kills++;
    await options.afterKill(killedAt, prepared, outcome);
    const every = options.convergeEvery ?? 1;
    if (options.converge && (kills % every === 0 || index === targets.length - 1)) await options.converge(killedAt, prepared);
  }
  return { steps, kills };
}
