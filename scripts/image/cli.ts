/**
 * npm run image -- --kind rootfs|container|vm [--base debian|alt] [--out DIR] [options]
 * Builds a node image with the podsec packages installed (see scripts/image/index.ts).
 */
import { resolve } from 'node:path';
import { BRANCHES, DEFAULT_BRANCH, isBranch } from '../model/branches.ts';
import { runScript, UsageError } from '../script-cli.ts';
import type { Base, Kind } from './index.ts';

const USAGE = `usage: npm run image -- --kind rootfs|container|vm [--base debian|alt] [--out DIR]
  --branch ${BRANCHES.join('|')}  paths of the packages (default ${DEFAULT_BRANCH})
  --rpms FILE...         install these RPMs (repeatable) instead of npm run build's
  --cache DIR            image cache (default $PODSEC_IMAGE_CACHE or /var/cache/podsec-image)
  --sources FILE         apt sources for mmdebstrap (default the host's debian.sources)
  --podman-root DIR      container: import into this podman storage (with --podman-runroot)
  --no-import            container: write the tar and machine directory only
  --alt-image REF        --base alt: the ALT base image (default registry.altlinux.org/<branch>/alt:latest)
  --pull                 --base alt: pull the ALT image if it is not in local storage
  --repo DIR             --base alt: apt-rpm repository with our packages (default dist/repo)`;

const kindsOfError = ['AltUnavailableError', 'BuildError'];

runScript(
  {
    name: 'image',
    usage: USAGE,
    options: {
      kind: { type: 'string' },
      base: { type: 'string', default: 'debian' },
      out: { type: 'string' },
      branch: { type: 'string', default: DEFAULT_BRANCH },
      rpms: { type: 'string', multiple: true },
      cache: { type: 'string' },
      sources: { type: 'string' },
      'podman-root': { type: 'string' },
      'podman-runroot': { type: 'string' },
      'no-import': { type: 'boolean', default: false },
      'alt-image': { type: 'string' },
      pull: { type: 'boolean', default: false },
      repo: { type: 'string' },
    },
    expected: (error) => kindsOfError.includes(error.name),
  },
  async ({ values }) => {
    const kinds = ['rootfs', 'container', 'vm'];
    if (!values.kind) throw new UsageError('--kind is required');
    if (!kinds.includes(values.kind)) throw new UsageError(`unknown kind ${values.kind}; one of ${kinds.join(', ')}`);
    if (!['debian', 'alt'].includes(values.base)) throw new UsageError(`unknown base ${values.base}; one of debian, alt`);
    if (!isBranch(values.branch)) throw new UsageError(`unknown branch ${values.branch}; one of ${BRANCHES.join(', ')}`);
    if (process.getuid?.() !== 0) throw new UsageError('building images needs root (mmdebstrap, rpm --root, mknod, podman import)');

    // Loaded after the argument checks: a usage error costs no pipeline import.
    const { buildImage, defaultCacheDir, defaultOutDir } = await import('./index.ts');
    const model = (await import('../model/index.ts')).default;
    const log = (line: string) => process.stdout.write(line + '\n');
    await buildImage({
      kind: values.kind as Kind,
      base: values.base as Base,
      model,
      branch: values.branch,
      outDir: resolve(values.out ?? defaultOutDir()),
      cacheDir: resolve(values.cache ?? defaultCacheDir()),
      rpms: values.rpms?.map((r) => resolve(r)),
      sources: values.sources,
      podman: { root: values['podman-root'], runroot: values['podman-runroot'], skipImport: values['no-import'] },
      altImage: values['alt-image'],
      pull: values.pull,
      repo: values.repo ? resolve(values.repo) : undefined,
      log,
    });
    return 0;
  },
);
