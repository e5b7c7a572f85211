/**
 * Bundle step. The packaged programs are bundled by the spec's %build with the esbuild command
 * line (`buildCommand`), from the sources the tarball ships (`runtimeDependencyFiles`), one
 * esbuild run per package with code splitting (`bundlePackage` does the same through esbuild's
 * API, for the tests): each program is a CommonJS file with a #!/usr/bin/node shebang at its
 * installed path, and what it loads only when a command runs, or shares with the package's other
 * programs, is in modules in the package's own directory (scripts/model/program-modules.ts),
 * required by paths relative to the program. --help and --version parse little more than the
 * program's own code. Runtime dependencies are inlined; nothing from node_modules at run time.
 *
 * Node runs an extensionless file as CommonJS, and starts CommonJS faster than an ES module,
 * while esbuild splits only ES modules: so the split ES modules are turned into CommonJS, file by
 * file (a second esbuild run, no bundling: `import()` of a module becomes a `require()` when it runs).
 *
 * `bundleProgram` makes one program as a single file (no modules): the tests that run a program
 * from a directory of their own use it; the same code, only not split.
 */
import { build, type Metafile } from 'esbuild';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { DEFAULT_BRANCH, resolvePath } from './model/branches.ts';
import { programModulesDir, programsOf } from './model/program-modules.ts';
import type { PackageDecl } from './model/types.ts';
import { REPO_ROOT } from './paths.ts';

/** The oldest Node the packages run on: ALT p10 and Debian bookworm ship Node 18. */
const NODE_TARGET = 'node18';
const SHEBANG = '#!/usr/bin/node';
const STRICT = '"use strict";';
const BANNER = `${SHEBANG}\n${STRICT}`;

/** The options every bundle is made with, written once for the API and the %build command line. */
const COMMON = { bundle: true, platform: 'node', target: NODE_TARGET, format: 'cjs', charset: 'utf8', legalComments: 'inline' } as const;
/** A package's programs, split: ES modules first (esbuild splits no other format). */
const SPLIT = { ...COMMON, format: 'esm', splitting: true } as const;
/** Then each file of the split turned into CommonJS, one by one. */
const TO_COMMONJS = { platform: 'node', target: NODE_TARGET, format: 'cjs', charset: 'utf8', legalComments: 'inline' } as const;

const defines = (version: string, faultPoints: boolean) => ({ PODSEC_VERSION: JSON.stringify(version), PODSEC_FAULT_POINTS: faultPoints ? 'true' : 'false' });

const entryOf = (program: string) => `bin/${program}.ts`;

/**
 * `faultPoints` compiles in the crash tests' fault points (bin/lib/fault-point.ts); only tests ask
 * for it. The packaged programs are built without: the code reading the fault variables is removed.
 */
export async function bundleProgram(program: string, version: string, options: { faultPoints?: boolean } = {}): Promise<string> {
  const result = await build({
    ...COMMON,
    absWorkingDir: REPO_ROOT,
    entryPoints: [entryOf(program)],
    write: false,
    minify: false,
    banner: { js: BANNER },
    define: defines(version, options.faultPoints ?? false),
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error(`esbuild produced nothing for ${program}`);
  return output.text;
}

const PREFIX = '/usr';

/**
 * Where a file installed at `installedPath` is in a package's bundle directory: its path below
 * /usr (`%_bindir/x` -> `bin/x`). The programs and their modules keep, below the bundle directory,
 * their places relative to each other once installed, so that their relative requires hold both
 * in the bundle directory and on the node.
 */
function bundlePath(installedPath: string): string {
  const resolved = resolvePath(installedPath, DEFAULT_BRANCH);
  if (!resolved.startsWith(`${PREFIX}/`)) throw new Error(`${installedPath}: programs and their modules are installed below ${PREFIX}`);
  return resolved.slice(PREFIX.length + 1);
}

/** Where %build writes a package's bundles, relative to the unpacked tarball. */
const bundleDir = (packageName: string) => `build/${packageName}`;
/** The file made of the program installed at `installedPath`, relative to its package's bundle directory. */
export const programInBundle = (installedPath: string) => `${bundlePath(installedPath)}.js`;
/** The file %build makes of the program installed at `installedPath`. */
export const bundleOutput = (packageName: string, installedPath: string) => `${bundleDir(packageName)}/${programInBundle(installedPath)}`;
/** The directory of %build's modules of a package (absent when its programs share nothing). */
export const modulesOutput = (packageName: string) => `${bundleDir(packageName)}/${bundlePath(programModulesDir(packageName))}`;

const splitOptions = (pkg: PackageDecl) => ({
  entryPoints: programsOf(pkg).map(({ program, path }) => ({ in: entryOf(program), out: bundlePath(path) })),
  chunkNames: `${bundlePath(programModulesDir(pkg.name))}/chunk-[hash]`,
});

/**
 * A package's programs and modules as %build makes them, written below `outDir` (the layout of
 * `bundleDir`: `bin/<program>.js`, `share/<package>/chunk-<hash>.js`, ...). Returns the files
 * written, relative to `outDir`, sorted.
 */
export async function bundlePackage(pkg: PackageDecl, version: string, outDir: string): Promise<string[]> {
  const esm = await mkdtemp(join(tmpdir(), 'podsec-split-'));
  try {
    const { entryPoints, chunkNames } = splitOptions(pkg);
    const split = await build({
      ...SPLIT,
      absWorkingDir: REPO_ROOT,
      entryPoints,
      chunkNames,
      outdir: esm,
      define: defines(version, false),
      logLevel: 'silent',
      metafile: true,
    });
    const files = Object.keys(split.metafile.outputs).map((file) => posix.relative(esm, posix.resolve(REPO_ROOT, file)));
    const programs = new Set(entryPoints.map((entry) => `${entry.out}.js`));
    const toCommonJs = (paths: string[], banner: string) =>
      paths.length
        ? build({ ...TO_COMMONJS, absWorkingDir: esm, entryPoints: paths, outbase: '.', outdir: outDir, banner: { js: banner }, logLevel: 'silent' })
        : undefined;
    await toCommonJs(files.filter((f) => programs.has(f)).sort(), BANNER);
    await toCommonJs(files.filter((f) => !programs.has(f)).sort(), STRICT);
    return files.sort();
  } finally {
    await rm(esm, { recursive: true, force: true });
  }
}

const shellWord = (word: string) => (/^[\w@%./:=,+-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`);

/**
 * The %build shell lines: per package, esbuild's command line with the options of
 * `bundlePackage`, run in the tarball's src/ (the TypeScript sources and the runtime dependencies'
 * sources), then the command lines turning its output into CommonJS. `version` is written as the
 * spec's macros (`%version-%release`).
 */
export function buildCommand(packages: PackageDecl[], version: string): string[] {
  const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const flags = (options: Record<string, string | boolean>) =>
    Object.entries(options).map(([name, value]) => (value === true ? `--${kebab(name)}` : `--${kebab(name)}=${value}`));
  const defineFlags = Object.entries(defines(version, false)).map(([name, value]) => `'--define:${name}=${value}'`);
  /** A command line over several lines: the first, then one word a line. */
  const lines = (first: string, words: string[]) =>
    [first, ...words.map((word) => `\t${word}`)].map((line, i, all) => (i < all.length - 1 ? `${line} \\` : line));
  const out: string[] = [];
  for (const pkg of packages) {
    if (!programsOf(pkg).length) continue;
    const { entryPoints, chunkNames } = splitOptions(pkg);
    // The ES modules in build/esm/<package>, their CommonJS in bundleDir (build/<package>).
    const esm = `build/esm/${pkg.name}`;
    const modules = bundlePath(programModulesDir(pkg.name));
    out.push(
      `# ${pkg.name}`,
      'cd src',
      ...lines(`esbuild ${flags(SPLIT).join(' ')} --log-level=warning`, [
        ...defineFlags,
        `--outdir=../${esm}`,
        shellWord(`--chunk-names=${chunkNames}`),
        ...entryPoints.map((entry) => `${entry.out}=${entry.in}`),
      ]),
      `cd ../${esm}`,
      ...lines(`esbuild ${flags(TO_COMMONJS).join(' ')} --log-level=warning`, [
        `--banner:js="$(printf '${BANNER.replace('\n', '\\n')}')"`,
        `--outbase=. --outdir=../../${pkg.name}`,
        ...entryPoints.map((entry) => `${entry.out}.js`),
      ]),
      `if [ -d ${modules} ]; then`,
      `\tesbuild ${flags(TO_COMMONJS).join(' ')} --log-level=warning --banner:js=${shellWord(STRICT)} --outbase=. --outdir=../../${pkg.name} ${modules}/*.js`,
      'fi',
      'cd ../../..',
    );
  }
  return out;
}

/** The esbuild binary of the project's pinned esbuild, for the off-ALT build's %build. */
export function esbuildBinDir(): string {
  return dirname(createRequire(join(REPO_ROOT, 'package.json')).resolve('esbuild/bin/esbuild'));
}

/**
 * The programs as the build runs them to describe themselves (man pages, completion), made in one
 * esbuild run: ES modules whose shared code is split into chunks, so that one Node process loads
 * them all (scripts/docs/describe.ts) and what they share once. Written below `outDir`, one
 * `<program>.mjs` each. Also returns the runtime dependency files the bundles are made of.
 */
export async function bundleForDescribing(programs: string[], version: string, outDir: string): Promise<{ files: string[]; dependencyFiles: string[] }> {
  const result = await build({
    ...COMMON,
    format: 'esm',
    splitting: true,
    absWorkingDir: REPO_ROOT,
    entryPoints: programs.map((program) => ({ in: entryOf(program), out: program })),
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    metafile: true,
    // The bundled CommonJS dependencies require() node's modules; an ES module has no require of its own.
    banner: { js: "import { createRequire as podsecCreateRequire } from 'node:module';\nconst require = podsecCreateRequire(import.meta.url);" },
    define: defines(version, false),
    logLevel: 'silent',
    // Paths as they are under the checkout, also when node_modules is a link (a build from a copy of the tree).
    preserveSymlinks: true,
  });
  return { files: programs.map((program) => join(outDir, `${program}.mjs`)), dependencyFiles: dependencyFilesOf(result.metafile) };
}

/**
 * The files below node_modules that the programs' bundles are made of, with the package.json of
 * every package directory on their way and each package's licence: what %build needs to bundle
 * without the network, relative to the repository root.
 */
function dependencyFilesOf(metafile: Metafile): string[] {
  const inputs = Object.keys(metafile.inputs).filter((input) => input.startsWith('node_modules/'));
  const files = new Set(inputs);
  const dirs = new Set(inputs.flatMap((input) => input.split('/').map((_, end, parts) => parts.slice(0, end).join('/'))).filter(Boolean));
  for (const dir of dirs) {
    const names = existsSync(join(REPO_ROOT, dir)) ? readdirSync(join(REPO_ROOT, dir)) : [];
    // package.json decides how esbuild resolves and reads the files below; a package root's licence goes along.
    const isPackageRoot = /(^|\/)node_modules\/(@[^/]+\/)?[^/@]+$/.test(dir);
    for (const name of names) if (name === 'package.json' || (isPackageRoot && /^(licen[cs]e|copying|notice)/i.test(name))) files.add(`${dir}/${name}`);
  }
  return [...files].sort();
}
