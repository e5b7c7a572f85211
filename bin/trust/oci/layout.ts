/**
 * The OCI image layout inside an `<arch>.tar.xz` archive (image-spec image-layout.md): oci-layout,
 * index.json whose manifests carry `org.opencontainers.image.ref.name`, and blobs/sha256/<hex>.
 * Read strictly: everything load-sign-oci will push is known and checked before the first push.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { translator } from '../../lib/i18n.ts';
import { readRegularFile } from '../../lib/safe-fs.ts';
import { ImageNameError, parseImageName, type ImageName } from './refs.ts';

const t = translator('podsec');

const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
const LAYOUT_VERSION = '1.0.0';
const MANIFEST_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);
const MAX_INDEX_BYTES = 16 * 1024 * 1024;
const DIGEST = /^sha256:([0-9a-f]{64})$/;

export class LayoutError extends Error {
  constructor(
    message: string,
    /** The name of the image the problem is about, if any. */
    readonly image?: string,
  ) {
    super(message);
  }
}

export interface LayoutImage {
  /** The ref name as written in index.json. */
  ref: string;
  name: ImageName;
  digest: string;
  mediaType: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function readJson(path: string, what: string): unknown {
  let bytes: Buffer;
  try {
    bytes = readRegularFile(path, { maxBytes: MAX_INDEX_BYTES });
  } catch (error) {
    throw new LayoutError(t('{file}: {reason}', { file: what, reason: (error as Error).message }));
  }
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new LayoutError(t('{file}: not valid JSON ({reason})', { file: what, reason: (error as Error).message }));
  }
}

/** Reads and checks `<dir>/index.json` (the caller checked that it exists). */
export function readLayout(dir: string): LayoutImage[] {
  const layout = readJson(join(dir, 'oci-layout'), 'oci-layout');
  if (!isObject(layout) || layout.imageLayoutVersion !== LAYOUT_VERSION)
    throw new LayoutError(t('oci-layout: imageLayoutVersion is not {version}', { version: LAYOUT_VERSION }));
  const index = readJson(join(dir, 'index.json'), 'index.json');
  if (!isObject(index) || index.schemaVersion !== 2 || !Array.isArray(index.manifests))
    throw new LayoutError(t('index.json: not an OCI image index (schemaVersion 2 with manifests)'));
  if (index.manifests.length === 0) throw new LayoutError(t('index.json: the archive holds no images'));
  const seen = new Set<string>();
  return index.manifests.map((entry: unknown, i: number) => {
    const at = `index.json manifests[${i}]`;
    if (!isObject(entry)) throw new LayoutError(t('{where}: not an object', { where: at }));
    const annotations = isObject(entry.annotations) ? entry.annotations : {};
    const ref = annotations[REF_NAME_ANNOTATION];
    if (typeof ref !== 'string') throw new LayoutError(t('{where}: the image has no {annotation}', { where: at, annotation: REF_NAME_ANNOTATION }));
    let name: ImageName;
    try {
      name = parseImageName(ref);
    } catch (error) {
      if (error instanceof ImageNameError) throw new LayoutError(t('{image}: {reason}', { image: JSON.stringify(ref), reason: error.message }), ref);
      throw error;
    }
    if (seen.has(ref)) throw new LayoutError(t('{image} is in the archive twice', { image: JSON.stringify(ref) }), ref);
    seen.add(ref);
    if (typeof entry.mediaType !== 'string' || !MANIFEST_TYPES.has(entry.mediaType))
      throw new LayoutError(t('{image}: unsupported media type {type}', { image: JSON.stringify(ref), type: JSON.stringify(entry.mediaType) }), ref);
    const digest = typeof entry.digest === 'string' ? DIGEST.exec(entry.digest) : null;
    if (!digest) throw new LayoutError(t('{image}: the digest is not sha256:<64 hex digits>', { image: JSON.stringify(ref) }), ref);
    let size: number;
    try {
      const st = statSync(join(dir, 'blobs', 'sha256', digest[1]!));
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      throw new LayoutError(t('{image}: its manifest blob {digest} is missing', { image: JSON.stringify(ref), digest: String(entry.digest) }), ref);
    }
    if (typeof entry.size === 'number' && entry.size !== size)
      throw new LayoutError(
        t.n(
          '{image}: its manifest blob has {count} byte, index.json says {declared}',
          '{image}: its manifest blob has {count} bytes, index.json says {declared}',
          size,
          { image: JSON.stringify(ref), declared: entry.size },
        ),
        ref,
      );
    return { ref, name, digest: entry.digest as string, mediaType: entry.mediaType };
  });
}
