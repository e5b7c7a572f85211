/**
 * Runs the uvu test files of the given tiers (default: all), each in its own Node process,
 * sums uvu's counts and ends with the line `N passed, N failed[, N skipped]`.
 * A file that exits non-zero without a uvu summary (a crash, a timeout) counts as one failure.
 *   tsx scripts/run-tests.ts [unit|tools|integration|e2e|cluster ...] [--filter SUBSTRING] [--jobs N]
 *
 * Files run in parallel, `--jobs` (or PODSEC_TEST_JOBS) at a time, default 2; each file's output
 * is printed as one block when the file ends, so the logs of files never interleave. A file whose
 * leading comment lines hold `// test-runner: exclusive` (it boots machines, takes the whole
 * machine or uses a fixed global resource) runs with nothing else beside it, in any tier. The run
 * ends with the slowest files and their times, then the counts line.
 *
 * Before a run of more than the unit tier, the host gets what the tests need (scripts/host-install.ts:
 * as root on Debian, apt-get installs the missing packages of scripts/host-packages.ts and refreshes
 * old package lists; otherwise it says what to install), and when a selected file's leading comments
 * hold `// test-runner: k8s-tools`, the Kubernetes components of `npm run k8s-tools` are built (a
 * no-op when cached) by a child process at a lower priority, while the files that do not need them
 * run; those that do run last, once it has ended. PODSEC_NO_INSTALL=1 does neither. The test files
 * run with PODSEC_NO_INSTALL=1.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { globby } from 'globby';
import { REPO_ROOT } from './paths.ts';
import { CHECK_EXIT_CODES_ENV } from '../bin/lib/command.ts';
import { ensureHostPackages, installOptedOut, NO_INSTALL_ENV } from './host-install.ts';

/**
 * `npm test` runs these (`cluster`: a real rootless cluster of booted nodes, npm run cluster);
 * `host` (tests against a real ALT node or cluster you name) runs only when named.
 */
const TIERS = ['unit', 'tools', 'integration', 'e2e', 'cluster'] as const;
const NAMED_ONLY_TIERS = ['host'];
/** A cluster test boots a cluster (about ten minutes of it the signing chain) before it starts. */
const fileTimeoutMs = (file: string) => (file.startsWith('test/cluster/') ? 50 : 20) * 60 * 1000;

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

const ANSI = /\x1b\[[0-9;]*m/g;

/** uvu's closing block: `Total: N`, `Passed: N`, `Skipped: N` (Total counts only the tests that ran). */
export function parseUvuSummary(output: string): Counts | undefined {
  const text = output.replace(ANSI, '');
  const number = (label: string) => {
    const all = [...text.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'gm'))];
    return all.length ? Number(all[all.length - 1]![1]) : undefined;
  };
  const total = number('Total');
  const passed = number('Passed');
  const skipped = number('Skipped') ?? 0;
  if (total === undefined || passed === undefined) return undefined;
  return { passed, skipped, failed: total - passed };
}

/** A marker, in a comment among the file's first lines (before any code): `test-runner: WORD`. */
const MARKER = /^\s*(?:\/\/|\/?\*+)\s*test-runner:\s*([\w-]+)/;

/** The markers of a test file: `exclusive` (runs alone), `k8s-tools` (needs the components of npm run k8s-tools). */
export function runnerMarkers(source: string): Set<string> {
  const markers = new Set<string>();
  for (const line of source.split('\n').slice(0, 20)) {
    const match = MARKER.exec(line);
    if (match) markers.add(match[1]!);
    const trimmed = line.trim();
    if (!match && trimmed !== '' && !trimmed.startsWith('//') && !trimmed.startsWith('/*') && !trimmed.startsWith('*')) break;
  }
  return markers;
}

export const isExclusive = (source: string) => runnerMarkers(source).has('exclusive');

export interface Job {
  file: string;
  exclusive: boolean;
}

/**
 * Runs `jobs` in order, at most `concurrency` at a time; an exclusive job waits until nothing
 * runs and nothing starts beside it. Later shared jobs may overtake a waiting exclusive one only
 * if none is waiting: a waiting exclusive job blocks new starts, so it is never starved.
 * `onDone` is called once per job, in the order they end.
 */
export async function schedule<R>(
  jobs: Job[],
  concurrency: number,
  run: (job: Job) => Promise<R>,
  onDone: (job: Job, result: R) => void = () => {},
): Promise<void> {
  const limit = Math.max(1, Math.floor(concurrency));
  const queue = [...jobs];
  let running = 0;
  let exclusiveRunning = false;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      if (queue.length === 0 && running === 0) return resolve();
      while (queue.length > 0 && !exclusiveRunning) {
        const next = queue[0]!;
        if (next.exclusive ? running > 0 : running >= limit) break;
        queue.shift();
        running++;
        if (next.exclusive) exclusiveRunning = true;
        run(next).then((result) => {
          running--;
          if (next.exclusive) exclusiveRunning = false;
          try {
            onDone(next, result);
          } catch (error) {
            return reject(error);
          }
          pump();
        }, reject);
      }
    };
    pump();
  });
}

/** The run's order: the files that do not need npm run k8s-tools first (they run beside its build), then those that do; each group keeps its order. */
export function k8sToolsLast(jobs: Job[], needsTools: ReadonlySet<string>): Job[] {
  return [...jobs.filter((job) => !needsTools.has(job.file)), ...jobs.filter((job) => needsTools.has(job.file))];
}

/** The `count` slowest files, slowest first, as printable lines. */
export function slowestReport(times: { file: string; ms: number }[], count = 10): string {
  const top = [...times].sort((a, b) => b.ms - a.ms || a.file.localeCompare(b.file)).slice(0, count);
  if (top.length === 0) return '';
  const width = Math.max(...top.map((t) => t.file.length));
  return `slowest files:\n${top.map((t) => `  ${t.file.padEnd(width)}  ${(t.ms / 1000).toFixed(1).padStart(7)} s`).join('\n')}\n`;
}

/** `--jobs` wins over PODSEC_TEST_JOBS; default 2 (the CI machine has two cores). */
export function jobCount(flag: string | undefined, env: string | undefined): number {
  for (const value of [flag, env]) {
    if (value === undefined || value === '') continue;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`jobs must be a positive integer, not ${JSON.stringify(value)}`);
    return n;
  }
  return 2;
}

/**
 * A child process to its end, killed after `timeoutMs`: its output (stdout and stderr) collected,
 * or with `onLine`, each whole line given to it as it comes.
 */
function runChild(
  argv: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  onLine?: (line: string) => void,
): Promise<{ output: string; exitCode: number | null; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let timedOut = false;
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (!onLine) return;
      const lines = output.split('\n');
      output = lines.pop()!;
      lines.forEach(onLine);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      if (onLine && output) onLine(output);
      resolve({ output: onLine ? '' : output, exitCode, timedOut });
    });
  });
}

const runFile = async (file: string) => {
  // The runner prepared the host: a test file installs nothing.
  const result = await runChild([process.execPath, '--import', 'tsx', file], { [CHECK_EXIT_CODES_ENV]: '1', [NO_INSTALL_ENV]: '1' }, fileTimeoutMs(file));
  return result.timedOut ? { ...result, output: `${result.output}\n${file}: timed out after ${fileTimeoutMs(file) / 1000} s\n` } : result;
};

const log = (line: string) => {
  process.stdout.write(`${line}\n`);
};

/** A whole cold build of npm run k8s-tools on two shared cores takes more than an hour. */
const K8S_TOOLS_TIMEOUT_MS = 4 * 60 * 60_000;

/**
 * npm run k8s-tools in a child process at nice 10, so that the test files running beside it keep
 * the CPU they need; its lines are printed as they come (a cold build takes an hour), between the
 * test files' blocks. A failure is printed and the run goes on: the tests that need what is
 * missing skip, or fail under CI.
 */
async function buildK8sTools(): Promise<void> {
  if (installOptedOut(process.env)) return log(`npm test: ${NO_INSTALL_ENV} is set: the components of npm run k8s-tools are not built`);
  if (process.geteuid?.() !== 0)
    return log('npm test: not root: the components of npm run k8s-tools are not built (root builds them into the machine-wide cache)');
  const started = Date.now();
  const { exitCode, timedOut } = await runChild(
    ['nice', '-n', '10', process.execPath, '--import', 'tsx', 'scripts/k8s-tools/cli.ts'],
    {},
    K8S_TOOLS_TIMEOUT_MS,
    log,
  );
  const verdict = timedOut ? 'timed out' : exitCode === 0 ? 'done' : `failed (exit ${exitCode})`;
  log(`npm run k8s-tools: ${verdict} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { filter: { type: 'string' }, jobs: { type: 'string', short: 'j' } } });
  const unknown = positionals.filter((p) => ![...TIERS, ...NAMED_ONLY_TIERS].includes(p));
  if (unknown.length) {
    process.stderr.write(`unknown tier ${unknown[0]}; tiers: ${[...TIERS, ...NAMED_ONLY_TIERS].join(', ')}\n`);
    return 2;
  }
  let jobs: number;
  try {
    jobs = jobCount(values.jobs, process.env.PODSEC_TEST_JOBS);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  const tiers = positionals.length ? positionals : [...TIERS];
  const total: Counts = { passed: 0, failed: 0, skipped: 0 };
  const failedFiles: string[] = [];
  const list: Job[] = [];
  const needsTools = new Set<string>();
  for (const tier of tiers) {
    const files = (await globby(`test/${tier}/**/*.test.ts`, { cwd: REPO_ROOT })).sort().filter((f) => !values.filter || f.includes(values.filter));
    for (const file of files) {
      const markers = runnerMarkers(readFileSync(`${REPO_ROOT}/${file}`, 'utf8'));
      list.push({ file, exclusive: markers.has('exclusive') });
      if (markers.has('k8s-tools')) needsTools.add(file);
    }
  }
  const needK8sTools = needsTools.size > 0;
  if (list.some((job) => !job.file.startsWith('test/unit/'))) await ensureHostPackages('test', { log, freshLists: true });
  const k8sTools = needK8sTools ? buildK8sTools() : Promise.resolve();
  const times: { file: string; ms: number }[] = [];
  const started = Date.now();
  process.stdout.write(`${list.length} test files, ${jobs} at a time (${list.filter((j) => j.exclusive).length} exclusive)\n`);
  if (needK8sTools) log(`npm run k8s-tools runs beside the files that do not need it; the ${needsTools.size} that do wait for it`);
  await schedule(
    k8sToolsLast(list, needsTools),
    jobs,
    async (job) => {
      if (needsTools.has(job.file)) await k8sTools;
      const t0 = Date.now();
      const result = await runFile(job.file);
      return { ...result, ms: Date.now() - t0 };
    },
    (job, { output, exitCode, ms }) => {
      const { file } = job;
      times.push({ file, ms });
      process.stdout.write(
        `\n### ${file}${job.exclusive ? ' (exclusive)' : ''} — ${(ms / 1000).toFixed(1)} s` + `\n${output}${output.endsWith('\n') ? '' : '\n'}`,
      );
      const counts = parseUvuSummary(output);
      if (counts && (exitCode === 0 || counts.failed > 0)) {
        total.passed += counts.passed;
        total.failed += counts.failed;
        total.skipped += counts.skipped;
        if (counts.failed > 0) failedFiles.push(file);
      } else {
        total.failed += 1;
        failedFiles.push(`${file} (exit ${exitCode}, no test summary)`);
        if (counts) total.passed += counts.passed;
      }
    },
  );
  process.stdout.write(`\n${slowestReport(times)}wall time ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  if (failedFiles.length) process.stdout.write(`\nfailed files:\n${failedFiles.map((f) => `  ${f}`).join('\n')}\n`);
  process.stdout.write(`\n${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}\n`);
  return total.failed > 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => {
    process.exitCode = code;
  });
}
