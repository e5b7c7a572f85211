/**
 * Node images with the podsec packages installed:
 *   rootfs     a cached, content-addressed root directory (Debian stand-in or ALT base)
 *   container  + a deterministic tar imported as an OCI image, and an nspawn machine directory
 *   vm         + Debian's kernel and a busybox initramfs booting the rootfs over 9p in qemu
 * Outputs go to `outDir` (default dist/image); the expensive parts live in `cacheDir`.
 */
import * as fs from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { loadChangelog, sourceDateEpoch } from '../changelog.ts';
import type { Branch } from '../model/branches.ts';
import type { ProjectModel } from '../model/types.ts';
import { REPO_ROOT } from '../paths.ts';
import { altImageReference, ensureAltRootfs } from './alt.ts';
import { replaceSymlink } from './cache.ts';
import { importOci, nspawnBootCommand, type PodmanStorage, systemdIsPid1, writeDeterministicTar, writeMachineDir } from './container.ts';
import { ensureRootfs, type RootfsResult } from './rootfs.ts';
import { ensureVm, kernelCommandLine, qemuArgv } from './vm.ts';

export const KINDS = ['rootfs', 'container', 'vm'] as const;
export type Kind = (typeof KINDS)[number];
const BASES = ['debian', 'alt'] as const;
export type Base = (typeof BASES)[number];

export const defaultCacheDir = () => process.env.PODSEC_IMAGE_CACHE || '/var/cache/podsec-image';
export const defaultOutDir = () => join(REPO_ROOT, 'dist', 'image');
const IMAGE_NAME = 'localhost/podsec-node';
const MACHINE_NAME = 'podsec-node';

interface ImageOptions {
  kind: Kind;
  base: Base;
  model: ProjectModel;
  branch: Branch;
  outDir: string;
  cacheDir: string;
  /** RPMs to install; default: `npm run build`'s (built first when out of date). */
  rpms?: string[];
  sources?: string;
  /** container: import into this podman storage (default: the caller's), or not at all. */
  podman?: PodmanStorage & { skipImport?: boolean };
  /** --base alt */
  altImage?: string;
  pull?: boolean;
  repo?: string;
  log: (line: string) => void;
}

interface ImageResult {
  rootfs: RootfsResult;
  /** What was written, by name: rootfs, tar, image, machine, vmlinuz, initrd, qemu. */
  outputs: Record<string, string>;
}

/** `podsec-2.0.0-alt1.noarch.rpm` -> `2.0.0-alt1`. */
function versionOfRpms(rpms: string[]): string {
  for (const rpm of rpms) {
    const m = /^podsec-(\d[^-]*)-([^-]+)\.noarch\.rpm$/.exec(basename(rpm));
    if (m) return `${m[1]}-${m[2]}`;
  }
  const { version, release } = loadChangelog()[0]!;
  return `${version}-${release}`;
}

async function defaultRpms(o: ImageOptions): Promise<string[]> {
  const { build } = await import('../build.ts'); // the pipeline's heavy modules, only when building
  const result = await build({ branch: o.branch, outDir: join(REPO_ROOT, 'dist'), model: o.model, log: o.log });
  if (result.rpmSkipped) throw new Error(result.rpmSkipped);
  return result.rpms;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await fs.writeFile(`${path}.tmp-${process.pid}`, JSON.stringify(value, null, 2) + '\n');
  await fs.rename(`${path}.tmp-${process.pid}`, path);
}

export async function buildImage(o: ImageOptions): Promise<ImageResult> {
  const outDir = resolve(o.outDir);
  let rootfs: RootfsResult;
  let rpms: string[] = [];
  if (o.base === 'alt') {
    rootfs = await ensureAltRootfs({
      model: o.model,
      repo: o.repo ?? join(REPO_ROOT, 'dist', 'repo'),
      image: o.altImage ?? altImageReference(o.branch),
      pull: o.pull ?? false,
      cacheDir: o.cacheDir,
      log: o.log,
    });
  } else {
    rpms = o.rpms ?? (await defaultRpms(o));
    rootfs = await ensureRootfs({ model: o.model, rpms, cacheDir: o.cacheDir, sources: o.sources, log: o.log });
  }
  await fs.mkdir(outDir, { recursive: true });
  const outputs: Record<string, string> = { rootfs: join(outDir, 'rootfs') };
  await replaceSymlink(rootfs.path, outputs.rootfs!);
  await writeJson(join(outDir, 'rootfs.json'), { ...rootfs.manifest, path: rootfs.path });
  o.log(`rootfs: ${outputs.rootfs} -> ${rootfs.path}${rootfs.cached ? ' (cached)' : ''}`);
  if (rootfs.plan.missing.length) o.log(`rootfs: not in Debian, left out: ${rootfs.plan.missing.join(', ')}`);

  const version = versionOfRpms(rpms);
  if (o.kind === 'container') {
    const dir = join(outDir, 'container');
    await fs.mkdir(dir, { recursive: true });
    outputs.tar = join(dir, `${MACHINE_NAME}.tar`);
    const sha256 = await writeDeterministicTar(rootfs.path, outputs.tar, sourceDateEpoch(loadChangelog()));
    o.log(`container: ${outputs.tar} (sha256 ${sha256})`);
    if (!o.podman?.skipImport) {
      const imported = await importOci(
        outputs.tar,
        `${IMAGE_NAME}:${version}`,
        { 'org.opencontainers.image.version': version, 'org.opencontainers.image.title': 'podsec node' },
        o.podman,
      );
      outputs.image = `${imported.reference}@${imported.imageId}`;
      o.log(`container: podman image ${imported.reference} (${imported.imageId.slice(0, 12)}, layer ${imported.layer})`);
    }
    outputs.machine = await writeMachineDir(rootfs.path, join(dir, 'machines'), MACHINE_NAME);
    o.log(`container: nspawn machine ${outputs.machine} (+ ${MACHINE_NAME}.nspawn); boot: ${nspawnBootCommand(outputs.machine, systemdIsPid1())}`);
    await writeJson(join(dir, 'manifest.json'), { version, tarSha256: sha256, ...outputs });
  }
  if (o.kind === 'vm') {
    const dir = join(outDir, 'vm');
    await fs.mkdir(dir, { recursive: true });
    const vm = await ensureVm(rootfs.path, o.cacheDir, o.log);
    outputs.vmlinuz = join(dir, 'vmlinuz');
    outputs.initrd = join(dir, 'initrd.img');
    await replaceSymlink(vm.vmlinuz, outputs.vmlinuz);
    await replaceSymlink(vm.initrd, outputs.initrd);
    await replaceSymlink(rootfs.path, join(dir, 'rootfs'));
    const argv = qemuArgv({ ...vm, vmlinuz: outputs.vmlinuz, initrd: outputs.initrd, rootfs: join(dir, 'rootfs') }, { consoleLog: join(dir, 'console.log') });
    outputs.qemu = join(dir, 'qemu.json');
    await writeJson(outputs.qemu, { argv, kernel: vm.kernel.version, modules: vm.modules.map((m) => m.name), append: kernelCommandLine() });
    o.log(`vm: kernel ${vm.kernel.version}, initramfs ${vm.initrd}`);
    o.log(`vm: boot with: ${argv.map((a) => (/[\s"']/.test(a) ? `'${a}'` : a)).join(' ')}`);
  }
  return { rootfs, outputs };
}
