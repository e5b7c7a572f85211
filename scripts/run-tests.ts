/**
 * Runs the uvu test files of the given tiers (default: all), each in its own Node process,
 * sums uvu's counts and ends with the line `N passed, N failed[, N skipped]`.
 * A file that exits non-zero without a uvu summary (a crash, a timeout) counts as one failure.
 *   tsx scripts/run-tests.ts [unit|tools|integration|e2e ...] [--filter SUBSTRING]
 */
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { globby } from 'globby';
import { REPO_ROOT } from './repo.ts';

/** `npm test` runs these; `cluster` (a real cluster, where one exists) runs only when named. */
export const TIERS = ['unit', 'tools', 'integration', 'e2e'] as const;
const NAMED_ONLY_TIERS = ['cluster'];
const FILE_TIMEOUT_MS = 20 * 60 * 1000;

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

function runFile(file: string): Promise<{ output: string; exitCode: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      process.stdout.write(chunk);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => {
      output += `\n${file}: timed out after ${FILE_TIMEOUT_MS / 1000} s\n`;
      child.kill('SIGKILL');
    }, FILE_TIMEOUT_MS);
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      resolve({ output, exitCode });
    });
  });
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { filter: { type: 'string' } } });
  const unknown = positionals.filter((p) => ![...TIERS, ...NAMED_ONLY_TIERS].includes(p));
  if (unknown.length) {
    process.stderr.write(`unknown tier ${unknown[0]}; tiers: ${[...TIERS, ...NAMED_ONLY_TIERS].join(', ')}\n`);
    return 2;
  }
  const tiers = positionals.length ? positionals : [...TIERS];
  const total: Counts = { passed: 0, failed: 0, skipped: 0 };
  const failedFiles: string[] = [];
  for (const tier of tiers) {
    const files = (await globby(`test/${tier}/**/*.test.ts`, { cwd: REPO_ROOT })).sort().filter((f) => !values.filter || f.includes(values.filter));
    for (const file of files) {
      process.stdout.write(`\n### ${file}\n`);
      const { output, exitCode } = await runFile(file);
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
    }
  }
  if (failedFiles.length) process.stdout.write(`\nfailed files:\n${failedFiles.map((f) => `  ${f}`).join('\n')}\n`);
  process.stdout.write(`\n${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}\n`);
  return total.failed > 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => {
    process.exitCode = code;
  });
}
