import { readFileSync } from 'node:fs';
import { globby } from 'globby';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../../scripts/paths.ts';
import { isExclusive, jobCount, k8sToolsLast, runnerMarkers, parseUvuSummary, schedule, slowestReport, type Job } from '../../scripts/run-tests.ts';

test("uvu's Total leaves skipped tests out: failed = total - passed", () => {
  assert.equal(parseUvuSummary('  Total:     3\n  Passed:    2\n  Skipped:   1\n  Duration:  1ms\n'), { passed: 2, skipped: 1, failed: 1 });
  assert.equal(parseUvuSummary('  Total:     2\n  Passed:    2\n  Skipped:   1\n'), { passed: 2, skipped: 1, failed: 0 });
});

test('colours are ignored and a missing summary is undefined', () => {
  assert.equal(parseUvuSummary('\x1b[1m  Total:     1\x1b[0m\n  Passed:    1\n'), { passed: 1, skipped: 0, failed: 0 });
  assert.is(parseUvuSummary('crashed'), undefined);
});

test('the exclusive marker is read from the leading comment lines only', () => {
  assert.ok(isExclusive('// test-runner: exclusive\nimport x from "y";\n'));
  assert.ok(isExclusive('/**\n * Boots machines.\n */\n// test-runner: exclusive\nimport x from "y";\n'));
  assert.ok(isExclusive('/**\n * test-runner: exclusive\n */\n'));
  assert.not.ok(isExclusive('import x from "y";\n// test-runner: exclusive\n'), 'after code it is just text');
  assert.not.ok(isExclusive('// test-runner: shared\n'));
  assert.not.ok(isExclusive("const s = 'test-runner: exclusive';\n"));
});

test('markers: exclusive and k8s-tools, each on its own line, with or without a reason', () => {
  const cluster = '// test-runner: exclusive\n// test-runner: k8s-tools — builds first\n/**\n * A cluster.\n */\nimport x from "y";\n';
  assert.equal([...runnerMarkers(cluster)].sort(), ['exclusive', 'k8s-tools']);
  assert.equal([...runnerMarkers('// test-runner: k8s-tools\nimport x from "y";\n')], ['k8s-tools']);
  assert.is(isExclusive('// test-runner: k8s-tools\n'), false);
  assert.equal([...runnerMarkers('import x from "y";\n// test-runner: k8s-tools\n')], [], 'after code it is just text');
});

test('every test file that uses the k8s-tools cache or boots a cluster says so (npm test builds the cache first)', async () => {
  const files = await globby('test/**/*.test.ts', { cwd: REPO_ROOT });
  const users = files.filter((f) => /\b(?:lookup|ensure)(?:K8sTools|NewestKubeadm)\(|\bclusterHooks\(/.test(readFileSync(`${REPO_ROOT}/${f}`, 'utf8')));
  assert.ok(users.length >= 5, users.join(' '));
  for (const file of users) assert.ok(runnerMarkers(readFileSync(`${REPO_ROOT}/${file}`, 'utf8')).has('k8s-tools'), file);
});

test('jobs: --jobs over PODSEC_TEST_JOBS over the default 2; nonsense is refused', () => {
  assert.is(jobCount(undefined, undefined), 2);
  assert.is(jobCount(undefined, '3'), 3);
  assert.is(jobCount('1', '3'), 1);
  assert.throws(() => jobCount('0', undefined));
  assert.throws(() => jobCount(undefined, 'many'));
});

/** Runs `jobs` through schedule with jobs that finish when the test says, recording what ran beside what. */
async function simulate(jobs: Job[], concurrency: number) {
  const running = new Set<string>();
  const overlaps: string[][] = [];
  let maxRunning = 0;
  const started: string[] = [];
  const done: string[] = [];
  const waiters = new Map<string, () => void>();
  const finish = (file: string) => waiters.get(file)!();
  const run = (job: Job) =>
    new Promise<string>((resolve) => {
      started.push(job.file);
      running.add(job.file);
      maxRunning = Math.max(maxRunning, running.size);
      overlaps.push([...running]);
      waiters.set(job.file, () => {
        running.delete(job.file);
        resolve(job.file);
      });
    });
  const all = schedule(jobs, concurrency, run, (job) => done.push(job.file));
  // Finish jobs in reverse start order whenever something runs: a deterministic, unfriendly order.
  for (let guard = 0; guard < 1000 && done.length < jobs.length; guard++) {
    await new Promise((r) => setImmediate(r));
    const last = [...running].pop();
    if (last) finish(last);
  }
  await all;
  return { maxRunning, overlaps, started, done };
}

test('schedule: never more than the concurrency; an exclusive file runs with nothing beside it; all run once', async () => {
  const jobs: Job[] = ['a', 'b', 'c', 'X', 'd', 'e', 'Y', 'Z', 'f'].map((file) => ({ file, exclusive: /[A-Z]/.test(file) }));
  const { maxRunning, overlaps, started, done } = await simulate(jobs, 2);
  assert.is(maxRunning, 2);
  for (const set of overlaps) {
    if (set.some((f) => /[A-Z]/.test(f))) assert.is(set.length, 1, `exclusive beside others: ${set}`);
  }
  assert.equal([...started].sort(), jobs.map((j) => j.file).sort());
  assert.equal([...done].sort(), jobs.map((j) => j.file).sort());
  // An exclusive file starts only after every file before it ended, and before any file after it starts.
  assert.ok(started.indexOf('X') > started.indexOf('c') && started.indexOf('X') < started.indexOf('d'));
  assert.ok(done.indexOf('X') < started.indexOf('d') || started.indexOf('d') > started.indexOf('X'));
});

test('schedule: concurrency 1 is the old serial order', async () => {
  const jobs: Job[] = ['a', 'b', 'X', 'c'].map((file) => ({ file, exclusive: file === 'X' }));
  const { maxRunning, started } = await simulate(jobs, 1);
  assert.is(maxRunning, 1);
  assert.equal(started, ['a', 'b', 'X', 'c']);
});

test('slowest files: the top N, slowest first, with seconds', () => {
  const report = slowestReport(
    [
      { file: 'test/unit/a.test.ts', ms: 1200 },
      { file: 'test/e2e/b.test.ts', ms: 95_000 },
      { file: 'test/tools/c.test.ts', ms: 30_500 },
    ],
    2,
  );
  assert.equal(report.split('\n').filter(Boolean), ['slowest files:', '  test/e2e/b.test.ts       95.0 s', '  test/tools/c.test.ts     30.5 s']);
  assert.is(slowestReport([]), '');
});

test('the files that need npm run k8s-tools run after the others, each group in its own order', () => {
  const jobs: Job[] = ['unit/a', 'tools/k8s', 'tools/b', 'integration/certs', 'e2e/boot', 'cluster/one'].map((file) => ({
    file,
    exclusive: file.startsWith('cluster'),
  }));
  const order = k8sToolsLast(jobs, new Set(['tools/k8s', 'integration/certs', 'cluster/one'])).map((job) => job.file);
  assert.equal(order, ['unit/a', 'tools/b', 'e2e/boot', 'tools/k8s', 'integration/certs', 'cluster/one']);
  assert.equal(k8sToolsLast(jobs, new Set()), jobs);
});

test.run();
