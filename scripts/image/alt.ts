/**
 * `--base alt`: the node rootfs from a real ALT base instead of the Debian stand-in. The base is
 * an ALT container image (registry.altlinux.org/<branch>/alt or Docker Hub's `alt:<branch>`);
 * systemd and the runtime tools come from ALT's repositories, our packages from `dist/repo`
 * through apt-get (apt-repo's `rpm file:<dir> noarch podsec` line), so the real ALT rpm, apt and
 * preset policy run the scriptlets.
 *
 * Nothing here reaches the network unless asked: the image must already be in the local podman
 * storage (`podman pull` it on a machine with access) or `--pull` must be given. On machines that
 * cannot reach ALT (CI here) the build stops before doing anything, with one line saying so.
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { execa } from 'execa';
import type { ProjectModel } from '../model/types.ts';
import { cachedEntry, contentHash, fileSha256, pruneEntries } from './cache.ts';
import type { RootfsManifest, RootfsResult } from './rootfs.ts';
import { MANIFEST_PATH } from './rootfs.ts';
import { RUNTIME_TOOLS } from './packages.ts';

class AltUnavailableError extends Error {
  override name = 'AltUnavailableError';
}

export const altImageReference = (branch: string) => `registry.altlinux.org/${branch}/alt:latest`;

/** ALT package names for the base system and tools (ALT's names, not Debian's). */
const ALT_BASE_PACKAGES: readonly string[] = [
  'systemd',
  'systemd-sysvinit',
  'dbus',
  'shadow-utils',
  'iproute2',
  'procps',
  'iputils',
  'kmod',
  'node',
  ...RUNTIME_TOOLS,
];

const PODMAN_TIMEOUT_MS = 10 * 60_000;
const APT_TIMEOUT_MS = 20 * 60_000;
const REPO_MOUNT = '/mnt/podsec-repo';

interface AltOptions {
  model: ProjectModel;
  /** The apt-rpm repository with our packages (npm run build writes dist/repo). */
  repo: string;
  image: string;
  pull: boolean;
  cacheDir: string;
  log?: (line: string) => void;
}

async function localImageId(image: string): Promise<string | undefined> {
  const r = await execa('podman', ['image', 'inspect', '--format', '{{.Id}}', image], { reject: false, stdin: 'ignore' });
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

/** Stops with AltUnavailableError before any work when the ALT base or our repository is missing. */
async function checkAltPrerequisites(options: AltOptions): Promise<{ imageId: string; release: string }> {
  let imageId = await localImageId(options.image);
  if (!imageId && options.pull) {
    options.log?.(`image: podman pull ${options.image}`);
    const r = await execa('podman', ['pull', '--quiet', options.image], { reject: false, stdin: 'ignore', timeout: PODMAN_TIMEOUT_MS });
    if (r.exitCode !== 0) {
      throw new AltUnavailableError(`cannot pull the ALT base image ${options.image}: ${r.stderr.trim().split('\n').pop() ?? `exit ${r.exitCode}`}`);
    }
    imageId = await localImageId(options.image);
  }
  if (!imageId) {
    throw new AltUnavailableError(
      `ALT base image ${options.image} is not in the local podman storage, and ALT's registry and repositories are not reachable from this machine` +
        `; on a machine with network access run \`podman pull ${options.image}\` first or add --pull`,
    );
  }
  const release = join(options.repo, 'noarch/base/release');
  if (!existsSync(release)) {
    throw new AltUnavailableError(
      `--base alt installs our packages with apt-get from an apt-rpm repository; ${release} is missing (npm run build writes dist/repo; or pass --repo DIR)`,
    );
  }
  return { imageId, release: await fileSha256(release) };
}

/** Runs a command inside the rootfs with systemd-nspawn (host network: apt needs ALT's mirrors). */
async function inRoot(root: string, repo: string, argv: string[]): Promise<void> {
  const r = await execa('systemd-nspawn', ['-q', '-D', root, '--register=no', '--keep-unit', '--pipe', `--bind-ro=${repo}:${REPO_MOUNT}`, '--', ...argv], {
    reject: false,
    stdin: 'ignore',
    timeout: APT_TIMEOUT_MS,
  });
  if (r.exitCode !== 0) throw new Error(`${argv.join(' ')} in the ALT rootfs failed (${r.exitCode}):\n${r.stderr.slice(-6000)}`);
}

export async function ensureAltRootfs(options: AltOptions): Promise<RootfsResult> {
  const { imageId, release } = await checkAltPrerequisites(options);
  const ours = options.model.packages.map((p) => p.name);
  const hash = contentHash({ v: 1, imageId, release, packages: [...ALT_BASE_PACKAGES, ...ours] });
  const manifest: RootfsManifest = {
    kind: 'rootfs',
    base: `${options.image}@${imageId}`,
    suite: 'alt',
    debianPackages: [],
    missing: [],
    rpms: [],
  };
  const entry = await cachedEntry(options.cacheDir, `rootfs-alt-${hash.slice(0, 16)}`, async (tmp) => {
    const name = `podsec-alt-export-${process.pid}`;
    const tar = `${tmp}.tar`;
    try {
      const create = await execa('podman', ['create', '--name', name, options.image, '/bin/true'], { reject: false, stdin: 'ignore' });
      if (create.exitCode !== 0) throw new Error(`podman create ${options.image}: ${create.stderr}`);
      const exp = await execa('podman', ['export', '--output', tar, name], { reject: false, stdin: 'ignore', timeout: PODMAN_TIMEOUT_MS });
      if (exp.exitCode !== 0) throw new Error(`podman export: ${exp.stderr}`);
      await fs.mkdir(tmp);
      await execa('tar', ['--extract', '--file', tar, '--directory', tmp, '--numeric-owner', '--xattrs']);
    } finally {
      await execa('podman', ['rm', '--force', name], { reject: false, stdin: 'ignore' });
      await fs.rm(tar, { force: true });
    }
    const repo = resolve(options.repo);
    await fs.mkdir(join(tmp, 'etc/apt/sources.list.d'), { recursive: true });
    await fs.writeFile(join(tmp, 'etc/apt/sources.list.d/podsec.list'), `rpm file:${REPO_MOUNT} noarch podsec\n`);
    options.log?.('image: apt-get install (ALT) of the base system, tools and our packages');
    await inRoot(tmp, repo, ['apt-get', 'update']);
    await inRoot(tmp, repo, ['apt-get', 'install', '-y', ...ALT_BASE_PACKAGES, ...ours]);
    await fs.writeFile(join(tmp, 'etc/machine-id'), '');
    await fs.mkdir(join(tmp, MANIFEST_PATH, '..'), { recursive: true });
    await fs.writeFile(join(tmp, MANIFEST_PATH), JSON.stringify(manifest, null, 2) + '\n');
  });
  if (!entry.cached) await pruneEntries(options.cacheDir, 'rootfs-alt-', 2, [basename(entry.path)]);
  return {
    path: entry.path,
    base: `${options.image}@${imageId}`,
    cached: entry.cached,
    baseCached: true,
    plan: { debian: [], base: [], extra: [], missing: [] },
    manifest,
  };
}
