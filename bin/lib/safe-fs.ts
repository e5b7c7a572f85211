/**
 * Writing files as root without being fooled by symlinks, hard links or directories a user controls.
 *
 * Node has no openat(2). On Linux, /proc/self/fd/N/NAME gives the same semantics: the kernel resolves
 * /proc/self/fd/N to the directory the descriptor holds, not to a path string. So the walk opens each
 * component relative to the descriptor of the previous one, with O_NOFOLLOW, and checks it with fstat.
 * Later renames or symlink swaps of the path can't redirect an operation, and there is no window
 * between check and use for directory components. /proc must be mounted; if it isn't, we refuse.
 *
 * Trust rule: every directory below the `root` prefix must be a real directory. It must be owned by
 * root, by us, or by `trustedOwner`, and it must not be writable by group or others. The `root`
 * prefix itself is trusted as given.
 *
 * Residual risks:
 * - In a directory owned by `trustedOwner`, that user can rename or replace our temp file or the
 *   final name at any moment. That only changes their own file. We never write through a name they
 *   control: data goes through the descriptor of a temp file we created with O_EXCL.
 * - Everything here is synchronous, so other code in this process can't interleave.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants as C,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  linkSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, relative, resolve, sep } from 'node:path';
import { faultPoint } from './fault-point.ts';
import { translator } from './i18n.ts';

const t = translator('podsec');

/** Why readRegularFile refused a file, for callers that report it in their own words. */
type ReadRefusal = 'symlink' | 'not-regular' | 'too-large';

export class UnsafePathError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
    readonly refusal?: ReadRefusal,
  ) {
    super(t('refusing to use {path}: {reason}', { path, reason }));
  }
  /** A refusal, not a crash: runCommand prints the message and exits 1. */
  readonly expected = true;
}

export interface TrustOptions {
  /** The --root prefix; checks start below it. Default '/'. */
  root?: string;
  /** A user whose directories are trusted too (writes into their home, e.g. ~/.config/containers). */
  trustedOwner?: number;
}

/** How TrustedDir's writers publish a file: its mode and owner, and whether an existing name is kept (link) or replaced (rename). */
interface PublishOptions {
  mode: number;
  uid?: number;
  gid?: number;
  /** Never replace: publish with link(2), which fails with EEXIST when the name exists (a symlink included). */
  noReplace?: boolean;
}

interface WriteOptions extends TrustOptions, Omit<PublishOptions, 'noReplace'> {}

const errno = (error: unknown) => (error as NodeJS.ErrnoException).code;

/** The temp name for `name`: hidden, unpredictable, and never ending in a suffix a config loader picks up. */
export function tempName(name: string): string {
  return `.${name}.tmp-${randomBytes(6).toString('hex')}`;
}

export function isTempName(name: string): boolean {
  return /^\..+\.tmp-[0-9a-f]{12}$/.test(name);
}

function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new Error(`not a single path component: ${JSON.stringify(name)}`);
}

/** A directory held open after a safe walk; names in it are resolved against the descriptor. */
export class TrustedDir {
  constructor(
    readonly path: string,
    readonly fd: number,
    /** Owned by someone other than root and us: that user may have planted anything in it. */
    readonly userControlled: boolean,
  ) {}

  /** A path that the kernel resolves relative to this directory's descriptor (openat semantics). */
  at(name: string): string {
    checkName(name);
    return `/proc/self/fd/${this.fd}/${name}`;
  }

  lstat(name: string): Stats | undefined {
    try {
      return lstatSync(this.at(name));
    } catch (error) {
      if (errno(error) === 'ENOENT') return undefined;
      throw error;
    }
  }

  readlink(name: string): string {
    return readlinkSync(this.at(name));
  }

  readFile(name: string, maxBytes: number): Buffer {
    return readRegular(this.at(name), `${this.path}/${name}`, maxBytes);
  }

  names(): string[] {
    return readdirSync(`/proc/self/fd/${this.fd}`);
  }

  /**
   * Writes a complete, fsynced temp file, then publishes it as `name`. The default is rename(2): it
   * replaces whatever `name` was, including a symlink or hard link, and never writes through it.
   * With `noReplace`, link(2) publishes the file and fails with EEXIST if `name` exists.
   */
  writeFile(name: string, data: string | Uint8Array, options: PublishOptions): void {
    this.publish(name, options, (fd, shown) => {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      // Half the data written: a torn temp file must never become visible.
      const half = bytes.length >> 1;
      for (let offset = 0; offset < bytes.length;) {
        offset += writeSync(fd, bytes, offset, (offset < half ? half : bytes.length) - offset);
        if (offset === half) faultPoint(`half written temp for ${shown}`);
      }
    });
  }

  /**
   * writeFile with the content read from descriptor `from` (from its current offset to EOF), for
   * files too large to hold in memory. A source someone else can write (a file in their directory)
   * may grow while it is copied: past `maxBytes` it is refused (UnsafePathError, 'too-large') and
   * nothing is published. `from.path` names the source in that refusal. Returns the byte count.
   */
  copyFile(name: string, from: { fd: number; maxBytes: number; path?: string }, options: PublishOptions): number {
    let total = 0;
    this.publish(name, options, (fd, shown) => {
      const tooBig = () => new UnsafePathError(from.path ?? shown, t('larger than {max} bytes', { max: from.maxBytes }), 'too-large');
      // fstat's size saves copying a file already too large; the count below catches one that grows.
      if (fstatSync(from.fd).size > from.maxBytes) throw tooBig();
      const buffer = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const n = readSync(from.fd, buffer, 0, Math.min(buffer.length, from.maxBytes + 1 - total), null);
        if (n === 0) break;
        total += n;
        if (total > from.maxBytes) throw tooBig();
        for (let offset = 0; offset < n;) offset += writeSync(fd, buffer, offset, n - offset);
      }
    });
    return total;
  }

  /** The one writer behind writeFile and copyFile: O_EXCL temp, `fill`, owner and mode, fsync, publish. */
  private publish(name: string, options: PublishOptions, fill: (fd: number, shown: string) => void): void {
    const temp = tempName(name);
    const shown = `${this.path}/${name}`;
    faultPoint(`create temp for ${shown}`);
    const fd = openSync(this.at(temp), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    try {
      fill(fd, shown);
      // chown before chmod: chown clears set-id bits, and the mode should end up exactly as asked.
      if (options.uid !== undefined || options.gid !== undefined) fchownSync(fd, options.uid ?? -1, options.gid ?? -1);
      fchmodSync(fd, options.mode);
      fsyncSync(fd);
    } catch (error) {
      closeSync(fd);
      unlinkSync(this.at(temp));
      throw error;
    }
    closeSync(fd);
    faultPoint(`publish ${shown}`);
    try {
      if (options.noReplace) linkSync(this.at(temp), this.at(name));
      else renameSync(this.at(temp), this.at(name));
    } catch (error) {
      unlinkSync(this.at(temp));
      throw error;
    }
    faultPoint(`published ${shown}`);
    if (options.noReplace) unlinkSync(this.at(temp));
    this.sync();
  }

  /** Hard-links `from` as `to`, failing with EEXIST if `to` exists. */
  link(from: string, to: string): void {
    faultPoint(`link ${this.path}/${to}`);
    linkSync(this.at(from), this.at(to));
    this.sync();
  }

  /** Points `name` at `target`. A temp symlink is renamed over it, so `name` always resolves to the old or the new target. */
  replaceWithSymlink(name: string, target: string, owner: { uid?: number; gid?: number } = {}): void {
    const temp = tempName(name);
    faultPoint(`temp symlink for ${this.path}/${name}`);
    symlinkSync(target, this.at(temp));
    faultPoint(`switch symlink ${this.path}/${name}`);
    try {
      if (owner.uid !== undefined || owner.gid !== undefined) lchownSync(this.at(temp), owner.uid ?? -1, owner.gid ?? -1);
      renameSync(this.at(temp), this.at(name));
    } catch (error) {
      unlinkSync(this.at(temp));
      throw error;
    }
    this.sync();
  }

  /**
   * Removes our temp files left behind by a crash. Only old ones are removed: a concurrent writer's
   * temp lives for milliseconds, and removing it would make that writer fail.
   */
  removeStaleTemps(olderThanMs: number, now = Date.now()): void {
    for (const name of this.names()) {
      if (!isTempName(name)) continue;
      const st = this.lstat(name);
      if (st && now - st.mtimeMs > olderThanMs) {
        faultPoint(`remove stale temp ${this.path}/${name}`);
        unlinkSync(this.at(name));
      }
    }
  }

  sync(): void {
    fsyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }
}

function trustedOwners(options: TrustOptions): Set<number> {
  const owners = new Set([0, process.geteuid?.() ?? 0]);
  if (options.trustedOwner !== undefined) owners.add(options.trustedOwner);
  return owners;
}

/** Components of `path` below `root`; refuses a path outside it. */
function componentsBelowRoot(path: string, root: string): string[] {
  const rel = relative(root, resolve(path));
  if (rel === '') return [];
  if (rel === '..' || rel.startsWith(`..${sep}`)) throw new UnsafePathError(path, t('outside the root directory {root}', { root }));
  return rel.split(sep);
}

function openDirNoFollow(parent: number, name: string, shown: string): number {
  try {
    return openSync(`/proc/self/fd/${parent}/${name}`, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
  } catch (error) {
    // O_NOFOLLOW|O_DIRECTORY reports a symlink as ENOTDIR; lstat only picks the message.
    if (errno(error) === 'ENOTDIR' || errno(error) === 'ELOOP') {
      const isLink = lstatSync(`/proc/self/fd/${parent}/${name}`).isSymbolicLink();
      throw new UnsafePathError(shown, isLink ? t('a path component is a symlink') : t('a path component is not a directory'));
    }
    throw error;
  }
}

function checkDir(path: string, st: Stats, owners: Set<number>, allowWritable = false): void {
  if (!owners.has(st.uid)) throw new UnsafePathError(path, t('directory owned by uid {uid}, not by root or the expected owner', { uid: st.uid }));
  if (!allowWritable && st.mode & 0o022)
    throw new UnsafePathError(path, t('directory writable by group or others (mode {mode})', { mode: (st.mode & 0o7777).toString(8).padStart(4, '0') }));
}

function openRoot(root: string): number {
  const fd = openSync(root, C.O_RDONLY | C.O_DIRECTORY);
  let viaProc: Stats | undefined;
  try {
    viaProc = statSync(`/proc/self/fd/${fd}`);
  } catch {
    viaProc = undefined;
  }
  const st = fstatSync(fd);
  if (!viaProc || viaProc.ino !== st.ino || viaProc.dev !== st.dev) {
    closeSync(fd);
    throw new UnsafePathError(root, t('/proc is not mounted; files cannot be written safely without it'));
  }
  return fd;
}

interface Create {
  mode: number;
  uid?: number;
  gid?: number;
}

/** Walks from `root` down to `path`, component by component. Missing components are created when `create` is given. */
function walk(path: string, options: TrustOptions, create?: Create): TrustedDir {
  const root = resolve(options.root ?? '/');
  const names = componentsBelowRoot(path, root);
  const owners = trustedOwners(options);
  let fd = openRoot(root);
  let shown = root;
  let st = fstatSync(fd);
  try {
    names.forEach((name, index) => {
      shown = `${shown === '/' ? '' : shown}/${name}`;
      const last = index === names.length - 1;
      let created = false;
      if (create) {
        try {
          if (!lstatSync(`/proc/self/fd/${fd}/${name}`, { throwIfNoEntry: false })) faultPoint(`mkdir ${shown}`);
          mkdirSync(`/proc/self/fd/${fd}/${name}`, { mode: 0o700 });
          fsyncSync(fd);
          created = true;
        } catch (error) {
          if (errno(error) !== 'EEXIST') throw error;
        }
      }
      const next = openDirNoFollow(fd, name, shown);
      closeSync(fd);
      fd = next;
      st = fstatSync(fd);
      // safeMkdir's last component may be meant group-writable (e.g. 0775) and gets its mode and
      // owner applied below, so only its owner is checked.
      checkDir(shown, st, owners, Boolean(create) && last);
      if (create && (created || last)) {
        if (create.uid !== undefined || create.gid !== undefined) fchownSync(fd, create.uid ?? -1, create.gid ?? -1);
        fchmodSync(fd, last ? create.mode : 0o755);
        st = fstatSync(fd);
      }
    });
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  const userControlled = names.length > 0 && st.uid !== 0 && st.uid !== (process.geteuid?.() ?? 0);
  return new TrustedDir(shown, fd, userControlled);
}

/** Opens directory `path` after checking every component below `root` (see the trust rule above). */
export function openTrustedDir(path: string, options: TrustOptions = {}): TrustedDir {
  return walk(path, options);
}

function parentAndName(path: string, options: TrustOptions): { dir: TrustedDir; name: string } {
  const absolute = resolve(path);
  const name = basename(absolute);
  if (componentsBelowRoot(absolute, resolve(options.root ?? '/')).length === 0) throw new UnsafePathError(path, t('not a file below the root directory'));
  return { dir: openTrustedDir(dirname(absolute), options), name };
}

/**
 * Replaces `path` atomically with `data`: readers see the old or the new content, never a mix.
 * A symlink or hard link at `path` is replaced itself, never written through. In a directory
 * owned by `trustedOwner`, a symlink at `path` can only have been planted by that user, so we
 * refuse instead of silently destroying it.
 */
export function atomicWrite(path: string, data: string | Uint8Array, options: WriteOptions): void {
  const { dir, name } = parentAndName(path, options);
  try {
    if (dir.userControlled && dir.lstat(name)?.isSymbolicLink()) {
      throw new UnsafePathError(path, t('it is a symlink in a directory a user controls'));
    }
    dir.writeFile(name, data, options);
  } finally {
    dir.close();
  }
}

/**
 * Creates `path` and its missing parents without following symlinks. Created parents get mode 0755,
 * the last component gets `mode`, and all of them get uid:gid. An existing last component is brought
 * to that mode and owner, so re-running converges. `trustedOwner` defaults to `uid`.
 */
export function safeMkdir(path: string, options: { mode: number; uid?: number; gid?: number; root?: string; trustedOwner?: number }): void {
  const dir = walk(path, { root: options.root, trustedOwner: options.trustedOwner ?? options.uid }, options);
  dir.close();
}

function readRegular(openPath: string, shown: string, maxBytes: number): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO with no writer returns at once instead of hanging; fstat then refuses it.
    fd = openSync(openPath, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY);
  } catch (error) {
    if (errno(error) === 'ELOOP') throw new UnsafePathError(shown, t('it is a symlink'), 'symlink');
    throw error;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UnsafePathError(shown, t('not a regular file'), 'not-regular');
    const tooBig = () => new UnsafePathError(shown, t('larger than {max} bytes', { max: maxBytes }), 'too-large');
    if (st.size > maxBytes) throw tooBig();
    // The file may grow after fstat: read until EOF, but never more than one byte past the limit.
    // The first buffer holds the file as fstat saw it and the byte that shows EOF (a small file is
    // not worth zeroing 64 KiB for, when a monitor reads it at every change); only bytes read are kept.
    const chunks: Buffer[] = [];
    for (let total = 0; ;) {
      const chunk = Buffer.allocUnsafe(Math.min(total === 0 ? st.size + 1 : 65536, 65536, maxBytes + 1 - total));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > maxBytes) throw tooBig();
    }
    return Buffer.concat(chunks);
  } finally {
    closeSync(fd);
  }
}

/** Whether `path` is a directory (a symlink to one only with `followLinks`); unreadable is no. */
export function isDirectory(path: string, followLinks = true): boolean {
  try {
    return (followLinks ? statSync(path) : lstatSync(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Reads a regular file of at most `maxBytes`. Symlinks (last component), FIFOs, devices and sockets are refused. */
export function readRegularFile(path: string, options: { maxBytes: number }): Buffer {
  return readRegular(path, path, options.maxBytes);
}
