/**
 * Crash safety of installManaged: a child process loops over policy.json with contents A and B
 * and is killed with SIGKILL at a random moment, many times. After every kill, policy.json must
 * resolve to a complete JSON file: the original before the first switch, then A or B. No history
 * entry may be torn, and leftover temp files must never look like history entries.
 * SIGKILL tests the order of operations; power loss (the fsyncs) can't be tested this way.
 * Reproducible: PODSEC_CRASH_SEED picks the kill delays (printed on failure).
 */
import { spawn } from 'node:child_process';
import { lstatSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { installManaged, isHistoryName } from '../../bin/lib/config-history.ts';
import { isTempName } from '../../bin/lib/safe-fs.ts';
import { prng } from '../support/prng.ts';

const RUNS = 60;
const MAX_DELAY_MS = 30;
const START_TIMEOUT_MS = 20_000;
const DEADLINE_MS = 180_000;
const SEED = Number(process.env.PODSEC_CRASH_SEED ?? 20240601);

const INITIAL = JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }, null, 2);
const A = JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: {} } }, null, 2);
const B = JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { 'registry.local': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/imagemaker.pgp' }] } } }, null, 2);


const CHILD = `import { installManaged } from './config-history.mjs';
const [link, root, a, b] = process.argv.slice(2);
process.stdout.write('ready\\n');
for (let i = 0; ; i++) installManaged(link, i % 2 ? b : a, { prefix: 'policy_', timestamp: new Date(), mode: 0o644, root });
`;

/** Starts the child, waits for its loop to begin, kills it `delayMs` later; resolves once it is gone. */
function runAndKill(script: string, args: string[], delayMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let killed = false;
    const startTimer = setTimeout(() => child.kill('SIGKILL'), START_TIMEOUT_MS);
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.stdout.once('data', () => {
      clearTimeout(startTimer);
      setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, delayMs);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(startTimer);
      if (killed && signal === 'SIGKILL') resolve();
      else reject(new Error(`child ended by itself (code ${code}, signal ${signal}): ${stderr.trim()}`));
    });
  });
}

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

test(`installManaged survives ${RUNS} SIGKILLs at random moments (seed ${SEED})`, async () => {
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
    });
    writeFileSync(join(work, 'child.mjs'), CHILD);
    const root = join(work, 'root');
    const dir = join(root, 'etc/containers');
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, 'policy.json'), INITIAL);
    const random = prng(SEED);
    const started = Date.now();
    let sawTemps = 0;
    for (let run = 0; run < RUNS; run++) {
      assert.ok(Date.now() - started < DEADLINE_MS, `over ${DEADLINE_MS / 1000} s after ${run} runs`);
      const delay = Math.floor(random() * (MAX_DELAY_MS + 1));
      await runAndKill(join(work, 'child.mjs'), [join(dir, 'policy.json'), root, A, B], delay);
      sawTemps = Math.max(sawTemps, checkState(dir, `seed ${SEED}, run ${run}, kill after ${delay} ms`).temps.length);
    }
    assert.ok(lstatSync(join(dir, 'policy.json')).isSymbolicLink(), 'no run got as far as the first switch');

    // The next run ignores fresh leftovers and removes old ones.
    const { temps } = checkState(dir, 'before cleanup');
    const hourAgo = new Date(Date.now() - 3600_000);
    for (const name of temps) lutimesSync(join(dir, name), hourAgo, hourAgo);
    const current = readFileSync(join(dir, 'policy.json'), 'utf8');
    installManaged(join(dir, 'policy.json'), current === A ? B : A, { prefix: 'policy_', timestamp: new Date(), mode: 0o644, root });
    assert.equal(checkState(dir, 'after cleanup').temps, []);
    process.stdout.write(`crash-safety: ${RUNS} kills, ${readdirSync(dir).length - 1} history entries, up to ${sawTemps} leftover temp files (${temps.length} cleaned)\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test.run();
