/**
 * The lookaside directories of the master's signature tree (/var/sigstore/sigstore/<path>/): every
 * maker must be able to write signatures within its scope, also below another maker's directory
 * (registry.local/p11/team under registry.local/p11). containers/image makes them 0755 whatever
 * the umask, so they are made 03775 group podman_dev: setgid keeps the group, sticky keeps each
 * maker's entries its own (nobody renames or removes another maker's signatures).
 *  - prepareLookaside: the maker, before signing, makes the directories above a destination.
 *  - lookasideRepairs/repairLookaside: root, when makers are created or reconfigured, repairs the
 *    directories on the makers' scope paths that an older podsec left 0755.
 */
import { chmodSync, closeSync, constants as C, fchmodSync, fchownSync, fstatSync, lstatSync, mkdirSync, openSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ContainersPolicy } from '../../lib/containers-policy.ts';
import { SIGSTORE_ROOT } from '../../lib/names.ts';
import { openTrustedDir } from '../../lib/safe-fs.ts';
import { SIGNATURES_DIR } from './create-policy.ts';
import { ownerOf } from './maker-policy.ts';

const LOOKASIDE_DIR_MODE = 0o3775;
const SIGNATURES = basename(SIGNATURES_DIR);

/** The path components of a registry.local repository below the host. */
const componentsOf = (repository: string) => repository.split('/').slice(1);

/**
 * The lookaside directories above a destination's signatures, made by this maker as 03775 before
 * the signature is written. A directory of another owner is left alone (its owner or root's
 * repair makes it writable; skopeo or podman says so otherwise).
 */
export function prepareLookaside(root: string, destination: string): void {
  const repository = destination.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
  const parts = componentsOf(repository).slice(0, -1);
  for (let n = 1; n <= parts.length; n++) {
    const dir = join(root, SIGNATURES_DIR, ...parts.slice(0, n));
    let st = lstatOrUndefined(dir);
    if (!st) {
      try {
        mkdirSync(dir, 0o775);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return;
      }
      st = lstatOrUndefined(dir);
    }
    if (!st?.isDirectory()) return;
    if (st.uid === process.geteuid?.() && (st.mode & 0o7777) !== LOOKASIDE_DIR_MODE) chmodSync(dir, LOOKASIDE_DIR_MODE);
  }
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** The makers' scope paths (component lists below registry.local), each with its ancestors, sorted shortest first. */
function scopeDirs(policy: ContainersPolicy): string[][] {
  const dirs = new Map<string, string[]>();
  for (const [scope, requirements] of Object.entries(policy.transports?.docker ?? {})) {
    if (!ownerOf(requirements)) continue;
    const parts = componentsOf(scope);
    for (let n = 1; n <= parts.length; n++) dirs.set(parts.slice(0, n).join('/'), parts.slice(0, n));
  }
  return [...dirs.values()].sort((a, b) => a.length - b.length || a.join('/').localeCompare(b.join('/')));
}

/**
 * Walks the signature tree along `parts` with O_NOFOLLOW from root's /var/sigstore, never through a
 * symlink a maker planted, and calls `visit` with each real directory's descriptor and path. Stops
 * at the first missing or non-directory component.
 */
function walkScope(root: string, parts: string[], visit: (fd: number, path: string) => void): void {
  const top = openTrustedDir(join(root, SIGSTORE_ROOT), { root });
  let fd = -1;
  try {
    let path = SIGNATURES_DIR;
    fd = openDir(top.at(SIGNATURES));
    if (fd < 0 || fstatSync(fd).uid !== 0) return;
    for (const name of parts) {
      const next = openDir(`/proc/self/fd/${fd}/${name}`);
      if (next < 0) return;
      closeSync(fd);
      fd = next;
      path = `${path}/${name}`;
      visit(fd, path);
    }
  } finally {
    if (fd >= 0) closeSync(fd);
    top.close();
  }
}

/** A directory opened without following a symlink, or -1 (missing, a symlink, not a directory). */
function openDir(path: string): number {
  try {
    return openSync(path, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
  } catch {
    return -1;
  }
}

const repaired = (st: { mode: number; gid: number }, devGid: number) => (st.mode & 0o7777) === LOOKASIDE_DIR_MODE && st.gid === devGid;

/** The directories on the makers' scope paths that are not 03775 group podman_dev (only on the master, where the tree exists). */
export function lookasideRepairs(root: string, policy: ContainersPolicy, devGid: number): string[] {
  const found = new Set<string>();
  for (const parts of scopeDirs(policy)) {
    try {
      walkScope(root, parts, (fd, path) => {
        if (!repaired(fstatSync(fd), devGid)) found.add(path);
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return [...found];
}

/** Makes those directories 03775 group podman_dev, through the descriptors of the same safe walk (owners are kept). */
export function repairLookaside(root: string, policy: ContainersPolicy, devGid: number): void {
  for (const parts of scopeDirs(policy)) {
    walkScope(root, parts, (fd) => {
      if (repaired(fstatSync(fd), devGid)) return;
      // chown before chmod: chown clears the set-id bits.
      fchownSync(fd, -1, devGid);
      fchmodSync(fd, LOOKASIDE_DIR_MODE);
    });
  }
}
