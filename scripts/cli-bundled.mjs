// @ts-check
/**
 * `npm run build`: scripts/cli.ts run from a bundle of it and the modules it loads, made by esbuild
 * and run by plain Node. Run through tsx, the same TypeScript is compiled module by module through
 * tsx's loader thread, which cost about a third of a second of every build. The code is split at
 * cli.ts's dynamic imports, so an up-to-date check still loads little.
 *
 * The bundle is kept below node_modules/.cache/podsec-pipeline/ with the digests of the files it
 * was made from; it is made again when one of them, this file or esbuild's version changes.
 * Every bundled module sees import.meta.url as cli.ts's own: the modules that use it are in
 * scripts/ itself (test/unit/cli-bundled.test.ts keeps it so), so their paths resolve as under tsx.
 * `--model FILE` loads a TypeScript model: tsx is registered for it then.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SCRIPTS = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(SCRIPTS);
const ENTRY = join(SCRIPTS, 'cli.ts');
const CACHE = join(ROOT, 'node_modules', '.cache', 'podsec-pipeline');
const MANIFEST = join(CACHE, 'manifest.json');

/** @param {string | Uint8Array} data */
const sha256 = (data) => createHash('sha256').update(data).digest('hex');

/**
 * What the bundle depends on besides its inputs: how it is made.
 * esbuild's version is read from its package.json: esbuild is loaded only to make a bundle.
 */
const recipe = async () => {
  const esbuildPackage = await readFile(createRequire(import.meta.url).resolve('esbuild/package.json'), 'utf8');
  return sha256(`${JSON.parse(esbuildPackage).version}\0${await readFile(fileURLToPath(import.meta.url), 'utf8')}`);
};

/**
 * The kept bundle's entry file, when the manifest's recipe and every input's digest still match.
 * @param {string} currentRecipe
 */
async function keptBundle(currentRecipe) {
  /** @type {{ recipe: string, inputs: [string, string][], entry: string }} */
  let manifest;
  try {
    manifest = JSON.parse(await readFile(MANIFEST, 'utf8'));
  } catch {
    return undefined;
  }
  if (manifest.recipe !== currentRecipe || !existsSync(manifest.entry)) return undefined;
  const digests = await Promise.all(manifest.inputs.map(([path]) => readFile(join(ROOT, path)).then(sha256, () => '')));
  return digests.every((digest, i) => digest === manifest.inputs[i]?.[1]) ? manifest.entry : undefined;
}

/** @param {string} path @param {string | Uint8Array} data (written beside, then renamed: a concurrent build never reads half of it) */
async function writeAtomically(path, data) {
  const temporary = `${path}.${process.pid}`;
  await writeFile(temporary, data);
  await rename(temporary, path);
}

/** The bundle's entry file: the kept one, or one made now. */
export async function bundleCli() {
  const currentRecipe = await recipe();
  const kept = await keptBundle(currentRecipe);
  if (kept) return kept;
  const outdir = join(CACHE, 'out');
  const { build } = await import('esbuild');
  const { outputFiles, metafile } = await build({
    entryPoints: [ENTRY],
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    outdir,
    // .mjs: below node_modules no package.json says "type": "module"
    outExtension: { '.js': '.mjs' },
    define: { 'import.meta.url': JSON.stringify(pathToFileURL(ENTRY).href) },
    absWorkingDir: ROOT,
    metafile: true,
    write: false,
    logLevel: 'warning',
  });
  const files = outputFiles.map((file) => ({ name: relative(outdir, file.path), contents: file.contents }));
  const dir = join(CACHE, sha256(files.map((file) => `${file.name}\0${sha256(file.contents)}`).join('\n')).slice(0, 16));
  await mkdir(CACHE, { recursive: true });
  if (!existsSync(dir)) {
    const staging = await mkdtemp(join(CACHE, '.new-'));
    for (const file of files) await writeFile(join(staging, file.name), file.contents);
    // Another build may have made the same directory meanwhile: theirs is byte for byte the same.
    await rename(staging, dir).catch(() => rm(staging, { recursive: true, force: true }));
  }
  const entry = join(dir, 'cli.mjs');
  const inputs = await Promise.all(Object.keys(metafile.inputs).map(async (path) => [path, sha256(await readFile(join(ROOT, path)))]));
  await writeAtomically(MANIFEST, JSON.stringify({ recipe: currentRecipe, inputs, entry }));
  return entry;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--model')) (await import('tsx/esm/api')).register();
  await import(pathToFileURL(await bundleCli()).href);
}
