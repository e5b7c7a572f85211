/**
 * The shared fixtures of the image tests: the built RPMs and the node rootfs with all of them
 * installed (the image builder's own cache, so a test run after `npm run image` reuses it), and
 * the gate: root and the tools, failing in CI and skipping elsewhere.
 */
import { join } from 'node:path';
import { defaultCacheDir } from '../../scripts/image/index.ts';
import { ensureBase, ensureRootfs, type RootfsResult } from '../../scripts/image/rootfs.ts';
import model from '../../scripts/model/index.ts';
import { ensureBuild } from './build.ts';

export const BRANCH = 'p11' as const;
export const imageCacheDir = () => defaultCacheDir();

/** The node rootfs with every package installed (built once, then cached by content). */
export async function ensureNodeImage(): Promise<RootfsResult & { rpms: string[]; spec: string }> {
  const built = await ensureBuild(BRANCH);
  if (built.rpmSkipped) throw new Error(built.rpmSkipped);
  const image = await ensureRootfs({ model, rpms: built.rpms, cacheDir: imageCacheDir(), log: (l) => process.stderr.write(`${l}\n`) });
  return { ...image, rpms: built.rpms, spec: built.spec };
}

/** The same system without our packages. */
export async function ensureBareImage(): Promise<string> {
  return (await ensureBase({ model, cacheDir: imageCacheDir(), log: (l) => process.stderr.write(`${l}\n`) })).path;
}

export const macrosFile = (spec: string) => join(spec, '..', 'macros', `${BRANCH}.macros`);

/** The file-level gate lives with the others (tools.ts); re-exported for the image tests. */
export { runGated } from './tools.ts';

/** uvu reports a failing before-hook only as tests that did not pass: print its error first. */
export function hookError(err: unknown): never {
  console.error('before/after hook failed:', err);
  throw err;
}

export const NODE_TOOLS = ['mmdebstrap', 'systemd-nspawn', 'rpm', 'rpmbuild', 'nsenter', 'mount', 'umount', 'mknod', 'systemctl'];
