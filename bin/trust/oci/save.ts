/**
 * Saving images into podsec's archive format (the one upstream's podsec-save-oci and
 * podsec-k8s-save-oci write, which podsec-load-sign-oci reads): for each
 * architecture, an OCI layout `<ociDir>/<arch>/` with uncompressed layers (they compress better
 * with xz) and ref names `<platform>/<name>:<tag>`, packed into `<ociDir>/<arch>.tar.xz`.
 *
 * Each image is copied twice with skopeo: source → a private `dir:` with --dest-decompress, then
 * dir → the layout with --dest-oci-accept-uncompressed-layers. Unlike upstream nothing is left in
 * root's containers-storage, and a failing copy stops the run naming the image and removes the
 * partial output: there is never a silently incomplete archive.
 */
import { createProgress } from '../../lib/progress.ts';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CommandError, type Invocation, type OptionSpec } from '../../lib/command.ts';
import { translator } from '../../lib/i18n.ts';
import { failure, run } from '../../lib/proc.ts';
import { packLayout } from './archive.ts';
import { ARCHITECTURES, formatName, isArchitecture, parseImageName, type ImageName } from './refs.ts';

const t = translator('podsec');

export const SAVE_EXIT = { usage: 1, arch: 2, image: 3, copy: 4 } as const;
const DEFAULT_REGISTRY = 'registry.altlinux.org';

/** The options podsec-save-oci and podsec-k8s-save-oci share: where the images come from, how hard they are compressed. */
export const SAVE_OPTIONS: Record<string, OptionSpec> = {
  registry: { type: 'string', valueName: 'HOST', description: 'the source registry (default U7S_ALTREGISTRY, else registry.altlinux.org)' },
  'signature-policy': { type: 'string', valueName: 'FILE', description: "the policy skopeo checks the sources against (default: the host's)" },
  'no-tls-verify': { type: 'boolean', description: 'the source registry speaks plain HTTP or has no valid certificate (a local mirror)' },
  'compression-level': {
    type: 'string',
    valueName: 'N',
    description: 'the xz level, 0 to 9 (default 9, the smallest archive); 1 compresses several times faster into an archive about half as large again',
  },
};

const DEFAULT_COMPRESSION_LEVEL = 9;

/** --compression-level as a number, checked before anything is saved. */
export function compressionLevel(values: Invocation['values']): number {
  const text = values['compression-level'];
  if (text === undefined) return DEFAULT_COMPRESSION_LEVEL;
  if (typeof text !== 'string' || !/^[0-9]$/.test(text))
    throw new CommandError(t('--compression-level: expected a number from 0 to 9, got {value}', { value: JSON.stringify(text) }), SAVE_EXIT.usage);
  return Number(text);
}

export const sourceRegistry = (values: Invocation['values']) => (values.registry as string | undefined) ?? (process.env.U7S_ALTREGISTRY || DEFAULT_REGISTRY);

/** A source transport as upstream passes it: docker:// (default) or containers-storage:[...]. */
const TRANSPORT = /^(docker:\/\/|containers-storage:(\[[^\]\s]+\])?)$/;

export const isTransport = (text: string) => text === '' || TRANSPORT.test(text);

/** `amd64,arm64` or `all`; every listed architecture is checked (upstream checked only the first). */
export function parseArchitectures(text: string): string[] {
  const list = text === 'all' ? [...ARCHITECTURES] : text.split(',');
  for (const arch of list) {
    if (!isArchitecture(arch))
      throw new CommandError(
        t('Unknown architecture {arch}; allowed: {allowed} or all', { arch: JSON.stringify(arch), allowed: ARCHITECTURES.join(', ') }),
        SAVE_EXIT.arch,
      );
  }
  return [...new Set(list)];
}

export function parseImages(texts: string[]): ImageName[] {
  return texts.map((text) => {
    try {
      return parseImageName(text);
    } catch (error) {
      throw new CommandError(t('invalid image name {image}: {reason}', { image: JSON.stringify(text), reason: (error as Error).message }), SAVE_EXIT.image);
    }
  });
}

interface SaveInput {
  ociDir: string;
  architectures: string[];
  /** '' or docker:// or containers-storage:[...] */
  transport: string;
  /** The source registry prefixed to every image (U7S_ALTREGISTRY). */
  registry: string;
  images: ImageName[];
  /** skopeo --policy, when the host's policy is not to be used. */
  policy?: string;
  /** false: the source registry is plain HTTP or has no valid certificate (skopeo --src-tls-verify=false). */
  tlsVerify?: boolean;
  /** xz's level (compressionLevel). */
  level: number;
  log: (line: string) => void;
}

/** saveImages with the source options of the command line; prints the archives it made. */
export async function saveAndList(values: Invocation['values'], input: Omit<SaveInput, 'policy' | 'tlsVerify' | 'log'>): Promise<number> {
  const archives = await saveImages({
    ...input,
    policy: values['signature-policy'] as string | undefined,
    tlsVerify: values['no-tls-verify'] !== true,
    log: (line) => process.stdout.write(line + '\n'),
  });
  for (const archive of archives) process.stdout.write(archive + '\n');
  return 0;
}

/** The fixed time stamped into archive entries, so the same images give the same archive bytes. */
const ARCHIVE_MTIME = new Date(0);

async function saveImages(input: SaveInput): Promise<string[]> {
  const dir = resolve(input.ociDir);
  if (dir.includes(':')) throw new CommandError(t('the directory {dir} must not contain ":" (skopeo reads it as a reference)', { dir }), SAVE_EXIT.usage);
  try {
    mkdirSync(dir, { mode: 0o755 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new CommandError(t('OCI catalog {dir} already exists', { dir }), SAVE_EXIT.usage);
    throw new CommandError(t('cannot create {dir}: {reason}', { dir, reason: (error as Error).message }), SAVE_EXIT.usage);
  }
  const transport = input.transport || 'docker://';
  const policy = input.policy ? ['--policy', input.policy] : [];
  const archives: string[] = [];
  try {
    const total = input.architectures.length * input.images.length;
    // A bar on a terminal, one parseable line per image otherwise (bin/lib/progress.ts).
    const progress = createProgress({ total, label: t('Saving images'), stream: process.stdout });
    for (const arch of input.architectures) {
      const layout = join(dir, arch);
      const staging = join(dir, `.staging-${arch}`);
      for (const image of input.images) {
        const name = formatName(image);
        progress.step(`${arch} ${name}`);
        const source = `${transport}${input.registry}/${name}`;
        rmSync(staging, { recursive: true, force: true });
        mkdirSync(staging, { mode: 0o700 });
        const steps: string[][] = [
          [
            '--override-arch',
            arch,
            ...policy,
            'copy',
            '--quiet',
            '--remove-signatures',
            ...(input.tlsVerify === false ? ['--src-tls-verify=false'] : []),
            '--dest-decompress',
            source,
            `dir:${staging}`,
          ],
          ['--override-arch', arch, ...policy, 'copy', '--quiet', '--dest-oci-accept-uncompressed-layers', `dir:${staging}`, `oci:${layout}:${name}`],
        ];
        for (const args of steps) {
          const result = await run('skopeo', args);
          if (result.error || result.status !== 0) {
            throw new CommandError(
              t('{image} ({arch}): skopeo copy from {source} failed: {reason}', { image: name, arch, source, reason: failure(result) }),
              SAVE_EXIT.copy,
            );
          }
        }
      }
      rmSync(staging, { recursive: true, force: true });
      input.log(t('compressing {file}', { file: join(dir, `${arch}.tar.xz`) }));
      archives.push(await packLayout(dir, arch, ARCHIVE_MTIME, input.level));
      rmSync(layout, { recursive: true, force: true });
    }
    progress.done();
  } catch (error) {
    // No partial archive set: the directory was ours, all of it goes.
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return archives;
}
