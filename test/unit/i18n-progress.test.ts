/**
 * bin/lib/progress.ts without a terminal: one parseable line per step (`label: n/total name`);
 * and the terminal line's shape (carriage return, erase, bar cut to the width). The real terminal
 * is test/integration/progress.test.ts (tmux).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createProgress, progressBar, PROGRESS_LINE, type ProgressStream } from '../../bin/lib/progress.ts';

function sink(tty: boolean, columns?: number): ProgressStream & { text: string } {
  const s = {
    text: '',
    isTTY: tty,
    columns,
    write(chunk: string) {
      s.text += chunk;
      return true;
    },
  };
  return s;
}

const parse = (line: string) => {
  const m = PROGRESS_LINE.exec(line);
  assert.ok(m, `not a progress line: ${JSON.stringify(line)}`);
  return { label: m![1], n: Number(m![2]), total: Number(m![3]), name: m![4] ?? '' };
};

test('not a terminal: one line per step, label: n/total name, counting from 1', () => {
  const out = sink(false);
  const names = ['alt/nginx:1.24', 'alt/alt:p11', 'k8s-p11/pause:3.9'];
  const progress = createProgress({ total: names.length, label: 'Pushing images', stream: out });
  for (const name of names) progress.step(name);
  progress.done();
  assert.ok(out.text.endsWith('\n'));
  const lines = out.text.slice(0, -1).split('\n');
  assert.is(lines.length, 3);
  assert.equal(
    lines.map(parse),
    names.map((name, i) => ({ label: 'Pushing images', n: i + 1, total: 3, name })),
  );
  assert.not.ok(out.text.includes('\r') || out.text.includes('\x1b'), 'no terminal control sequences in a pipe');
});

test('not a terminal: names with ": n/m" and translated labels still parse; control characters cannot split a line', () => {
  const out = sink(false);
  const progress = createProgress({ total: 2, label: 'Загрузка образов', stream: out });
  progress.step('odd: 9/9 name');
  progress.step('two\nlines\r\x1b[2J');
  progress.done();
  const lines = out.text.trimEnd().split('\n');
  assert.is(lines.length, 2);
  assert.equal(parse(lines[0]!), { label: 'Загрузка образов', n: 1, total: 2, name: 'odd: 9/9 name' });
  assert.equal(parse(lines[1]!), { label: 'Загрузка образов', n: 2, total: 2, name: 'two?lines??[2J' });
});

test('not a terminal: more steps than announced raise the total; an empty name leaves none; done() is idempotent and ends steps', () => {
  const out = sink(false);
  const progress = createProgress({ total: 1, label: 'Saving', stream: out });
  progress.step('a');
  progress.step('');
  progress.done();
  progress.done();
  progress.step('late');
  assert.is(out.text, 'Saving: 1/1 a\nSaving: 2/2\n');
});

test('terminal: each step redraws one line (\\r, erase line), done() ends it with one line break', () => {
  const out = sink(true, 100);
  const progress = createProgress({ total: 4, label: 'Pushing images', stream: out });
  for (const name of ['a', 'b', 'c', 'd']) progress.step(name);
  progress.done();
  const frames = out.text.split('\r\x1b[K').filter((f) => f !== '');
  assert.is(frames.length, 4);
  assert.is((out.text.match(/\n/g) ?? []).length, 1);
  assert.is(frames[0], 'Pushing images [########----------------------] 1/4 a');
  assert.is(frames[3], 'Pushing images [##############################] 4/4 d\n');
});

test('terminal: the line never reaches the last column, whatever the width and the name', () => {
  const long = `registry.local/p11/${'x'.repeat(200)}:tag`;
  for (const columns of [20, 40, 80, 100, 200]) {
    const line = progressBar('Загрузка образов', 7, 10, long, columns);
    assert.ok([...line].length <= columns - 1, `${columns}: ${line.length}`);
    assert.ok(line.startsWith('Загрузка образов ['), line);
  }
  assert.is(progressBar('L', 1, 2, 'n', 80), 'L [###############---------------] 1/2 n');
  // No terminal width known: 80 columns.
  const out = sink(true);
  const progress = createProgress({ total: 1, label: 'L', stream: out });
  progress.step(long);
  assert.is([...out.text.replace('\r\x1b[K', '')].length, 79);
});

test('terminal: done() without a step writes nothing', () => {
  const out = sink(true, 80);
  createProgress({ total: 3, label: 'L', stream: out }).done();
  assert.is(out.text, '');
});

test.run();
