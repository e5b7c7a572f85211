/**
 * Habits of the code that no compiler checks: an export is there for another file, and a comment
 * points only at documents that are in the repository.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../../scripts/paths.ts';

const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: REPO_ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
const sources = new Map(tracked.filter((f) => f.endsWith('.ts')).map((f) => [f, readFileSync(join(REPO_ROOT, f), 'utf8')]));

const EXPORTED = /^export\s+(?:declare\s+)?(?:async\s+)?(?:function\*?|const|let|class|interface|type|enum)\s+([A-Za-z_$][\w$]*)/gm;

test('every exported name is used by another file (no dead exports)', () => {
  const words = new Map([...sources].map(([file, text]) => [file, new Set(text.match(/[A-Za-z_$][\w$]*/g))]));
  const dead: string[] = [];
  for (const [file, text] of sources) {
    for (const [, name] of text.matchAll(EXPORTED)) if (![...words].some(([other, used]) => other !== file && used.has(name!))) dead.push(`${file}: ${name}`);
  }
  assert.ok(sources.size > 300, `${sources.size} TypeScript files read`);
  assert.equal(dead, [], 'exported, but no other file uses it: drop the export (or the code)');
});

test('a research document a file names is in the repository', () => {
  const missing: string[] = [];
  for (const file of tracked) {
    if (!/\.(ts|ejs|macros|sh)$/.test(file) && !file.startsWith('.ci/')) continue;
    for (const [path] of readFileSync(join(REPO_ROOT, file), 'utf8').matchAll(/\bresearch\/[\w.-]+\.md\b/g))
      if (!existsSync(join(REPO_ROOT, path))) missing.push(`${file}: ${path}`);
  }
  assert.equal(missing, []);
});

test.run();
