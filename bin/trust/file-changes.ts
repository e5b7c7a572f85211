/**
 * Planning file changes under --root: each helper compares what is on disk with what should be
 * there and adds a step only when they differ, so a second run with the same input plans nothing.
 * Writes go through safe-fs (atomic, never through a symlink) and config-history (upstream's
 * timestamped entries behind a symlink).
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { CommandError } from '../lib/command.ts';
import { installManaged, isHistoryName } from '../lib/config-history.ts';
import { translator } from '../lib/i18n.ts';
import { atomicWrite, readRegularFile, safeMkdir, UnsafePathError } from '../lib/safe-fs.ts';
import type { Plan } from '../lib/plan.ts';
import { requireGroup } from '../lib/accounts.ts';

const t = translator('podsec');
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

const lstatOrUndefined = (path: string) => {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
};

/** `path` (a path on the target system) under `root`. */
export const under = (root: string, path: string) => join(root, path);

export type Current = { kind: 'absent' } | { kind: 'file'; bytes: Buffer } | { kind: 'link'; bytes: Buffer | undefined; target: string };

/**
 * What a config file currently says. A symlink is followed one step, to a regular file inside
 * `root` (upstream's links point to timestamped files beside them); anything else is refused.
 * A dangling link (upstream left one when a node's download failed) reads as no content.
 */
export function readCurrent(root: string, path: string): Current {
  const full = under(root, path);
  const st = lstatOrUndefined(full);
  if (!st) return { kind: 'absent' };
  const fail = (reason: string): never => {
    throw new CommandError(t('cannot read {path}: {reason}', { path, reason }), 1);
  };
  try {
    if (st.isFile()) return { kind: 'file', bytes: readRegularFile(full, { maxBytes: MAX_CONFIG_BYTES }) };
    if (!st.isSymbolicLink()) return fail(t('neither a regular file nor a symlink'));
    const target = readlinkSync(full);
    const resolved = isAbsolute(target) ? join(root, target) : resolve(dirname(full), target);
    const inside = relative(resolve(root), resolved);
    if (inside.startsWith('..') || isAbsolute(inside)) return fail(t('it is a symlink that leads outside {root}', { root }));
    try {
      return { kind: 'link', target, bytes: readRegularFile(resolved, { maxBytes: MAX_CONFIG_BYTES }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'link', target, bytes: undefined };
      throw error;
    }
  } catch (error) {
    if (error instanceof UnsafePathError) return fail(error.reason);
    throw error;
  }
}

export interface History {
  prefix: string;
  backupPrefix?: string;
  backup?: 'move' | 'copy';
}

/** Whether `path` already is a link to a history entry with exactly `content` (installManaged would do nothing). */
export function managedUpToDate(root: string, path: string, content: string, history: History, current = readCurrent(root, path)): boolean {
  if (current.kind !== 'link' || current.bytes === undefined) return false;
  const name = current.target.includes('/') ? (dirname(current.target) === dirname(path) ? basename(current.target) : undefined) : current.target;
  if (name === undefined || ![history.prefix, history.backupPrefix ?? history.prefix].some((p) => isHistoryName(p, name))) return false;
  return current.bytes.equals(Buffer.from(content));
}

/** Makes sure the directory `path` exists (created 0755 root when missing; an existing one is left as it is). */
export function planParentDir(plan: Plan, root: string, path: string): void {
  if (lstatOrUndefined(under(root, path))) return;
  plan.change(t('create the directory {path}', { path }), () => {
    if (!lstatOrUndefined(under(root, path))) safeMkdir(under(root, path), { mode: 0o755, uid: 0, gid: 0, root });
  });
}

/** A config under upstream's history scheme. */
export function planManaged(
  plan: Plan,
  root: string,
  path: string,
  content: string,
  history: History,
  options: { now: Date; what: string; mode?: number; current?: Current },
): void {
  const current = options.current ?? readCurrent(root, path);
  if (managedUpToDate(root, path, content, history, current)) return;
  plan.change(t('write {path} ({what})', { path, what: options.what }), () => {
    installManaged(under(root, path), content, {
      root,
      prefix: history.prefix,
      backupPrefix: history.backupPrefix,
      backup: history.backup,
      timestamp: options.now,
      mode: options.mode ?? 0o644,
      uid: 0,
      gid: 0,
    });
  });
}

export interface Ownership {
  mode: number;
  /** Group name, looked up in the tree's /etc/group when the step runs; default root. */
  group?: string;
}

function gidNow(root: string, group: string | undefined): number | undefined {
  if (group === undefined) return 0;
  try {
    return requireGroup(root, group);
  } catch {
    return undefined;
  }
}

/** A directory with this mode, owned by root and `group`. An existing one is brought to them. */
export function planDir(plan: Plan, root: string, path: string, own: Ownership): void {
  const st = lstatOrUndefined(under(root, path));
  const gid = gidNow(root, own.group);
  if (st?.isDirectory() && (st.mode & 0o7777) === own.mode && st.uid === 0 && st.gid === gid) return;
  const mode = own.mode.toString(8).padStart(4, '0');
  const change = st
    ? t('set {path} to mode {mode}, owner root:{group}', { path, mode, group: own.group ?? 'root' })
    : t('create the directory {path} (mode {mode}, owner root:{group})', { path, mode, group: own.group ?? 'root' });
  plan.change(change, () => {
    safeMkdir(under(root, path), { mode: own.mode, uid: 0, gid: own.group === undefined ? 0 : requireGroup(root, own.group), root });
  });
}

/** A regular file with this content, mode and owner (root:group), written atomically when anything differs. */
export function planFile(plan: Plan, root: string, path: string, content: string | Buffer, own: Ownership & { what: string }): void {
  const full = under(root, path);
  const st = lstatOrUndefined(full);
  const gid = gidNow(root, own.group);
  if (st?.isFile() && (st.mode & 0o7777) === own.mode && st.uid === 0 && st.gid === gid) {
    try {
      if (readRegularFile(full, { maxBytes: MAX_CONFIG_BYTES }).equals(Buffer.from(content))) return;
    } catch {
      // unreadable: rewrite it
    }
  }
  plan.change(t('write {path} ({what})', { path, what: own.what }), () => {
    atomicWrite(full, content, { mode: own.mode, uid: 0, gid: own.group === undefined ? 0 : requireGroup(root, own.group), root });
  });
}
