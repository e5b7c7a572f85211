/**
 * Bundle step: bin/<program>.ts -> one self-contained Node entrypoint with a #!/usr/bin/node
 * shebang (runtime dependencies inlined; nothing from node_modules at run time). The packaged
 * programs are bundled by the spec's %build with the esbuild command line (`buildCommand`), from
 * the sources the tarball ships (`runtimeDependencyFiles`); the pipeline bundles with the same
 * options through esbuild's API for the man pages, completions and the tests.
 */
import { build, type Metafile } from 'esbuild';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from './paths.ts';

/** The oldest Node the packages run on: ALT p10 and Debian bookworm ship Node 18. */
const NODE_TARGET = 'node18';
const SHEBANG = '#!/usr/bin/node';
const BANNER = `${SHEBANG}\n"use strict";`;

/** The options every bundle is made with, written once for the API and the %build command line. */
const COMMON = { bundle: true, platform: 'node', target: NODE_TARGET, format: 'cjs', charset: 'utf8', legalComments: 'inline' } as const;

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

/** Where %build writes the bundles, relative to the unpacked tarball: build/<program>.js. */
export const bundleOutput = (program: string) => `build/${program}.js`;

/**
 * The %build shell lines: esbuild's command line with the options of `bundleProgram`, run in the
 * tarball's src/ (the TypeScript sources and the runtime dependencies' sources). `version` is
 * written as the spec's macros (`%version-%release`).
 */
export function buildCommand(programs: string[], version: string): string[] {
  const flag = (name: string, value: string | boolean) => (value === true ? `--${name}` : `--${name}=${value}`);
  const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const options = Object.entries(COMMON).map(([name, value]) => flag(kebab(name), value));
  const defineFlags = Object.entries(defines(version, false)).map(([name, value]) => `'--define:${name}=${value}'`);
  return [
    'cd src',
    `esbuild ${options.join(' ')} --log-level=warning \\`,
    `\t--banner:js="$(printf '${BANNER.replace('\n', '\\n')}')" \\`,
    `\t${defineFlags.join(' ')} \\`,
    '\t--outbase=bin --outdir=../build \\',
    ...[...programs].sort().map((program, index, all) => `\t${entryOf(program)}${index < all.length - 1 ? ' \\' : ''}`),
    'cd ..',
  ];
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
