/**
 * The no-op rebuild check: a hash of every build input and the hashes of the outputs, kept in
 * dist/build-state.json. Kept apart from the pipeline modules so that an up-to-date check loads
 * nothing heavy (no esbuild, ejs, tar, model).
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { globby } from 'globby';
import { REPO_ROOT } from './paths.ts';

const BUILD_INPUTS = ['scripts/**', 'bin/**', 'specs/**', 'units/**', 'policies/**', 'package.json', 'package-lock.json'];
const STATE_FILE = 'build-state.json';

interface BuildState {
  inputHash: string;
  /** Output path relative to the out dir -> sha256. */
  outputs: Record<string, string>;
  rpms: string[];
  rpmSkipped?: string;
  label: string;
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** The options that change the outputs are inputs too: the branch and the maintainer of --packager. */
export async function hashInputs(branch: string, packager = ''): Promise<string> {
  const files = (await globby(BUILD_INPUTS, { cwd: REPO_ROOT })).sort();
  const hash = createHash('sha256').update(`branch=${branch}\npackager=${packager}\n`);
  for (const file of files)
    hash
      .update(`${file}\0`)
      .update(await readFile(join(REPO_ROOT, file)))
      .update('\0');
  return hash.digest('hex');
}

export async function hashOutputs(outDir: string, outputs: string[]): Promise<Record<string, string> | undefined> {
  const hashes: Record<string, string> = {};
  for (const output of outputs) {
    try {
      hashes[output] = sha256(await readFile(join(outDir, output)));
    } catch {
      return undefined;
    }
  }
  return hashes;
}

/** The recorded state when the inputs are unchanged and every output is still as built; else undefined. */
export async function upToDateState(outDir: string, inputHash: string): Promise<BuildState | undefined> {
  const previous = (await readFile(join(outDir, STATE_FILE), 'utf8').then(JSON.parse, () => undefined)) as BuildState | undefined;
  // A build that skipped the RPMs (no rpmbuild) is never final: try again.
  if (previous?.inputHash !== inputHash || previous.rpmSkipped) return undefined;
  const outputs = await hashOutputs(outDir, Object.keys(previous.outputs));
  return outputs && JSON.stringify(outputs) === JSON.stringify(previous.outputs) ? previous : undefined;
}

export async function writeState(outDir: string, state: BuildState): Promise<void> {
  await writeFile(join(outDir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
}
