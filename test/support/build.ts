/**
 * One pipeline build shared by the test files of a run: the first caller builds, later callers
 * get the no-op rebuild (the build's own input/output hash check), so every file sees the same
 * artifacts for the current sources. Two processes building at once (test files run by hand
 * next to a CI run) take turns through a lock instead of writing the same directory together.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { execa } from 'execa';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { build, type BuildResult } from '../../scripts/build.ts';
import { acquireLock } from '../../scripts/image/cache.ts';
import type { Branch } from '../../scripts/model/branches.ts';
import model from '../../scripts/model/index.ts';
import { REPO_ROOT } from '../../scripts/paths.ts';

/** One directory per checkout, so two clones testing at once never share outputs. */
const checkoutId = createHash('sha256').update(REPO_ROOT).digest('hex').slice(0, 12);
const sharedDist = (branch: Branch = 'p11') => join(process.env.PODSEC_TEST_DIST ?? join(tmpdir(), `podsec-test-dist-${checkoutId}`), branch);

export async function ensureBuild(branch: Branch = 'p11'): Promise<BuildResult> {
  const outDir = sharedDist(branch);
  await mkdir(dirname(outDir), { recursive: true });
  const release = await acquireLock(`${outDir}.lock`);
  try {
    return await build({ branch, outDir, model, log: () => {} });
  } catch (error) {
    // uvu does not print what a before hook threw: say it here, where the build failed.
    console.error(`ensureBuild(${branch}) failed:`, error);
    throw error;
  } finally {
    await release();
  }
}

/**
 * The built packages unpacked into a fresh directory (rpm2cpio | cpio, no scriptlets): the
 * programs as %build made them, at their installed paths. The caller removes the directory.
 */
export async function unpackRpms(rpms: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'podsec-unpacked-'));
  for (const rpm of rpms) await execa('sh', ['-c', 'rpm2cpio "$1" | cpio -idm --quiet', 'sh', rpm], { cwd: dir });
  return dir;
}
