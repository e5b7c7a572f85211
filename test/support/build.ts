/**
 * One pipeline build shared by the test files of a run: the first caller builds, later callers
 * get the no-op rebuild (the build's own input/output hash check), so every file sees the same
 * artifacts for the current sources.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type BuildResult } from '../../scripts/build.ts';
import type { Branch } from '../../scripts/model/branches.ts';
import model from '../../scripts/model/index.ts';

export const sharedDist = (branch: Branch = 'p11') => join(process.env.PODSEC_TEST_DIST ?? join(tmpdir(), 'podsec-test-dist'), branch);

export async function ensureBuild(branch: Branch = 'p11'): Promise<BuildResult> {
  return build({ branch, outDir: sharedDist(branch), model, log: () => {} });
}
