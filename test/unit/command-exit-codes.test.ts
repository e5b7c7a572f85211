/**
 * bin/lib/command.ts: one exit-code table per command. --help prints it, the frame refuses a
 * command line with the command's own usage code, and under the test runner's check an exit with
 * a code the table does not list becomes an internal error naming the code.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CHECK_EXIT_CODES_ENV, EXIT_CLOSED_PIPE, exitCodeTable, helpText, usageExitCode, type CommandSpec } from '../../bin/lib/command.ts';
import { REPO_ROOT } from '../../scripts/paths.ts';
import { runTs } from '../support/exec.ts';

const spec: CommandSpec = {
  name: 'demo',
  summary: 'A demonstration.',
  usage: ['CODE'],
  options: {},
  positionals: true,
  exitCodes: { 1: 'a documented failure', 2: 'a documented meaning of 2' },
  usageExitCode: 1,
};

test('the table: the command’s codes first, the frame adds success, a missing input file, internal error and closed pipe', () => {
  assert.equal(exitCodeTable(spec), [
    [0, 'success'],
    [1, 'a documented failure'],
    [2, 'a documented meaning of 2'],
    [66, 'a file it needs is missing or cannot be opened (the message names the file)'],
    [70, 'internal error (a bug: please report it)'],
    [EXIT_CLOSED_PIPE, 'the reader of the output went away (as after | head)'],
  ]);
  assert.is(usageExitCode(spec), 1);
  assert.is(usageExitCode({}), 2);
  assert.ok(exitCodeTable({}).some(([code, meaning]) => code === 2 && meaning.startsWith('invalid arguments')));
});

test('--help prints every code of the table', () => {
  const help = helpText(spec, (m) => m);
  const section = help.slice(help.indexOf('Exit status:'));
  for (const [code, meaning] of exitCodeTable(spec)) assert.match(section, new RegExp(`^ +${code}  ${meaning.replace(/[()|]/g, '\\$&')}$`, 'm'));
});

const work = mkdtempSync(join(tmpdir(), 'podsec-exit-codes-'));
const program = join(work, 'demo.ts');
writeFileSync(
  program,
  `import { CommandError, runCommand } from ${JSON.stringify(join(REPO_ROOT, 'bin/lib/command.ts'))};\n` +
    `runCommand(${JSON.stringify(spec)}, (m, p = {}) => m.replace(/\\{(\\w+)\\}/g, (_, k) => String(p[k])), ({ positionals }) => {\n` +
    `  throw new CommandError('failing with ' + positionals[0], Number(positionals[0]));\n` +
    `});\n`,
);
test.after(() => rmSync(work, { recursive: true, force: true }));

const runDemo = (args: string[], check: boolean) => runTs(program, args, { env: { ...process.env, [CHECK_EXIT_CODES_ENV]: check ? '1' : '' } });

test('a documented code passes the check unchanged', async () => {
  const result = await runDemo(['2'], true);
  assert.is(result.exitCode, 2, result.stderr);
  assert.is(result.stderr, 'demo: failing with 2\n');
});

test('an undocumented code fails the check: internal error 70, naming the code', async () => {
  const result = await runDemo(['4'], true);
  assert.is(result.exitCode, 70, result.stderr);
  assert.match(result.stderr, 'exit code 4 is not in the exit-code table');
});

test('without the check (as installed) the code is kept', async () => {
  assert.is((await runDemo(['4'], false)).exitCode, 4);
});

test('an unknown option exits with the command’s usage code, not a fixed 2', async () => {
  const result = await runDemo(['--bogus'], true);
  assert.is(result.exitCode, 1, result.stderr);
});

test.run();
