/**
 * Deterministic OCI images written straight into an OCI image layout directory (image-spec
 * image-layout.md): no container engine involved. A layer is a tar of a staged root directory made
 * with node-tar: names sorted bytewise, uid/gid 0 without user or group names, one fixed mtime, no
 * host atime/ctime/inode data, modes as staged. Configs, manifests and index.json are JSON with a fixed key order.
 * The same staged trees and configs give the same bytes, so the same digests, on every rebuild.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import * as tar from 'tar';
import { fileSha256 } from './cache.ts';

export const MEDIA_TYPES = {
  layout: '1.0.0',
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  /** Uncompressed: the layer digest is its diff ID, and no compressor's version can change the bytes. */
  layer: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/** The annotation skopeo's `oci:<dir>:<name>` and podsec's archive reader look images up by. */
export const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Every path below `root` (directories before their contents), relative, sorted bytewise. */
export async function listTree(root: string, relative = ''): Promise<string[]> {
  const entries = (await fs.readdir(join(root, relative), { withFileTypes: true })).sort((a, b) => byteOrder(a.name, b.name));
  const out: string[] = [];
  for (const e of entries) {
    const path = relative ? `${relative}/${e.name}` : e.name;
    out.push(path);
    if (e.isDirectory()) out.push(...(await listTree(root, path)));
  }
  return out;
}

/**
 * Everything of a tar header that is not the tree's names, contents, modes and link targets is
 * made constant before node-tar writes it: owner 0:0 without names, `mtime` for every entry
 * (directories included), and constant atime, ctime, dev, ino and nlink in case a pax header is
 * needed. (node-tar's `portable` would also do most of this, but it drops directory mtimes and
 * clears group/other write bits, which /tmp's 1777 needs.)
 */
function normalizeEntry(entry: tar.WriteEntry, mtime: Date): void {
  entry.portable = false;
  entry.noMtime = false;
  entry.myuser = '';
  const stat = entry.stat;
  if (!stat) throw new Error(`${entry.path}: no stat before its header`);
  Object.assign(stat, { uid: 0, gid: 0, dev: 0, ino: 0, nlink: 1, atime: mtime, ctime: mtime, mtime });
}

/** Writes the tar of `root` to `out` (see the file comment) and returns its descriptor. */
export async function writeLayerTar(root: string, out: string, mtime: Date): Promise<Descriptor> {
  const paths = await listTree(root);
  for (const p of paths) {
    const st = await fs.lstat(join(root, p));
    if (st.isFile() && st.nlink > 1) throw new Error(`${join(root, p)}: hard links are not staged into image layers`);
  }
  await tar.create({ file: out, cwd: root, noDirRecurse: true, mtime, onWriteEntry: (entry) => normalizeEntry(entry, mtime) }, paths);
  const stat = await fs.stat(out);
  return { mediaType: MEDIA_TYPES.layer, digest: `sha256:${await fileSha256(out)}`, size: stat.size };
}

export interface ImageConfig {
  /** Seconds since the epoch; the image's `created` and every layer entry's mtime. */
  epoch: number;
  env: string[];
  entrypoint: string[];
  cmd?: string[];
  user?: string;
  workingDir?: string;
  labels?: Record<string, string>;
  architecture?: string;
  os?: string;
}

export interface LayoutImage {
  /** Full name:tag, written as the index entry's ref.name annotation. */
  ref: string;
  /** Staged root directories, one layer each, bottom first. */
  layers: string[];
  config: ImageConfig;
}

async function writeBlob(dir: string, bytes: Buffer, mediaType: string): Promise<Descriptor> {
  const hex = createHash('sha256').update(bytes).digest('hex');
  const path = join(dir, 'blobs', 'sha256', hex);
  await fs.writeFile(`${path}.tmp`, bytes, { mode: 0o644 });
  await fs.rename(`${path}.tmp`, path);
  return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

/**
 * Writes the images into the OCI layout `dir` (created if absent; an existing index.json is
 * replaced). Returns ref -> manifest descriptor. Index entries are sorted by ref.
 */
export async function writeImageLayout(dir: string, images: LayoutImage[]): Promise<Map<string, Descriptor>> {
  const blobs = join(dir, 'blobs', 'sha256');
  await fs.mkdir(blobs, { recursive: true });
  await fs.writeFile(join(dir, 'oci-layout'), `${JSON.stringify({ imageLayoutVersion: MEDIA_TYPES.layout })}`);
  const result = new Map<string, Descriptor>();
  const platforms = new Map<string, { architecture: string; os: string }>();
  for (const image of [...images].sort((a, b) => byteOrder(a.ref, b.ref))) {
    if (result.has(image.ref)) throw new Error(`image ${image.ref} is listed twice`);
    const c = image.config;
    const mtime = new Date(c.epoch * 1000);
    const layers: Descriptor[] = [];
    for (const [i, root] of image.layers.entries()) {
      const tmp = join(dir, `layer-${process.pid}-${i}.tar`);
      const layer = await writeLayerTar(root, tmp, mtime);
      await fs.rename(tmp, join(blobs, layer.digest.slice('sha256:'.length)));
      layers.push(layer);
    }
    const created = mtime.toISOString().replace(/\.000Z$/, 'Z');
    const config = await writeBlob(
      dir,
      json({
        created,
        architecture: c.architecture ?? 'amd64',
        os: c.os ?? 'linux',
        config: {
          ...(c.user ? { User: c.user } : {}),
          Env: c.env,
          Entrypoint: c.entrypoint,
          ...(c.cmd ? { Cmd: c.cmd } : {}),
          WorkingDir: c.workingDir ?? '/',
          ...(c.labels
            ? {
                Labels: Object.fromEntries(
                  Object.keys(c.labels)
                    .sort(byteOrder)
                    .map((k) => [k, c.labels![k]]),
                ),
              }
            : {}),
        },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
        history: layers.map(() => ({ created, created_by: 'podsec k8s-tools' })),
      }),
      MEDIA_TYPES.config,
    );
    const manifest = await writeBlob(
      dir,
      json({ schemaVersion: 2, mediaType: MEDIA_TYPES.manifest, config, layers, annotations: { [REF_NAME]: image.ref } }),
      MEDIA_TYPES.manifest,
    );
    result.set(image.ref, manifest);
    platforms.set(image.ref, { architecture: c.architecture ?? 'amd64', os: c.os ?? 'linux' });
  }
  const manifests = [...result].map(([ref, d]) => ({ ...d, annotations: { [REF_NAME]: ref }, platform: platforms.get(ref) }));
  await fs.writeFile(join(dir, 'index.json.tmp'), json({ schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests }));
  await fs.rename(join(dir, 'index.json.tmp'), join(dir, 'index.json'));
  return result;
}
