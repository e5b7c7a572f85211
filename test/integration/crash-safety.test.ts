/**
 * Crash safety of installManaged: a child process installs policy.json and kills itself with
 * SIGKILL at one of its write steps (bin/lib/fault-point.ts) — every step in turn, first for the
 * switch from the original regular file, then for a switch between two managed versions. After
 * every kill, policy.json must resolve to a complete JSON file, the old or the new one; no history
 * entry may be torn, leftover temp files must never look like history entries, and a run to
 * completion converges. No timing is involved: the verdict is the same on a fast and a slow machine.
 * SIGKILL tests the order of operations; power loss (the fsyncs) can't be tested this way.
 */
import { lstatSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { installManaged, isHistoryName } from '../../bin/lib/config-history.ts';
import { isTempName } from '../../bin/lib/safe-fs.ts';
import { runCommand } from '../support/trust-fixtures.ts';
import { crashAtEveryStep } from '../support/fault-points.ts';

const INITIAL = JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }, null, 2);
const A = JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: {} } }, null, 2);
const B = JSON.stringify(
  {
    default: [{ type: 'reject' }],
    transports: { docker: { 'registry.local': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/imagemaker.pgp' }] } },
  },
  null,
  2,
);

const CHILD = `import { installManaged } from './config-history.mjs';
const [link, root, content] = process.argv.slice(2);
installManaged(link, content, { prefix: 'policy_', timestamp: new Date(), mode: 0o644, root });
`;

/** Everything a reader or the next run could see must be whole. */
function checkState(dir: string, context: string): { temps: string[] } {
  const temps: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'policy.json') continue;
    if (isTempName(name)) {
      assert.not.ok(isHistoryName('policy_', name), `${context}: temp ${name} looks like history`);
      temps.push(name);
      continue;
    }
    assert.ok(isHistoryName('policy_', name), `${context}: unexpected entry ${name}`);
    assert.ok([INITIAL, A, B].includes(readFileSync(join(dir, name), 'utf8')), `${context}: torn history entry ${name}`);
  }
  const link = join(dir, 'policy.json');
  if (lstatSync(link).isSymbolicLink()) {
    const target = readlinkSync(link);
    assert.ok(isHistoryName('policy_', target), `${context}: policy.json -> ${target}`);
    assert.not.ok(lstatSync(join(dir, target)).isSymbolicLink(), `${context}: chained link`);
    const content = readFileSync(join(dir, target), 'utf8');
    JSON.parse(content);
    assert.ok(content === A || content === B, `${context}: policy.json resolves to neither A nor B`);
  } else {
    assert.is(readFileSync(link, 'utf8'), INITIAL, `${context}: the original was changed in place`);
  }
  return { temps };
}

/** The content policy.json resolves to (the original regular file or a history entry). */
const current = (dir: string) => readFileSync(join(dir, 'policy.json'), 'utf8');

test('installManaged: killed at every write step, policy.json is always the old or the new file; a re-run converges', async () => {
  const work = mkdtempSync(join(tmpdir(), 'podsec-crash-'));
  try {
    buildSync({
      entryPoints: [fileURLToPath(new URL('../../bin/lib/config-history.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      target: 'node18',
      format: 'esm',
      outfile: join(work, 'config-history.mjs'),
      logLevel: 'error',
      define: { PODSEC_FAULT_POINTS: 'true' },
    });
    writeFileSync(join(work, 'child.mjs'), CHILD);
    const root = join(work, 'root');
    const dir = join(root, 'etc/containers');
    const link = join(dir, 'policy.json');
    const install = (content: string, env: Record<string, string> = {}) =>
      runCommand(process.execPath, [join(work, 'child.mjs'), link, root, content], { env: { ...process.env, ...env } });
    let sawTemps = 0;
    let totalKills = 0;

    // 1. The first switch: the original regular file becomes a managed link (a backup is kept).
    const first = await crashAtEveryStep({
      prepare: () => {
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true, mode: 0o755 });
        writeFileSync(link, INITIAL);
        return { old: INITIAL, next: A };
      },
      run: (env) => install(A, env),
      afterComplete: () => assert.is(current(dir), A),
      afterKill: (step, { old, next }) => {
        const where = `first switch, killed at step ${step.n} (${step.label})`;
        sawTemps = Math.max(sawTemps, checkState(dir, where).temps.length);
        assert.ok([old, next].includes(current(dir)), `${where}: policy.json is neither the old nor the new file`);
      },
      converge: async (step, { next }) => {
        const again = await install(next);
        assert.is(again.exitCode, 0, again.stderr);
        assert.is(current(dir), next, `a run after the kill at step ${step.n} converges`);
        checkState(dir, `after the kill at step ${step.n}, converged`);
      },
    });
    totalKills += first.kills;

    // 2. A switch between managed versions: A <-> B, from whatever the last run left.
    const second = await crashAtEveryStep({
      prepare: () => {
        const old = current(dir);
        return { old, next: old === A ? B : A };
      },
      run: async (env) => install(current(dir) === A ? B : A, env),
      afterKill: (step, { old, next }) => {
        const where = `managed switch, killed at step ${step.n} (${step.label})`;
        sawTemps = Math.max(sawTemps, checkState(dir, where).temps.length);
        assert.ok(lstatSync(link).isSymbolicLink(), `${where}: policy.json is no longer a link`);
        assert.ok([old, next].includes(current(dir)), `${where}: policy.json is neither the old nor the new file`);
      },
      converge: async (step, { next }) => {
        const again = await install(next);
        assert.is(again.exitCode, 0, again.stderr);
        assert.is(current(dir), next, `a run after the kill at step ${step.n} converges`);
      },
    });
    totalKills += second.kills;
    assert.ok(first.steps.length >= 6 && second.steps.length >= 5, `steps: ${first.steps.map((s) => s.label)} / ${second.steps.map((s) => s.label)}`);

    // The next run ignores fresh leftovers and removes old ones.
    const { temps } = checkState(dir, 'before cleanup');
    const hourAgo = new Date(Date.now() - 3600_000);
    for (const name of temps) lutimesSync(join(dir, name), hourAgo, hourAgo);
    installManaged(link, current(dir) === A ? B : A, { prefix: 'policy_', timestamp: new Date(), mode: 0o644, root });
    assert.equal(checkState(dir, 'after cleanup').temps, []);
    process.stdout.write(
      `crash-safety: ${first.steps.length} + ${second.steps.length} steps, ${totalKills} kills, ${readdirSync(dir).length - 1} history entries` +
        `, up to ${sawTemps} leftover temp files (${temps.length} cleaned)\n`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test.run();
