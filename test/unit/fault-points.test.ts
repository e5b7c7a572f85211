/**
 * The fault-point mechanism itself (bin/lib/fault-point.ts, test/support/fault-points.ts): steps
 * are counted, a run dies exactly at the chosen step, every step of an atomicWrite sequence is a
 * kill point after which each file is old or new, a re-run converges; the variables never reach
 * child processes; and bundles built the way the package ships them ignore the variables and do
 * not even contain the code reading them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bundlePackage, bundleProgram } from '../../scripts/bundle.ts';
import model from '../../scripts/model/index.ts';
import { crashAtEveryStep, faultBundle, FAULT_AT, FAULT_FAIL, FAULT_LOG, readFaultLog, type RunOutcome } from '../support/fault-points.ts';

const SAFE_FS = fileURLToPath(new URL('../../bin/lib/safe-fs.ts', import.meta.url));
const FILES = ['a.json', 'b.json', 'c.json'];

/** A program writing three files atomically, then printing what its environment holds of the fault variables. */
function writer(work: string, faultPoints: boolean): string {
  const entry = join(work, `entry-${faultPoints}.ts`);
  writeFileSync(
    entry,
    `import { atomicWrite } from ${JSON.stringify(SAFE_FS)};
const [root, content] = process.argv.slice(2);
for (const name of ${JSON.stringify(FILES)}) {
  atomicWrite(root + '/etc/' + name, JSON.stringify({ name, content, pad: 'x'.repeat(5000) }), { root, mode: 0o644 });
}
process.stdout.write(JSON.stringify(Object.keys(process.env).filter((key) => key.startsWith('PODSEC_FAULT'))));
`,
  );
  const outfile = join(work, `writer-${faultPoints}.cjs`);
  buildSync({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    outfile,
    logLevel: 'error',
    define: { PODSEC_FAULT_POINTS: String(faultPoints) },
  });
  return outfile;
}

function run(bundle: string, args: string[], env: Record<string, string>): Promise<RunOutcome & { stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ exitCode: code ?? (signal === 'SIGKILL' ? 137 : 128), stderr, stdout }));
  });
}

const content = (root: string, name: string) => {
  const text = readFileSync(join(root, 'etc', name), 'utf8');
  return (JSON.parse(text) as { content: string }).content;
};

/** Runs `body` with a fresh work directory and its empty tree `root/etc`, removed afterwards. */
async function inTree(body: (work: string, root: string) => Promise<void> | void): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'podsec-fault-unit-'));
  try {
    const root = join(work, 'root');
    mkdirSync(join(root, 'etc'), { recursive: true, mode: 0o755 });
    await body(work, root);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

test('every step of three atomic writes is a kill point: each file is old or new, a re-run converges', async () => {
  await inTree(async (work, root) => {
    const bundle = writer(work, true);
    const seen = new Set<string>();
    const result = await crashAtEveryStep({
      prepare: (index) => {
        for (const name of FILES) writeFileSync(join(root, 'etc', name), JSON.stringify({ name, content: 'old' }));
        return { next: `new${index}` };
      },
      run: (env) => run(bundle, [root, `new${env[FAULT_AT] ?? 0}`], env),
      afterComplete: () => {
        for (const name of FILES) assert.is(content(root, name), 'new0');
      },
      afterKill: (step, _prepared, outcome) => {
        assert.is(outcome.exitCode, 137, 'killed by SIGKILL');
        const states = FILES.map((name) => content(root, name));
        for (const state of states) assert.ok(state === 'old' || state === `new${step.n}`, `step ${step.n} (${step.label}): ${states}`);
        seen.add(states.map((state) => state.replace(/^new\d+$/, 'new' + step.n)).join(','));
      },
      converge: async (step) => {
        const again = await run(bundle, [root, 'final'], {});
        assert.is(again.exitCode, 0, again.stderr);
        for (const name of FILES) assert.is(content(root, name), 'final', `after step ${step.n}`);
      },
    });
    // Per file: create temp, half written, publish (rename), published.
    assert.is(result.steps.length, 4 * FILES.length, result.steps.map((s) => s.label).join('\n'));
    assert.is(result.kills, result.steps.length);
    // Kills before the first publication and between the files were both hit.
    assert.ok(seen.has('old,old,old'), [...seen].join(' | '));
    assert.ok(
      [...seen].some((state) => /^new\d+,old,old$/.test(state)),
      [...seen].join(' | '),
    );
  });
});

test('the fault variables are read once and removed: child processes never see them', async () => {
  await inTree(async (work, root) => {
    const bundle = writer(work, true);
    const log = join(work, 'log');
    const ran = await run(bundle, [root, 'x'], { [FAULT_AT]: '999', [FAULT_LOG]: log });
    assert.is(ran.exitCode, 0, ran.stderr);
    assert.equal(JSON.parse(ran.stdout), []);
    const { steps, killedAt } = readFaultLog(log);
    assert.is(steps.length, 4 * FILES.length);
    assert.is(killedAt, undefined);
  });
});

test('a bundle built as the package ships it ignores the variables and does not contain them', async () => {
  await inTree(async (work, root) => {
    const bundle = writer(work, false);
    assert.not.match(readFileSync(bundle, 'utf8'), FAULT_AT);
    assert.not.match(readFileSync(bundle, 'utf8'), FAULT_FAIL);
    const log = join(work, 'log');
    const ran = await run(bundle, [root, 'x'], { [FAULT_AT]: '1', [FAULT_FAIL]: '1', [FAULT_LOG]: log });
    assert.is(ran.exitCode, 0, ran.stderr);
    assert.is(content(root, 'a.json'), 'x');
    assert.equal(readFaultLog(log).steps, []);
    // The shipped programs (scripts/bundle.ts without faultPoints) against the test bundles.
    for (const program of ['podsec-create-policy', 'podsec-create-imagemakeruser']) {
      assert.not.match(await bundleProgram(program, 'x'), FAULT_AT, program);
      assert.not.match(await bundleProgram(program, 'x'), FAULT_FAIL, program);
      assert.match(readFileSync(await faultBundle(program), 'utf8'), FAULT_AT, program);
    }
    // As the package has them: the programs of podsec and their modules.
    const packaged = join(work, 'packaged');
    const files = await bundlePackage(
      model.packages.find((p) => p.name === 'podsec')!,
      'x',
      packaged,
    );
    assert.ok(files.includes('bin/podsec-create-policy.js') && files.some((f) => f.includes('/chunk-')), files.join(' '));
    for (const file of files) {
      assert.not.match(readFileSync(join(packaged, file), 'utf8'), FAULT_AT, file);
      assert.not.match(readFileSync(join(packaged, file), 'utf8'), FAULT_FAIL, file);
    }
  });
});

test('run from source (tsx), the fault points are off', async () => {
  await inTree(async (work, root) => {
    const script =
      `import { atomicWrite } from ${JSON.stringify(SAFE_FS)};` +
      ` atomicWrite(${JSON.stringify(join(root, 'etc/a.json'))}, '{"content":"src"}', { root: ${JSON.stringify(root)}, mode: 0o644 });`;
    const ran = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, [FAULT_AT]: '1' },
      encoding: 'utf8',
    });
    assert.is(ran.status, 0, ran.stderr);
    assert.is(content(root, 'a.json'), 'src');
  });
});

test.run();
