/**
 * Upstream's history of managed configs, which admins rely on. A managed
 * file such as /etc/containers/policy.json is a symlink to a timestamped regular file in the same
 * directory, named `<prefix>YYYY-MM-DD_HH:MM:SS` in local time. Old targets are never deleted. The
 * first time, a regular file found where the link goes is kept as `<backupPrefix><timestamp - 24 h>`,
 * so it sorts before the new entries. It is moved (upstream's mv) or copied (cp, registries.conf).
 *
 * - Two writes in the same second: entries are published with link(2), which never overwrites. If
 *   the name is taken, `.1`, `.2`, ... is appended (`policy_2024-05-01_10:00:00.1`). We neither
 *   wait nor shift the clock, so the name stays the true write time.
 * - History names always end in a digit, never in `.yaml`. containers/image loads every *.yaml in
 *   registries.d, and two `default-docker` entries are a hard error.
 * - Crash safety: an entry is complete and fsynced before the link is renamed onto it. The link
 *   always resolves to the old or the new entry (or, before the first write, the original file).
 *   Temp files left by a crash are hidden and never look like history names; the next run removes
 *   them once they are old.
 */
import { basename, dirname, relative, resolve } from 'node:path';
import { translator } from './i18n.ts';
import { openTrustedDir, UnsafePathError, type TrustedDir, type TrustOptions } from './safe-fs.ts';

const t = translator('podsec');
const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
const STALE_TEMP_MS = 10 * 60 * 1000;
const PREFIX = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** `date '+%Y-%m-%d_%H:%M:%S'`: local time. */
export function formatTimestamp(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}_${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

export function historyName(prefix: string, date: Date, collision = 0): string {
  return `${prefix}${formatTimestamp(date)}${collision ? `.${collision}` : ''}`;
}

export function isHistoryName(prefix: string, name: string): boolean {
  return name.startsWith(prefix) && /^\d{4}-\d\d-\d\d_\d\d:\d\d:\d\d(\.[1-9]\d*)?$/.test(name.slice(prefix.length));
}

interface InstallOptions extends TrustOptions {
  /** Names the entries: 'policy_' gives policy_<timestamp>. */
  prefix: string;
  timestamp: Date;
  mode: number;
  uid?: number;
  gid?: number;
  /** Names the backup of an original regular file; default `prefix` ('default.yaml.', 'registries.conf.' upstream). */
  backupPrefix?: string;
  /** Upstream moves the original, except registries.conf, which it copies. Default 'move'. */
  backup?: 'move' | 'copy';
}

interface InstallResult {
  /** False when the link already pointed to this content: nothing was written. */
  changed: boolean;
  /** The entry the link points to (a name in the link's directory). */
  target: string;
  backup?: string;
}

function createUnique(dir: TrustedDir, prefix: string, date: Date, create: (name: string) => void): string {
  for (let collision = 0; collision < 1000; collision++) {
    const name = historyName(prefix, date, collision);
    // Names taken already are skipped without writing anything, so a run does the same steps
    // whether or not an earlier run used this second (the crash tests count on that); EEXIST
    // below still settles a race with a concurrent writer.
    if (dir.lstat(name)) continue;
    try {
      create(name);
      return name;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  throw new Error(`too many history entries named ${historyName(prefix, date)}`);
}

function readEntry(dir: TrustedDir, name: string): Buffer | undefined {
  try {
    return dir.readFile(name, MAX_CONFIG_BYTES);
  } catch (error) {
    if (error instanceof UnsafePathError || (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The history entry a link points to, or undefined when it points elsewhere (then it is not ours). */
function managedEntry(link: string, dirInRoot: string, prefixes: string[]): string | undefined {
  // Upstream made relative links; an absolute one into the same directory is accepted too.
  const name = link.includes('/') ? (dirname(link) === dirInRoot ? basename(link) : undefined) : link;
  return name !== undefined && prefixes.some((prefix) => isHistoryName(prefix, name)) ? name : undefined;
}

/**
 * Makes `linkPath` a symlink to a new history entry holding `content`, unless it already points
 * to an entry with that content. A regular file at `linkPath` is converted even when its content
 * is equal, so the second run converges. In a directory a user controls, a symlink that doesn't
 * point to a history entry was planted by that user: it is refused, never followed.
 */
export function installManaged(linkPath: string, content: string | Uint8Array, options: InstallOptions): InstallResult {
  const backupPrefix = options.backupPrefix ?? options.prefix;
  for (const prefix of [options.prefix, backupPrefix]) {
    if (!PREFIX.test(prefix)) throw new Error(`invalid history prefix ${JSON.stringify(prefix)}`);
  }
  const absolute = resolve(linkPath);
  const root = resolve(options.root ?? '/');
  const dir = openTrustedDir(dirname(absolute), options);
  try {
    dir.removeStaleTemps(STALE_TEMP_MS);
    const name = basename(absolute);
    const bytes = Buffer.from(content);
    const st = dir.lstat(name);
    let backup: string | undefined;
    if (st?.isSymbolicLink()) {
      const link = dir.readlink(name);
      const dirInRoot = `/${relative(root, dirname(absolute))}`;
      const current = managedEntry(link, dirInRoot, [options.prefix, backupPrefix]);
      if (current !== undefined && readEntry(dir, current)?.equals(bytes)) return { changed: false, target: current };
      if (current === undefined && dir.userControlled) {
        throw new UnsafePathError(linkPath, t('it is a symlink to {target}, which podsec does not manage', { target: link }));
      }
    } else if (st?.isFile()) {
      const yesterday = new Date(options.timestamp.getTime() - DAY_MS);
      backup = createUnique(dir, backupPrefix, yesterday, (backupName) =>
        options.backup === 'copy'
          ? dir.writeFile(backupName, dir.readFile(name, MAX_CONFIG_BYTES), { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, noReplace: true })
          : dir.link(name, backupName),
      );
    } else if (st) {
      throw new UnsafePathError(linkPath, t('neither a regular file nor a symlink'));
    }
    const target = createUnique(dir, options.prefix, options.timestamp, (entry) =>
      dir.writeFile(entry, bytes, { mode: options.mode, uid: options.uid, gid: options.gid, noReplace: true }),
    );
    // In move mode this rename is what takes the original away from `linkPath`: there is no moment without it.
    dir.replaceWithSymlink(name, target, options);
    return { changed: true, target, backup };
  } finally {
    dir.close();
  }
}
