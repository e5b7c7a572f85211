/**
 * What podsec-inotify-check-containers watches and how it classifies a change: the overlay
 * storage of root, of every user (rootless podman) and of u7s-admin (rootless Kubernetes); an
 * event in a layer's diff tree is a change of a file in the container.
 */
import { type Dirent, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { U7S_ADMIN_HOME } from '../lib/names.ts';
import { readAccounts } from '../lib/accounts.ts';

export const WATCHED_EVENTS = ['create', 'delete', 'modify', 'attrib', 'moved_to', 'moved_from'];
/** Not watched: the overlay work and mount dirs, the short-name links, and the container's scratch trees. */
export const EXCLUDE = '/overlay/(l|[^/]+/(work|merged|empty|link|lower))(/|$)|/overlay/[^/]+/diff/(var|tmp|run|proc|dev|sys)(/|$)';

const isDir = (path: string) => {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
};

/** Existing overlay directories: root's, each account's rootless storage, u7s-admin's usernetes storage. */
export function overlayRoots(root: string): string[] {
  const candidates = [join(root, 'var/lib/containers/storage/overlay'), join(root, U7S_ADMIN_HOME, '.local/share/usernetes/containers/storage/overlay')];
  for (const account of readAccounts(root)) {
    if (account.home.startsWith('/') && account.home !== '/') candidates.push(join(root, account.home, '.local/share/containers/storage/overlay'));
  }
  return [...new Set(candidates)].filter(isDir).sort();
}

export interface Located {
  overlay: string;
  layer: string;
  /** The path inside the container, '/' for the diff dir itself; undefined for the layer dir level. */
  inner?: string;
}

export function locate(path: string, roots: string[]): Located | undefined {
  for (const overlay of roots) {
    if (!path.startsWith(`${overlay}/`)) continue;
    const rest = path.slice(overlay.length + 1);
    const slash = rest.indexOf('/');
    const layer = slash < 0 ? rest : rest.slice(0, slash);
    const below = slash < 0 ? '' : rest.slice(slash + 1);
    if (below === '') return { overlay, layer };
    if (below === 'diff') return { overlay, layer, inner: '/' };
    if (below.startsWith('diff/')) return { overlay, layer, inner: below.slice(4) };
    return undefined;
  }
  return undefined;
}

export interface Classification {
  word: 'Critical' | 'Warning';
  where?: string;
}

/** Upstream's classes: home directories and /etc are Warnings, everything else Critical. */
export function classify(inner: string): Classification {
  if (/^\/(home|root)(\/|$)/.test(inner)) return { word: 'Warning', where: 'in home directory' };
  if (/^\/etc(\/|$)/.test(inner)) return { word: 'Warning', where: 'in configuration directory' };
  return { word: 'Critical' };
}

/**
 * The entries below a directory that just appeared in a layer, as paths relative to it, without
 * following links and at most `limit` of them. inotifywait watches a new directory only after
 * reporting it, so files created in it meanwhile (an overlay copy-up of /bin followed by a write
 * to /bin/x) would otherwise go unseen.
 */
export function entriesBelow(dir: string, limit = 1000): string[] {
  const found: string[] = [];
  const walk = (relative: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(join(dir, relative), { withFileTypes: true });
    } catch {
      return; // gone again, or not a directory any more
    }
    for (const entry of entries) {
      if (found.length >= limit) return;
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      found.push(path);
      if (entry.isDirectory()) walk(path);
    }
  };
  walk('');
  return found;
}
