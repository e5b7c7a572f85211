/**
 * npm run build's launcher (scripts/cli-bundled.mjs): the pipeline bundled by esbuild, kept while
 * its inputs are unchanged, made again when one changes, and sound where it differs from tsx.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../../scripts/paths.ts';
// @ts-expect-error: a plain ES module (it runs before any TypeScript is compiled), without types
import { bundleCli } from '../../scripts/cli-bundled.mjs';
import { run } from '../support/exec.ts';

const bundle = bundleCli as () => Promise<string>;
const MANIFEST = join(REPO_ROOT, 'node_modules', '.cache', 'podsec-pipeline', 'manifest.json');
const readManifest = async () => JSON.parse(await readFile(MANIFEST, 'utf8')) as { inputs: [string, string][]; entry: string };

test('package.json: npm run build runs the launcher', async () => {
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.is(pkg.scripts.build, 'node scripts/cli-bundled.mjs build');
});

test('the bundle holds the whole pipeline, the model and what cli.ts loads lazily included', async () => {
  await bundle();
  const inputs = (await readManifest()).inputs.map(([path]) => path);
  for (const path of ['scripts/cli.ts', 'scripts/build.ts', 'scripts/model/index.ts', 'scripts/stage.ts']) assert.ok(inputs.includes(path), path);
});

test('every bundled module that reads import.meta is in scripts/ itself (the bundle gives them cli.ts URL)', async () => {
  await bundle();
  const readers: string[] = [];
  for (const [path] of (await readManifest()).inputs) if ((await readFile(join(REPO_ROOT, path), 'utf8')).includes('import.meta')) readers.push(path);
  assert.ok(readers.includes('scripts/paths.ts'), readers.join(' '));
  assert.equal(
    readers.filter((path) => !/^scripts\/[^/]+\.ts$/.test(path)),
    [],
  );
});

test('an unchanged pipeline reuses the kept bundle; an input whose digest differs makes it again', async () => {
  const first = await bundle();
  assert.is(await bundle(), first);
  const manifest = await readManifest();
  const stale = manifest.inputs.findIndex(([path]) => path === 'scripts/build.ts');
  manifest.inputs[stale]![1] = '0'.repeat(64);
  await writeFile(MANIFEST, JSON.stringify(manifest));
  assert.is(await bundle(), first, 'the same sources make the same bundle');
  const remade = await readManifest();
  assert.is.not(remade.inputs.find(([path]) => path === 'scripts/build.ts')![1], '0'.repeat(64), 'the digest is that of the file again');
});

test('--help and validate answer as under tsx; --model loads a TypeScript model', async () => {
  const launcher = (args: string[], env: Record<string, string> = {}) => run(process.execPath, ['scripts/cli-bundled.mjs', ...args], { env });
  const viaTsx = await run(process.execPath, ['--import', 'tsx', 'scripts/cli.ts', '--help']);
  const help = await launcher(['--help']);
  assert.is(help.exitCode, 0, help.stderr);
  assert.is(help.stdout, viaTsx.stdout);
  const valid = await launcher(['validate']);
  assert.is(valid.exitCode, 0, valid.stderr);
  const model = 'test/fixtures/models/broken.ts';
  assert.is((await launcher(['validate', '--model', model])).exitCode, 0);
  const broken = await launcher(['validate', '--model', model], { PODSEC_BROKEN_CASE: 'invalid-mode' });
  assert.is(broken.exitCode, 1, broken.stderr);
  assert.match(broken.stderr, /mode/);
});

test.run();
