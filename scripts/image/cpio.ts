/**
 * A writer for the cpio "newc" format the kernel unpacks as an initramfs. Deterministic: inode
 * numbers count up from 1 in entry order, owners and mtime are what the caller gives (default 0).
 * Archives can be concatenated; the kernel unpacks them one after another.
 */

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Buffer | string; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'chardev'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const hex8 = (n: number) => {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`cpio: field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
};
const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);

function record(ino: number, mode: number, name: string, data: Buffer, rdev: [number, number] = [0, 0], mtime = 0): Buffer[] {
  const nameBytes = Buffer.from(`${name}\0`);
  const header =
    '070701' +
    [ino, mode, 0, 0, mode & S_IFDIR ? 2 : 1, mtime, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0].map(hex8).join('');
  const head = Buffer.concat([Buffer.from(header, 'ascii'), nameBytes]);
  return [head, pad4(head.length), data, pad4(data.length)];
}

/** Entry paths are relative (`init`, `lib/modules/x.ko`); parents must come before children. */
export function writeCpio(entries: CpioEntry[], options: { mtime?: number } = {}): Buffer {
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  let ino = 0;
  for (const entry of entries) {
    const path = entry.path.replace(/^\/+/, '');
    if (!path || path.split('/').some((p) => p === '..' || p === '')) throw new Error(`cpio: bad path ${entry.path}`);
    if (seen.has(path)) throw new Error(`cpio: duplicate path ${path}`);
    const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
    if (parent && !seen.has(parent)) throw new Error(`cpio: ${path} comes before its directory ${parent}`);
    seen.add(path);
    ino++;
    switch (entry.type) {
      case 'dir':
        parts.push(...record(ino, S_IFDIR | (entry.mode ?? 0o755), path, Buffer.alloc(0), [0, 0], options.mtime));
        break;
      case 'file':
        parts.push(...record(ino, S_IFREG | (entry.mode ?? 0o644), path, Buffer.from(entry.data), [0, 0], options.mtime));
        break;
      case 'symlink':
        parts.push(...record(ino, S_IFLNK | 0o777, path, Buffer.from(entry.target), [0, 0], options.mtime));
        break;
      case 'chardev':
        parts.push(...record(ino, S_IFCHR | (entry.mode ?? 0o600), path, Buffer.alloc(0), [entry.major, entry.minor], options.mtime));
        break;
    }
  }
  parts.push(...record(0, 0, 'TRAILER!!!', Buffer.alloc(0)));
  return Buffer.concat(parts);
}

/** Adds the missing parent directories of every entry, in order, so writeCpio accepts the list. */
export function withParents(entries: CpioEntry[]): CpioEntry[] {
  const out: CpioEntry[] = [];
  const dirs = new Set<string>();
  for (const entry of entries) {
    const parts = entry.path.replace(/^\/+/, '').split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!dirs.has(dir)) {
        dirs.add(dir);
        out.push({ type: 'dir', path: dir });
      }
    }
    if (entry.type === 'dir') {
      if (dirs.has(entry.path)) continue;
      dirs.add(entry.path);
    }
    out.push(entry);
  }
  return out;
}
