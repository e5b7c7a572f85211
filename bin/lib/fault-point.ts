/**
 * Fault points for crash tests: every step of the write path that changes the system (a temp file
 * written, a rename, a link, a directory made, an external command run) calls faultPoint(label).
 * In a test bundle, PODSEC_FAULT_LOG=FILE appends "<n> <label>" for the n-th step reached, and
 * PODSEC_FAULT_AT=N makes the process SIGKILL itself at step N (after appending "kill <n> <label>"),
 * PODSEC_FAULT_FAIL=N makes step N throw an error instead (after appending "fail <n> <label>"): a
 * failure the program sees and may undo, where a kill leaves no chance to.
 * A crash test counts the steps of an operation once, then kills it at each of them in turn
 * (test/support/fault-points.ts) — no timing involved, so the verdict is the same on any machine.
 *
 * Why this cannot be abused in production: the code that reads those variables exists only in
 * bundles built with `faultPoints: true` (scripts/bundle.ts), which only the tests build. The
 * packaged programs are bundled with PODSEC_FAULT_POINTS defined as false, so esbuild removes the
 * branch and the variable names from the shipped file (test/unit/fault-points.test.ts checks
 * that); run from source (tsx) the constant is undefined and the points are off as well. So no
 * environment a caller sets — a sudo rule passing the environment, a unit's Environment= — can
 * make a packaged program stop halfway. (Even compiled in, all it could do is kill the process
 * itself, which whoever sets its environment can do anyway.) The variables are removed from the
 * environment when read, so programs this one starts never see them: only the process under test
 * counts steps.
 */
import { appendFileSync } from 'node:fs';

declare const PODSEC_FAULT_POINTS: boolean | undefined;

let state: { at: number; failAt: number; log?: string; count: number } | undefined;

const stepNumber = (text: string | undefined) => {
  const n = Number(text ?? 0);
  return Number.isInteger(n) && n > 0 ? n : 0;
};

function reached(label: string): void {
  if (!state) {
    state = {
      at: stepNumber(process.env.PODSEC_FAULT_AT),
      failAt: stepNumber(process.env.PODSEC_FAULT_FAIL),
      log: process.env.PODSEC_FAULT_LOG || undefined,
      count: 0,
    };
    delete process.env.PODSEC_FAULT_AT;
    delete process.env.PODSEC_FAULT_FAIL;
    delete process.env.PODSEC_FAULT_LOG;
  }
  if (!state.at && !state.failAt && !state.log) return;
  const n = ++state.count;
  const oneLine = label.replace(/\s+/g, ' ');
  if (state.log) appendFileSync(state.log, `${n} ${oneLine}\n`);
  if (n === state.at) {
    if (state.log) appendFileSync(state.log, `kill ${n} ${oneLine}\n`);
    process.kill(process.pid, 'SIGKILL');
  }
  if (n === state.failAt) {
    if (state.log) appendFileSync(state.log, `fail ${n} ${oneLine}\n`);
    throw new Error(`fault point ${n} (${oneLine}) failed`);
  }
}

/** One step of the write path (see above); a no-op outside test bundles. */
export function faultPoint(label: string): void {
  if (typeof PODSEC_FAULT_POINTS !== 'undefined' && PODSEC_FAULT_POINTS) reached(label);
}
