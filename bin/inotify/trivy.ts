/**
 * Image scans with trivy in client mode against the podsec trivy server
 * (`trivy image --server http://$U7S_TRIVY_SERVER:4954`), JSON output counted by severity. Return
 * codes as upstream: 0 clean, 3 the scan failed (including trivy not installed — never "OK"), 4 HIGH
 * findings, 5 CRITICAL findings.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { TRIVY_HOST } from '../lib/names.ts';
import { run } from '../lib/proc.ts';
import type { Journal } from './journal.ts';

export const TRIVY_PORT = 4954;

export interface ScanResult {
  code: 0 | 3 | 4 | 5;
  high: number;
  critical: number;
  error?: string;
}

/**
 * HIGH and CRITICAL findings of a `trivy --format json` report. trivy omits `Results` when a scan
 * found no target (a static binary, an image without a package database: the field is
 * `json:",omitempty"`), so a report that has a SchemaVersion and no Results is clean. Anything else
 * without a Results list (`{}`, text, an error object) is not a report and throws: never "OK".
 */
export function countSeverities(report: unknown): { high: number; critical: number } {
  let high = 0;
  let critical = 0;
  if (typeof report !== 'object' || report === null || Array.isArray(report)) throw new Error('not a trivy JSON report');
  const { Results: results, SchemaVersion: schemaVersion } = report as {
    Results?: { Vulnerabilities?: { Severity?: string }[] | null }[] | null;
    SchemaVersion?: unknown;
  };
  if ((results === undefined || results === null) && typeof schemaVersion === 'number') return { high, critical };
  if (!Array.isArray(results)) throw new Error('no Results in the trivy report');
  for (const r of results) {
    for (const v of Array.isArray(r?.Vulnerabilities) ? r.Vulnerabilities : []) {
      if (v?.Severity === 'HIGH') high++;
      else if (v?.Severity === 'CRITICAL') critical++;
    }
  }
  return { high, critical };
}

export const TRIVY_NOT_INSTALLED = 'trivy is not installed';

/** Whether an executable `trivy` is on PATH (what spawn would find). */
export function trivyInstalled(env: NodeJS.ProcessEnv = process.env): boolean {
  for (const dir of (env.PATH ?? '').split(':')) {
    if (!dir.startsWith('/')) continue;
    try {
      const path = join(dir, 'trivy');
      if (statSync(path).isFile()) {
        accessSync(path, constants.X_OK);
        return true;
      }
    } catch {
      // not here
    }
  }
  return false;
}

export function trivyServer(env: NodeJS.ProcessEnv = process.env): string {
  return `http://${env.U7S_TRIVY_SERVER || TRIVY_HOST}:${TRIVY_PORT}`;
}

export function runTrivy(image: string, env: NodeJS.ProcessEnv = process.env): Promise<ScanResult> {
  const args = ['image', '--quiet', '--format', 'json', '--exit-code', '0', '--server', trivyServer(env), '--severity', 'HIGH,CRITICAL', '--', image];
  return run('trivy', args, { fullEnv: env, cwd: process.cwd(), timeoutMs: 30 * 60_000 }).then(({ status, stdout, stderr, error }) => {
    if (error) return { code: 3, high: 0, critical: 0, error: (error as NodeJS.ErrnoException).code === 'ENOENT' ? TRIVY_NOT_INSTALLED : error.message };
    if (status !== 0) return { code: 3, high: 0, critical: 0, error: stderr.trim().split('\n').pop() || `trivy exit ${status}` };
    try {
      const { high, critical } = countSeverities(JSON.parse(stdout));
      return { code: critical > 0 ? 5 : high > 0 ? 4 : 0, high, critical };
    } catch (error) {
      return { code: 3, high: 0, critical: 0, error: `unreadable trivy report: ${(error as Error).message}` };
    }
  });
}

/** Scans and reports to the journal with upstream's messages; returns the code. */
export async function checkImage(journal: Journal, image: string, user: string, env: NodeJS.ProcessEnv = process.env): Promise<ScanResult> {
  const result = await runTrivy(image, env);
  const img = JSON.stringify(image);
  const who = JSON.stringify(user);
  if (result.code === 3) journal.report('Fatal', `The trivy vulnerability analysis command failed for the image ${img} of the user ${who}: ${result.error}`);
  else if (result.code === 5)
    journal.report(
      'Critical',
      `In the image ${img} of the user ${who}` +
        ` ${result.high > 0 ? 'critical and high vulnerabilities were discovered' : 'critical vulnerabilities have been discovered'}` +
        ` (CRITICAL: ${result.critical}, HIGH: ${result.high})`,
    );
  else if (result.code === 4) journal.report('High', `In the image ${img} of the user ${who} high vulnerabilities found (HIGH: ${result.high})`);
  return result;
}
