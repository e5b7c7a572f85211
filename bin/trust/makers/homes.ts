/**
 * Writing into users' homes as root without being fooled by what the user planted there.
 *
 * Every directory is walked from the tree's root with O_NOFOLLOW (safe-fs); the user's own
 * directories are trusted only as theirs (trustedOwner), files are replaced by rename of a temp
 * file we created, never written through, and a symlink where a file should be is refused, not
 * followed. Nothing is chowned recursively: each file and directory we create gets its owner when
 * it is created.
 */
import { fchmodSync, fchownSync, fstatSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError } from '../../lib/command.ts';
import { translator } from '../../lib/i18n.ts';
import { atomicWrite, openTrustedDir, safeMkdir, tempName, UnsafePathError, type TrustedDir } from '../../lib/safe-fs.ts';
import type { Account } from '../../lib/accounts.ts';
import { failure, run } from '../../lib/proc.ts';
import { faultPoint } from '../../lib/fault-point.ts';

const t = translator('podsec');
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

export const USER_CONTAINERS_DIR = '.config/containers';
export const USER_POLICY = `${USER_CONTAINERS_DIR}/policy.json`;
export const USER_REGISTRIES_D = `${USER_CONTAINERS_DIR}/registries.d`;
export const USER_REGISTRIES_D_FILE = `${USER_REGISTRIES_D}/default.yaml`;
export const USER_SIGSTORE_DIR = '.config/podsec';
export const USER_SIGSTORE_KEY = `${USER_SIGSTORE_DIR}/sigstore.key`;

/** The path of `relative` in the account's home, as this process sees it. */
export const inHome = (root: string, account: Account, relative: string) => join(root, account.home, relative);

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof UnsafePathError) throw new CommandError(error.message, 1);
    throw error;
  }
}

/** Creates `relative` (and missing parents) in the home, owned by the user; refuses symlinks and foreign directories on the way. */
export function userDir(root: string, account: Account, relative: string, mode: number, gid = account.gid): void {
  wrap(() => safeMkdir(inHome(root, account, relative), { mode, uid: account.uid, gid, root, trustedOwner: account.uid }));
}

/** Writes a file in the home atomically, owned by the user; a symlink at its place is refused. */
export function userFile(root: string, account: Account, relative: string, content: string | Uint8Array, mode: number, gid = account.gid): void {
  wrap(() => atomicWrite(inHome(root, account, relative), content, { mode, uid: account.uid, gid, root, trustedOwner: account.uid }));
}

export type UserFileState = { kind: 'absent' } | { kind: 'file'; text: string } | { kind: 'other'; reason: string };

/** What is at `relative` in the home, without following a symlink at any component. */
export function userFileState(root: string, account: Account, relative: string): UserFileState {
  const full = inHome(root, account, relative);
  try {
    const dir = openTrustedDir(join(full, '..'), { root, trustedOwner: account.uid });
    try {
      const name = relative.split('/').pop()!;
      const st = dir.lstat(name);
      if (!st) return { kind: 'absent' };
      if (st.isSymbolicLink()) return { kind: 'other', reason: t('it is a symlink') };
      if (!st.isFile()) return { kind: 'other', reason: t('not a regular file') };
      return { kind: 'file', text: dir.readFile(name, MAX_CONFIG_BYTES).toString('utf8') };
    } finally {
      dir.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    if (error instanceof UnsafePathError) return { kind: 'other', reason: error.reason };
    throw error;
  }
}

/** lsattr/chattr on a directory we hold open: the tool gets our descriptor, never a path it could be redirected on. */
async function attributes(dir: TrustedDir): Promise<string> {
  const result = await run('lsattr', ['-d', '/proc/self/fd/3/.'], { shareFd: dir.fd });
  if (result.error || result.status !== 0) throw new CommandError(t('lsattr {path}: {reason}', { path: dir.path, reason: failure(result) }), 1);
  return result.stdout.trim().split(/\s+/)[0] ?? '';
}

async function setImmutable(dir: TrustedDir, on: boolean): Promise<void> {
  const result = await run('chattr', [on ? '+i' : '-i', '/proc/self/fd/3/.'], { shareFd: dir.fd });
  if (result.error || result.status !== 0) {
    throw new CommandError(
      t('chattr {flag} {path}: {reason} (the file system must support the immutable attribute)', {
        flag: on ? '+i' : '-i',
        path: dir.path,
        reason: failure(result),
      }),
      1,
    );
  }
}

/** Whether the file system under `path` supports the immutable attribute (lsattr works there). */
export async function supportsImmutable(root: string, path: string): Promise<boolean> {
  const dir = openTrustedDir(path, { root });
  try {
    await attributes(dir);
    return true;
  } catch {
    return false;
  } finally {
    dir.close();
  }
}

export type LockedDirState = 'absent' | 'locked' | 'open';

/** Is ~/.config/containers the empty, immutable, 0500 user:podman directory podsec makes? */
export async function lockedDirState(root: string, account: Account, relative: string, gid: number): Promise<LockedDirState> {
  let dir: TrustedDir;
  try {
    dir = openTrustedDir(inHome(root, account, relative), { root, trustedOwner: account.uid });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    if (error instanceof UnsafePathError) return 'open';
    throw error;
  }
  try {
    const st = fstatSync(dir.fd);
    const flags = await attributes(dir);
    const locked = st.uid === account.uid && st.gid === gid && (st.mode & 0o7777) === 0o500 && flags.includes('i') && dir.names().length === 0;
    return locked ? 'locked' : 'open';
  } finally {
    dir.close();
  }
}

/**
 * Makes `relative` an empty directory, mode 0500, user:gid, with the immutable attribute: the user
 * can neither put a policy.json, registries.d or containers.conf there nor remove it. An existing
 * directory with content is moved aside first (renamed in its parent, never followed or deleted).
 * Returns the name it was moved to, if any.
 */
export async function lockEmptyDir(root: string, account: Account, relative: string, gid: number): Promise<string | undefined> {
  const parts = relative.split('/');
  const name = parts.pop()!;
  const parentRelative = parts.join('/');
  if (parentRelative) userDir(root, account, parentRelative, 0o755);
  if ((await lockedDirState(root, account, relative, gid)) === 'locked') return undefined;
  const parent = wrap(() => openTrustedDir(inHome(root, account, parentRelative), { root, trustedOwner: account.uid }));
  try {
    let movedTo: string | undefined;
    const st = parent.lstat(name);
    if (st?.isDirectory()) {
      const dir = wrap(() => openTrustedDir(join(parent.path, name), { root, trustedOwner: account.uid }));
      try {
        if ((await attributes(dir)).includes('i')) await setImmutable(dir, false);
        if (dir.names().length > 0) movedTo = name;
      } finally {
        dir.close();
      }
    } else if (st) {
      movedTo = name;
    }
    if (movedTo !== undefined) {
      movedTo = `${name}.podsec-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      faultPoint(`move aside ${parent.path}/${name}`);
      renameSync(parent.at(name), parent.at(movedTo));
      parent.sync();
    }
    if (!parent.lstat(name)) {
      // Made by root under a temp name and renamed into place, so it is never a half-set-up directory of the user's.
      const temp = tempName(name);
      faultPoint(`mkdir temp for ${parent.path}/${name}`);
      mkdirSync(parent.at(temp), { mode: 0o500 });
      faultPoint(`rename into place ${parent.path}/${name}`);
      renameSync(parent.at(temp), parent.at(name));
      parent.sync();
    }
    const dir = wrap(() => openTrustedDir(join(parent.path, name), { root, trustedOwner: account.uid }));
    try {
      fchmodSync(dir.fd, 0o500);
      fchownSync(dir.fd, account.uid, gid);
      await setImmutable(dir, true);
      // The user owns it between chown and chattr; make sure nothing got in meanwhile.
      const now = fstatSync(dir.fd);
      if (dir.names().length > 0 || (now.mode & 0o7777) !== 0o500 || now.uid !== account.uid) {
        await setImmutable(dir, false);
        throw new CommandError(t('{path} was changed while podsec was locking it; run the command again', { path: dir.path }), 1);
      }
    } finally {
      dir.close();
    }
    return movedTo;
  } finally {
    parent.close();
  }
}
