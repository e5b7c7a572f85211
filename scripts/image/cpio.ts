/**
 * The initramfs archives, written by GNU cpio in its reproducible mode, as mkosi does
 * (`--format=newc --reproducible --renumber-inodes`). The entries are laid out in a temporary
 * tree and handed to cpio in sorted order, every owner 0:0 and every mtime the one given (default
 * 0), so the same entries give the same bytes. Archives can be concatenated; the kernel unpacks
 * them one after another. A character device needs root (mknod), as the image builder is.
 */
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Buffer | string; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'chardev'; path: string; major: number; minor: number; mode?: number };

/** Entry paths are relative (`init`, `lib/modules/x.ko`); parents must come before children. */
function checkedPaths(entries: CpioEntry[]): string[] {
  const seen = new Set<string>();
  for (const entry of entries) {
    const path = entry.path.replace(/^\/+/, '');
    if (!path || path.split('/').some((p) => p === '..' || p === '')) throw new Error(`cpio: bad path ${entry.path}`);
    if (seen.has(path)) throw new Error(`cpio: duplicate path ${path}`);
    const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
    if (parent && !seen.has(parent)) throw new Error(`cpio: ${path} comes before its directory ${parent}`);
    seen.add(path);
  }
  return [...seen];
}

export async function writeCpio(entries: CpioEntry[], options: { mtime?: number } = {}): Promise<Buffer> {
  const paths = checkedPaths(entries);
  const root = await fs.mkdtemp(join(tmpdir(), 'podsec-cpio-'));
  try {
    for (const [index, entry] of entries.entries()) {
      const path = join(root, paths[index]!);
      if (entry.type === 'dir') await fs.mkdir(path, { mode: 0o700 });
      else if (entry.type === 'file') await fs.writeFile(path, entry.data);
      else if (entry.type === 'symlink') await fs.symlink(entry.target, path);
      else await execa('mknod', [path, 'c', String(entry.major), String(entry.minor)]);
    }
    // Modes and times last: a directory's mtime changes with every entry made in it.
    const mtime = options.mtime ?? 0;
    for (const [index, entry] of [...entries.entries()].reverse()) {
      const path = join(root, paths[index]!);
      if (entry.type !== 'symlink') await fs.chmod(path, entry.mode ?? (entry.type === 'file' ? 0o644 : entry.type === 'dir' ? 0o755 : 0o600));
      await fs.lutimes(path, mtime, mtime);
    }
    // Parents sort before their children; cpio reads NUL-separated names relative to the tree.
    const list = [...paths].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const cpio = ['--create', '--format=newc', '--reproducible', '--renumber-inodes', '--owner=0:0', '--null', '--quiet'];
    const { stdout } = await execa('cpio', cpio, { cwd: root, input: list.map((p) => `${p}\0`).join(''), encoding: 'buffer', stripFinalNewline: false });
    return Buffer.from(stdout.buffer, stdout.byteOffset, stdout.byteLength);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
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
