/**
 * Bundle step: bin/<program>.ts -> one self-contained Node entrypoint with a #!/usr/bin/node
 * shebang (runtime dependencies inlined; nothing from node_modules at run time).
 */
import { build } from 'esbuild';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.ts';

/** The oldest Node the packages run on: ALT p10 and Debian bookworm ship Node 18. */
export const NODE_TARGET = 'node18';
export const SHEBANG = '#!/usr/bin/node';

/**
 * `faultPoints` compiles in the crash tests' fault points (bin/lib/fault-point.ts); only tests ask
 * for it. The packaged programs are built without: the code reading the fault variables is removed.
 */
export async function bundleProgram(program: string, version: string, options: { faultPoints?: boolean } = {}): Promise<string> {
  const result = await build({
    entryPoints: [join(REPO_ROOT, 'bin', `${program}.ts`)],
    bundle: true,
    platform: 'node',
    target: NODE_TARGET,
    format: 'cjs',
    write: false,
    minify: false,
    legalComments: 'inline',
    charset: 'utf8',
    banner: { js: `${SHEBANG}\n"use strict";` },
    define: { PODSEC_VERSION: JSON.stringify(version), PODSEC_FAULT_POINTS: options.faultPoints ? 'true' : 'false' },
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error(`esbuild produced nothing for ${program}`);
  return output.text;
}
