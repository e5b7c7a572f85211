/**
 * `<arch>.tar.xz`: a tar of one directory `<arch>/` holding an OCI image layout, compressed with
 * xz, as upstream podsec-save-oci writes it. Unpacking accepts only the layout's own names (oci-layout,
 * index.json, blobs/sha256/<64 hex>) as regular files and directories: no links, devices, `..`
 * or absolute paths are ever written. Packing is deterministic (sorted names, fixed times and
 * owners), so the same layout gives the same archive.
 *
 * Unpacking is bounded: a first pass reads the archive without writing anything, counting its
 * entries and their sizes against the limits (an xz bomb is refused from the tar headers, before
 * its data is read) and collecting index.json and the small JSON blobs, from which the blobs the
 * images refer to are known; the second pass writes only those (and again within the limits).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { create as tarCreate, extract as tarExtract, Parser as TarParser, type ReadEntry } from 'tar';
import { translator } from '../../lib/i18n.ts';

const t = translator('podsec');

export class ArchiveError extends Error {
  constructor(
    message: string,
    readonly kind: 'not-xz' | 'not-tar' | 'unsafe' | 'limit' | 'disk-full' | 'io',
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

export interface ArchiveLimits {
  /** The sum of the sizes of all entries (--archive-max-bytes). */
  maxBytes: number;
  /** The number of entries (--archive-max-entries). */
  maxEntries: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxBytes: 8 * 1024 ** 3, maxEntries: 10_000 };

/** Blobs kept in memory by the first pass to find the references: JSON (index, manifest, config) of at most this size. */
const MAX_JSON_BLOB = 4 * 1024 * 1024;
const MAX_JSON_TOTAL = 64 * 1024 * 1024;
const BLOB = /^blobs\/sha256\/([0-9a-f]{64})$/;

/** Counts entries and bytes; the refusal names the option that sets the limit. */
class Budget {
  private entries = 0;
  private bytes = 0;
  constructor(private readonly limits: ArchiveLimits) {}
  /** A refusal if `size` more bytes would go past a limit, else undefined (and the entry is counted). */
  charge(size: number): string | undefined {
    if (++this.entries > this.limits.maxEntries) {
      return t('the archive has more than {limit} entries (--archive-max-entries)', { limit: this.limits.maxEntries });
    }
    this.bytes += size;
    if (this.bytes > this.limits.maxBytes) {
      return t('the archive unpacks to more than {limit} bytes (--archive-max-bytes)', { limit: this.limits.maxBytes });
    }
    return undefined;
  }
}

/** The path of an entry inside `<arch>/` ('' for the directory itself), or undefined when it is elsewhere. */
function insideArch(path: string, arch: string): string | undefined {
  const p = path.replace(/^\.\//, '').replace(/\/$/, '');
  if (p === arch) return '';
  return p.startsWith(`${arch}/`) ? p.slice(arch.length + 1) : undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The blobs index.json refers to, through nested indexes and manifests (configs and layers). */
function referencedBlobs(indexText: string | undefined, jsonBlobs: Map<string, string>): Set<string> {
  const referenced = new Set<string>();
  const parse = (text: string | undefined): unknown => {
    try {
      return text === undefined ? undefined : JSON.parse(text);
    } catch {
      return undefined;
    }
  };
  const visit = (document: unknown) => {
    if (!isObject(document)) return;
    const descriptors = [...(Array.isArray(document.manifests) ? document.manifests : [])];
    const children = [document.config, ...(Array.isArray(document.layers) ? document.layers : [])];
    for (const descriptor of [...descriptors, ...children]) {
      const hex = isObject(descriptor) && typeof descriptor.digest === 'string' ? /^sha256:([0-9a-f]{64})$/.exec(descriptor.digest)?.[1] : undefined;
      if (hex === undefined || referenced.has(hex)) continue;
      referenced.add(hex);
      if (descriptors.includes(descriptor)) visit(parse(jsonBlobs.get(hex)));
    }
  };
  visit(parse(indexText));
  return referenced;
}

/** Runs `xz -d` on the archive into `sink`; the errors of both sides, for the caller to name. */
async function decompressInto(archive: string, sink: NodeJS.WritableStream): Promise<{ status: number | null; stderr: string; failure?: Error }> {
  const unxz = xz(['--decompress', '--stdout', '--', archive], 'ignore');
  let failure: Error | undefined;
  try {
    await pipeline(unxz.child.stdout!, sink);
  } catch (error) {
    failure = error as Error;
  }
  const { status, stderr } = await unxz.done.catch((error: Error) => {
    throw new ArchiveError(t('xz: {reason}', { reason: error.message }), 'io');
  });
  return { status, stderr, failure };
}

/** The first pass: checks every entry's name and the limits, and returns the blobs the images refer to. Writes nothing. */
async function scanLayout(archive: string, arch: string, limits: ArchiveLimits): Promise<Set<string>> {
  const budget = new Budget(limits);
  let refused: ArchiveError | undefined;
  let indexText: string | undefined;
  const jsonBlobs = new Map<string, string>();
  let kept = 0;
  const parser = new TarParser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      const path = entry.path;
      const over = refused ? undefined : budget.charge(entry.size ?? 0);
      if (over) refused = new ArchiveError(over, 'limit');
      else if (!refused && unsafeName(path))
        refused = new ArchiveError(t('the archive has an {entry}', { entry: t('unsafe name {name}', { name: JSON.stringify(path) }) }), 'unsafe');
      const rest = refused ? undefined : insideArch(path, arch);
      const hex = rest === undefined ? undefined : BLOB.exec(rest)?.[1];
      const wanted = rest === 'index.json' || (hex !== undefined && entry.size <= MAX_JSON_BLOB && kept + entry.size <= MAX_JSON_TOTAL);
      if (refused) {
        // Stop reading: the rest of a refused archive is never decompressed.
        parser.abort(refused);
        return;
      }
      if (!wanted || entry.type !== 'File') return entry.resume();
      kept += entry.size;
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (rest === 'index.json') indexText = text;
        else if (text.startsWith('{')) jsonBlobs.set(hex!, text);
        else kept -= entry.size;
      });
    },
  });
  const { status, stderr, failure } = await decompressInto(archive, parser);
  if (refused) throw refused;
  if (status !== 0 && status !== null)
    throw new ArchiveError(t('not an xz archive ({reason})', { reason: stderr.split('\n').pop() ?? `xz exit ${status}` }), 'not-xz');
  if (failure) throw new ArchiveError(t('not a tar archive ({reason})', { reason: failure.message }), 'not-tar');
  return referencedBlobs(indexText, jsonBlobs);
}

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT']);

/**
 * Unpacks the `<arch>/` layout of an xz-compressed tar into `dest` (an empty private directory),
 * within `limits`. Entries of other directories and blobs no image refers to are skipped; an
 * unsafe or unexpected entry fails the whole unpack.
 */
export async function extractLayout(archive: string, arch: string, dest: string, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<void> {
  const referenced = await scanLayout(archive, arch, limits);
  const budget = new Budget(limits);
  let refused: ArchiveError | undefined;
  const unpack = tarExtract({
    cwd: dest,
    strict: true,
    preserveOwner: false,
    noChmod: false,
    filter: (path, entry) => {
      const type = 'type' in entry ? entry.type : undefined;
      const over = budget.charge('size' in entry ? (entry.size ?? 0) : 0);
      if (over) {
        // The archive changed since the first pass: nothing more is written.
        refused ??= new ArchiveError(over, 'limit');
        return false;
      }
      if (unsafeName(path)) {
        refused ??= new ArchiveError(t('the archive has an {entry}', { entry: t('unsafe name {name}', { name: JSON.stringify(path) }) }), 'unsafe');
        return false;
      }
      const rest = insideArch(path, arch);
      if (rest === undefined) return false;
      if (!allowedEntry(path, arch) || (type !== 'File' && type !== 'Directory')) {
        const entryText = t('unexpected entry {name}', {
          name: `${JSON.stringify(path)}${type && type !== 'File' && type !== 'Directory' ? ` (${type})` : ''}`,
        });
        refused ??= new ArchiveError(t('the archive has an {entry}', { entry: entryText }), 'unsafe');
        return false;
      }
      const hex = BLOB.exec(rest)?.[1];
      return refused === undefined && (hex === undefined || referenced.has(hex));
    },
  });
  const { status, stderr, failure } = await decompressInto(archive, unpack);
  const code = (failure as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && DISK_FULL.has(code)) {
    throw new ArchiveError(t('no space left in {dir} while unpacking (set TMPDIR to a larger file system)', { dir: dest }), 'disk-full');
  }
  if (refused) throw refused;
  if (status !== 0) throw new ArchiveError(t('not an xz archive ({reason})', { reason: stderr.split('\n').pop() ?? `xz exit ${status}` }), 'not-xz');
  if (failure) throw new ArchiveError(t('not a tar archive ({reason})', { reason: failure.message }), 'not-tar');
}

function listTree(base: string, relative: string): string[] {
  const entries = readdirSync(join(base, relative), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return entries.flatMap((e) => (e.isDirectory() ? [`${relative}/${e.name}`, ...listTree(base, `${relative}/${e.name}`)] : [`${relative}/${e.name}`]));
}

/** Packs `<dir>/<arch>/` into `<dir>/<arch>.tar.xz` (xz at `level`, one thread), deterministic; written under a temp name, then renamed. */
export async function packLayout(dir: string, arch: string, mtime: Date, level: number): Promise<string> {
  const out = join(dir, `${arch}.tar.xz`);
  const partial = join(dir, `.${arch}.tar.xz.partial`);
  const files = [arch, ...listTree(dir, arch)];
  const tar = tarCreate({ cwd: dir, portable: true, mtime, noDirRecurse: true, gzip: false }, files);
  const compress = xz([`-${level}`, '--threads=1', '--stdout'], 'pipe');
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
