/**
 * Content-addressed directories for image parts: a part is built in a temp directory beside its
 * final name and renamed into place, so a cache entry is either complete or absent; concurrent
 * builders of the same entry wait on a lock file instead of building twice.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

const LOCK_WAIT_MS = 15 * 60_000;
const LOCK_POLL_MS = 500;
/** A lock file left empty by a crash between open() and write() is stale after this. */
const EMPTY_LOCK_STALE_MS = 10_000;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** sha256 of a canonical JSON rendering (sorted keys) of `value`. */
export function contentHash(value: unknown): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return createHash('sha256')
    .update(JSON.stringify(canonical(value)))
    .digest('hex');
}

export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await fs.open(path);
  try {
    for await (const chunk of handle.createReadStream()) hash.update(chunk as Buffer);
  } finally {
    await handle.close().catch(() => {});
  }
  return hash.digest('hex');
}

/** `fs.open(..., 'wx')` lock with a bounded poll; a lock whose owner PID is dead is broken. */
export async function acquireLock(path: string, waitMs = LOCK_WAIT_MS): Promise<() => Promise<void>> {
  const deadline = Date.now() + waitMs;
  for (let i = 0; ; i++) {
    try {
      const handle = await fs.open(path, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => fs.rm(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(await fs.readFile(path, 'utf8').catch(() => ''));
    const age = Date.now() - ((await fs.stat(path).catch(() => undefined))?.mtimeMs ?? Date.now());
    if ((owner > 0 && !isAlive(owner)) || (!owner && age > EMPTY_LOCK_STALE_MS)) {
      await fs.rm(path, { force: true });
      continue;
    }
    if (Date.now() > deadline || i > waitMs / LOCK_POLL_MS) {
      throw new Error(`timed out waiting for ${path} (held by pid ${owner || '?'})`);
    }
    await sleep(LOCK_POLL_MS);
  }
}

/** Mount points at or below `path`, deepest first. */
export async function mountsUnder(path: string): Promise<string[]> {
  const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return info
    .split('\n')
    .map((line) => unescape(line.split(' ')[4] ?? ''))
    .filter((m) => m === path || m.startsWith(`${path}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * rm -rf that first lazily unmounts anything below `path` (a killed mmdebstrap can leave proc,
 * sys and dev mounted) and never crosses filesystems, so it cannot delete into the host's /dev.
 */
export async function removeTree(path: string): Promise<void> {
  if (!existsSync(path)) return;
  for (const m of await mountsUnder(path)) await execa('umount', ['-l', m], { reject: false });
  const left = await mountsUnder(path);
  if (left.length) throw new Error(`refusing to remove ${path}: still mounted: ${left.join(', ')}`);
  await execa('rm', ['-rf', '--one-file-system', '--', path]);
}

/** A cache hit: its mtime is bumped so that pruning (by age) spares entries in use. */
async function hit(path: string): Promise<CacheEntry> {
  const now = new Date();
  await fs.utimes(path, now, now).catch(() => {});
  return { path, cached: true };
}

export interface CacheEntry {
  path: string;
  /** false when this call built it. */
  cached: boolean;
}

/**
 * Returns `dir/<name>` (a directory or file), building it with `build(tmp)` when absent: `tmp` is
 * a fresh path beside the final one (not yet created), renamed into place when `build` resolves.
 * `touch: false` leaves a hit's mtime alone (an entry that is never pruned and must stay
 * unmodified, e.g. the lower dir of mounted overlays). `lockWaitMs`: how long to wait for another
 * builder of the same entry (default 15 minutes).
 */
export async function cachedEntry(
  dir: string,
  name: string,
  build: (tmp: string) => Promise<void>,
  options: { touch?: boolean; lockWaitMs?: number } = {},
): Promise<CacheEntry> {
  const final = join(dir, name);
  const found = () => (options.touch === false ? { path: final, cached: true } : hit(final));
  if (existsSync(final)) return found();
  await fs.mkdir(dir, { recursive: true });
  const release = await acquireLock(`${final}.lock`, options.lockWaitMs);
  try {
    if (existsSync(final)) return found();
    // We hold the lock: any temp entry for this name is the leftover of a killed build.
    for (const entry of await fs.readdir(dir)) {
      if (entry.startsWith(`${name}.tmp-`)) await removeTree(join(dir, entry));
    }
    const tmp = `${final}.tmp-${process.pid}`;
    try {
      await build(tmp);
      await fs.rename(tmp, final);
    } catch (err) {
      await removeTree(tmp).catch(() => {});
      throw err;
    }
    return { path: final, cached: false };
  } finally {
    await release();
  }
}

/** Entries younger than this are never pruned: another process may have just been handed them. */
export const PRUNE_MIN_AGE_MS = 30 * 60_000;

/**
 * Removes entries of `dir` whose names start with `prefix` (complete ones only: no `.tmp-` or
 * `.lock`) that are neither among the `keep` most recently used nor used within
 * PRUNE_MIN_AGE_MS (a cache hit bumps an entry's mtime).
 */
export async function pruneEntries(dir: string, prefix: string, keep: number, except: string[] = []): Promise<void> {
  const all = await fs.readdir(dir).catch(() => [] as string[]);
  // Temp entries of builders that died (killed runs) are garbage whatever their name.
  for (const n of all) {
    const pid = Number(/\.tmp-(\d+)(?:\.|$)/.exec(n)?.[1]);
    if (pid && pid !== process.pid && !isAlive(pid)) await removeTree(join(dir, n));
  }
  const names = all.filter((n) => n.startsWith(prefix) && !n.includes('.tmp-') && !n.endsWith('.lock') && !except.includes(n));
  const withTimes = await Promise.all(names.map(async (n) => ({ n, t: (await fs.lstat(join(dir, n))).mtimeMs })));
  withTimes.sort((a, b) => b.t - a.t);
  const cutoff = Date.now() - PRUNE_MIN_AGE_MS;
  for (const { n, t } of withTimes.slice(keep)) if (t < cutoff) await removeTree(join(dir, n));
}

/** Replaces the symlink `link` to point at `target`, atomically (temp link + rename). */
export async function replaceSymlink(target: string, link: string): Promise<void> {
  const tmp = `${link}.tmp-${process.pid}`;
  await fs.rm(tmp, { force: true });
  await fs.symlink(target, tmp);
  await fs.rename(tmp, link);
}
