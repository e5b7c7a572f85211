/**
 * The pipeline's command line:
 *   build    [--branch p10|p11|sisyphus] [--out DIR] [--force] [--model FILE] [--packager 'Name <login@altlinux.org>']
 *   validate [--branch ...] [--model FILE]
 * --model loads another model module (default export: ProjectModel); the tests use it for broken models.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { hashInputs, upToDateState } from './build-state.ts';
import { ensureHostPackages } from './host-install.ts';
import { BRANCHES, DEFAULT_BRANCH, isBranch } from './model/branches.ts';
import type { ProjectModel } from './model/types.ts';
import { REPO_ROOT } from './paths.ts';

const USAGE = `usage: npm run build -- [--branch ${BRANCHES.join('|')}] [--out DIR] [--force] [--packager 'Name <login@altlinux.org>']
       tsx scripts/cli.ts validate [--branch B] [--model FILE]`;

class UsageError extends Error {}

async function loadModel(file: string | undefined): Promise<ProjectModel> {
  // The default model by a literal path, so that npm run build's bundle (cli-bundled.mjs) holds it.
  const module = (file ? await import(pathToFileURL(resolve(file)).href) : await import('./model/index.ts')) as { default: ProjectModel };
  return module.default;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      branch: { type: 'string', default: DEFAULT_BRANCH },
      out: { type: 'string', default: resolve(REPO_ROOT, 'dist') },
      model: { type: 'string' },
      force: { type: 'boolean', default: false },
      packager: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const [command = 'build', ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument: ${extra[0]}`);
  if (!isBranch(values.branch)) throw new UsageError(`unknown branch ${values.branch}; one of ${BRANCHES.join(', ')}`);
  if (values.packager !== undefined && !(await import('./changelog.ts')).isAltPackager(values.packager)) {
    throw new UsageError(`--packager '${values.packager}' is not 'Name <login@altlinux.org>' (sisyphus_check's packager pattern)`);
  }
  const log = (line: string) => process.stdout.write(line + '\n');
  const outDir = resolve(values.out);
  // What the build needs and the host lacks (rpm): installed as root on Debian, otherwise named.
  // Checked while the inputs are hashed or the pipeline's modules load.
  const hostChecked = command === 'build' ? ensureHostPackages('build', { log }) : undefined;
  hostChecked?.catch(() => {}); // awaited below

  // The up-to-date check first, before the pipeline's heavy modules are loaded.
  if (command === 'build' && !values.force && !values.model) {
    const [, inputHash] = await Promise.all([hostChecked, hashInputs(values.branch, values.packager)]);
    const state = await upToDateState(outDir, inputHash);
    if (state) {
      log(`up to date: ${state.label}`);
      return 0;
    }
  }
  const [{ build, checkModel }, model] = await Promise.all([import('./build.ts'), loadModel(values.model), hostChecked]);

  switch (command) {
    case 'build': {
      const result = await build({ branch: values.branch, outDir, model, log, force: values.force, packager: values.packager });
      for (const rpm of result.rpms) log(`  ${rpm}`);
      return 0;
    }
    case 'validate': {
      const { version, release } = (await import('./changelog.ts')).loadChangelog()[0]!;
      const problems = await checkModel(model, { branch: values.branch, version, release });
      for (const line of problems) process.stderr.write(line + '\n');
      return problems.length > 0 ? 1 : 0;
    }
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if ((error as Error).name === 'BuildError') {
      process.stderr.write((error as Error).message + '\n');
      process.exitCode = 1;
    } else if (error instanceof UsageError || String((error as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`build failed: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
