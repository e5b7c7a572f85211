/**
 * The code is as the formatter writes it (`npm run format`), and no line is longer than its
 * print width: the formatter does not break a string or a regular expression, so a longer text
 * is written as parts joined with + (the i18n extractor reads such a text as one message).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as prettier from 'prettier';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../../scripts/paths.ts';

const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: REPO_ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);

async function formattedFiles(): Promise<string[]> {
  const out: string[] = [];
  for (const file of tracked) {
    const info = await prettier.getFileInfo(join(REPO_ROOT, file), { ignorePath: join(REPO_ROOT, '.prettierignore') });
    if (!info.ignored && info.inferredParser) out.push(file);
  }
  return out;
}

test('every file the formatter covers is formatted, and no line is longer than the print width', async () => {
  const files = await formattedFiles();
  assert.ok(files.some((f) => f.startsWith('bin/')) && files.some((f) => f.startsWith('test/')), `the formatter covers the code: ${files.length} files`);
  const unformatted: string[] = [];
  const long: string[] = [];
  for (const file of files) {
    const path = join(REPO_ROOT, file);
    const options = { ...(await prettier.resolveConfig(path)), filepath: path };
    const text = readFileSync(path, 'utf8');
    if (!(await prettier.check(text, options))) unformatted.push(file);
    const width = options.printWidth ?? 80;
    text.split('\n').forEach((line, i) => {
      if (line.length > width) long.push(`${file}:${i + 1}: ${line.length} > ${width}`);
    });
  }
  assert.equal(unformatted, [], 'not formatted (npm run format)');
  assert.equal(long, [], 'longer than the print width');
});

test.run();
