/**
 * Tool gates for tests: a test that needs a missing tool fails in CI (`npm test` installs everything
 * as root: scripts/host-packages.ts) and is skipped with the reason on a developer machine.
 */
import { execFileSync } from 'node:child_process';
import type { Test } from 'uvu';

export function hasTool(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function missingTools(tools: string[]): string[] {
  return tools.filter((tool) => !hasTool(tool));
}

export const inCI = () => process.env.CI === 'true' || process.env.CI === '1';

/**
 * Returns a `test`-like function: the real one when the tools exist; otherwise, in CI, one that
 * registers a failing test naming the missing tools, and elsewhere one that skips with the reason.
 */
export function withTools<T extends Test>(suite: T, tools: string[]): T {
  const missing = missingTools(tools);
  return missing.length === 0 ? suite : gated(suite, `missing tool(s): ${missing.join(', ')}`);
}

/**
 * The gate itself, for a prerequisite that `command -v` cannot see: a `test`-like function whose
 * tests fail in CI naming `reason`, and elsewhere skip with it.
 */
export function gated<T extends Test>(suite: T, reason: string): T {
  const gate = ((name: string, _fn: unknown) => {
    if (inCI()) {
      suite(`${name} [${reason}]`, () => {
        throw new Error(`${reason} — CI must have what is missing (npm test installs scripts/host-packages.ts as root)`);
      });
    } else {
      process.stdout.write(`skip: ${name} (${reason})\n`);
      suite.skip(`${name} [${reason}]`, () => {});
    }
  }) as unknown as T;
  return Object.assign(gate, { run: suite.run, skip: suite.skip, only: suite.only, before: suite.before, after: suite.after });
}

/** The gate for tests that need root: the suite itself as root, otherwise gated() with the reason. */
export function asRoot<T extends Test>(suite: T): T {
  return process.geteuid?.() === 0 ? suite : gated(suite, 'needs root');
}

/**
 * The same gate for a whole file whose tests share booted fixtures: runs `suite.run()` when root
 * and `tools` are there; otherwise in CI a thrown error (CI installs everything), elsewhere one
 * skip line with the reason.
 */
export function runGated(suite: { run(): void }, label: string, tools: string[]): void {
  const missing = missingTools(tools);
  if (process.getuid?.() !== 0) missing.push('root privileges');
  if (missing.length === 0) return suite.run();
  if (inCI()) throw new Error(`${label}: missing ${missing.join(', ')} (required in CI: npm test installs them as root)`);
  console.log(`SKIP ${label}: missing ${missing.join(', ')}`);
}
