/**
 * bin/lib/progress.ts on a real terminal: a tiny program using it runs in a tmux session (a server
 * of its own on a socket in the test's temp dir, killed at the end; 100x10 pane), typed in with send-keys; capture-pane shows what a user sees — the
 * bar redrawn in place on one line, cut to the pane's width, ending at the final count. The same
 * program with its output in a pipe prints one parseable line per step.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { PROGRESS_LINE } from '../../bin/lib/progress.ts';
import { REPO_ROOT } from '../../scripts/paths.ts';
import { run } from '../support/exec.ts';
import { withTools } from '../support/tools.ts';

const test = withTools(base, ['tmux']);

const FINISHED = 'progress finished';
const BAR = /\[[#-]+\] \d+\/\d+/;
let dir = '';
let program = '';
let serverStarted = false;

base.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'podsec-progress-'));
  // argv: steps, delay in ms, name prefix[, hold]. Names are `<prefix>-<n>`; the bar goes to stdout.
  // With `hold` (a path), the program stops after the middle step until that file exists: the test
  // sees the bar mid-way however slow the machine is, then lets it go on.
  writeFileSync(
    join(dir, 'main.ts'),
    `import { createProgress } from ${JSON.stringify(join(REPO_ROOT, 'bin/lib/progress.ts'))};
import { existsSync } from 'node:fs';
const [steps, delay, prefix, hold] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4], process.argv[5]];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const progress = createProgress({ total: steps, label: 'Pushing images', stream: process.stdout });
for (let i = 1; i <= steps; i++) {
  progress.step(prefix + '-' + i);
  await sleep(delay);
  if (hold && i === Math.ceil(steps / 2)) while (!existsSync(hold)) await sleep(20);
}
progress.done();
process.stdout.write(${JSON.stringify(`${FINISHED}\n`)});
`,
  );
  program = join(dir, 'progress.mjs');
  await build({ entryPoints: [join(dir, 'main.ts')], outfile: program, bundle: true, platform: 'node', format: 'esm', target: 'node18', logLevel: 'silent' });
});

base.after(async () => {
  if (serverStarted) await run('tmux', ['-S', join(dir, 'tmux.sock'), 'kill-server']);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const tmux = async (...args: string[]) => {
  const result = await run('tmux', ['-S', join(dir, 'tmux.sock'), '-f', '/dev/null', ...args], {
    env: { TMUX: undefined, TERM: 'xterm-256color' },
    timeoutMs: 10_000,
  });
  assert.is(result.exitCode, 0, `tmux ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
};

/** A new 100x10 session running a plain bash; returns its name. */
async function session(name: string): Promise<string> {
  await tmux('new-session', '-d', '-s', name, '-x', '100', '-y', '10', 'bash --norc --noprofile');
  serverStarted = true;
  return name;
}

const screen = async (name: string) => (await tmux('capture-pane', '-p', '-t', name)).split('\n');

/** Polls the pane until `done` holds for its lines (at most `seconds`). */
async function waitFor(name: string, done: (lines: string[]) => boolean, seconds = 60): Promise<string[]> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const lines = await screen(name);
    if (done(lines)) return lines;
    if (Date.now() > until) throw new Error(`timed out; the pane shows:\n${lines.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const typeLine = (name: string, text: string) => tmux('send-keys', '-t', name, '-l', text).then(() => tmux('send-keys', '-t', name, 'Enter'));
const bars = (lines: string[]) => lines.filter((l) => BAR.test(l));

test('on a terminal: one bar redrawn in place, ending at the final count', async () => {
  const name = await session('bar');
  const hold = join(dir, 'go-on');
  await typeLine(name, `${process.execPath} ${program} 10 20 image ${hold}`);
  // While it runs (held after step 5): a bar with a count below the total, and only one bar line.
  const running = await waitFor(name, (lines) => bars(lines).some((l) => /\] 5\/10 /.test(l)), 120);
  assert.is(bars(running).length, 1, running.join('\n'));
  writeFileSync(hold, '');
  const lines = await waitFor(name, (l) => l.includes(FINISHED), 120);
  assert.equal(bars(lines), ['Pushing images [##############################] 10/10 image-10'], lines.join('\n'));
  // The bar's line is the one right before the program's last output: drawn in place, not scrolled.
  assert.is(lines[lines.indexOf(FINISHED) - 1], 'Pushing images [##############################] 10/10 image-10');
  assert.not.ok(
    lines.some((l) => /\d+\/10 image-\d+/.test(l) && !l.includes('10/10 image-10')),
    lines.join('\n'),
  );
});

test('on a terminal: a name longer than the pane is cut, the line does not wrap', async () => {
  const name = await session('wide');
  const prefix = `registry.local/p11/${'x'.repeat(150)}`;
  await typeLine(name, `${process.execPath} ${program} 3 50 ${prefix}`);
  const lines = await waitFor(name, (l) => l.includes(FINISHED));
  const bar = bars(lines);
  assert.is(bar.length, 1, lines.join('\n'));
  assert.ok(bar[0]!.startsWith('Pushing images [##############################] 3/3 registry.local/p11/xxx'), bar[0]);
  assert.ok(bar[0]!.length <= 99, `${bar[0]!.length} columns`);
  assert.is(lines[lines.indexOf(bar[0]!) + 1], FINISHED, 'no wrapped rest of the line');
});

test('not a terminal: the same program prints one parseable line per step', async () => {
  const result = await run(process.execPath, [program, '4', '0', 'image']);
  assert.is(result.exitCode, 0, result.stderr);
  const lines = result.stdout.trimEnd().split('\n');
  assert.is(lines.pop(), FINISHED);
  assert.equal(
    lines.map((l) => PROGRESS_LINE.exec(l)?.slice(1)),
    [1, 2, 3, 4].map((n) => ['Pushing images', String(n), '4', `image-${n}`]),
  );
});

test.run();
