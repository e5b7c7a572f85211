/**
 * `<arch>.tar.xz`: a tar of one directory `<arch>/` holding an OCI image layout, compressed with
 * xz, as upstream podsec-save-oci writes it. Unpacking accepts only the layout's own names (oci-layout,
 * index.json, blobs/sha256/<64 hex>) as regular files and directories: no links, devices, `..`
 * or absolute paths are ever written. Packing is deterministic (sorted names, fixed times and
 * owners), so the same layout gives the same archive.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { create as tarCreate, extract as tarExtract } from 'tar';
import { translator } from '../../lib/i18n.ts';

const t = translator('podsec');

export class ArchiveError extends Error {
  constructor(
    message: string,
    readonly kind: 'not-xz' | 'not-tar' | 'unsafe' | 'io',
  ) {
    super(message);
  }
}

/** xz as a filter process; `done` gives its exit status and what it said on stderr. */
function xz(args: string[], stdin: 'ignore' | 'pipe') {
  const child = spawn('xz', args, { stdio: [stdin, 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ status: number | null; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr: stderr.trim() }));
  });
  return { child, done };
}

/** The names an `<arch>/` layout may contain. */
export function allowedEntry(path: string, arch: string): boolean {
  const p = path.replace(/^\.\//, '').replace(/\/$/, '');
  if (p === arch) return true;
  const rest = p.startsWith(`${arch}/`) ? p.slice(arch.length + 1) : undefined;
  return rest !== undefined && /^(oci-layout|index\.json|blobs|blobs\/sha256|blobs\/sha256\/[0-9a-f]{64})$/.test(rest);
}

/** A name that is dangerous anywhere in the archive, whatever directory it is in. */
export const unsafeName = (path: string) => path.startsWith('/') || path.split('/').includes('..');

/**
 * Unpacks the `<arch>/` layout of an xz-compressed tar into `dest` (an empty private directory).
 * Entries of other directories are skipped; an unsafe or unexpected entry fails the whole unpack.
 */
export async function extractLayout(archive: string, arch: string, dest: string): Promise<void> {
  const unxz = xz(['--decompress', '--stdout', '--', archive], 'ignore');
  let refused: string | undefined;
  const unpack = tarExtract({
    cwd: dest,
    strict: true,
    preserveOwner: false,
    noChmod: false,
    filter: (path, entry) => {
      const type = 'type' in entry ? entry.type : undefined;
      if (unsafeName(path)) {
        refused ??= t('unsafe name {name}', { name: JSON.stringify(path) });
        return false;
      }
      const inside = path.replace(/^\.\//, '') === arch || path.replace(/^\.\//, '').startsWith(`${arch}/`);
      if (!inside) return false;
      if (!allowedEntry(path, arch) || (type !== 'File' && type !== 'Directory')) {
        refused ??= t('unexpected entry {name}', { name: `${JSON.stringify(path)}${type && type !== 'File' && type !== 'Directory' ? ` (${type})` : ''}` });
        return false;
      }
      return true;
    },
  });
  let tarFailure: Error | undefined;
  try {
    await pipeline(unxz.child.stdout!, unpack);
  } catch (error) {
    tarFailure = error as Error;
  }
  const { status, stderr } = await unxz.done.catch((error: Error) => {
    throw new ArchiveError(t('xz: {reason}', { reason: error.message }), 'io');
  });
  if (status !== 0) throw new ArchiveError(t('not an xz archive ({reason})', { reason: stderr.split('\n').pop() ?? `xz exit ${status}` }), 'not-xz');
  if (refused) throw new ArchiveError(t('the archive has an {entry}', { entry: refused }), 'unsafe');
  if (tarFailure) throw new ArchiveError(t('not a tar archive ({reason})', { reason: tarFailure.message }), 'not-tar');
}

function listTree(base: string, relative: string): string[] {
  const entries = readdirSync(join(base, relative), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return entries.flatMap((e) => (e.isDirectory() ? [`${relative}/${e.name}`, ...listTree(base, `${relative}/${e.name}`)] : [`${relative}/${e.name}`]));
}

/** Packs `<dir>/<arch>/` into `<dir>/<arch>.tar.xz` (xz -9), deterministic; written under a temp name, then renamed. */
export async function packLayout(dir: string, arch: string, mtime: Date): Promise<string> {
  const out = join(dir, `${arch}.tar.xz`);
  const partial = join(dir, `.${arch}.tar.xz.partial`);
  const files = [arch, ...listTree(dir, arch)];
  const tar = tarCreate({ cwd: dir, portable: true, mtime, noDirRecurse: true, gzip: false }, files);
  const compress = xz(['-9', '--threads=1', '--stdout'], 'pipe');
  try {
    await Promise.all([pipeline(tar, compress.child.stdin!), pipeline(compress.child.stdout!, createWriteStream(partial, { mode: 0o644 }))]);
    const { status, stderr } = await compress.done;
    if (status !== 0) throw new ArchiveError(t('xz failed: {reason}', { reason: stderr }), 'io');
    renameSync(partial, out);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
  return out;
}
