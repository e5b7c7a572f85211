/**
 * Images in containers-storage, read as data from `<graph root>/<driver>-images/images.json` (no
 * `su - user -c podman`). Every graph driver's list is read: rootless podman falls back to `vfs`
 * where it cannot use overlay, and reading only overlay-images would make such a user's images
 * invisible (a silent "OK").
 *
 * The files live in users' directories, so they are read as root without following a symlink out
 * of the storage directory (a user can't make root read /etc/shadow), with a size cap, and a
 * malformed file is reported by what is wrong, never by quoting its content.
 */
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { U7S_ADMIN_HOME } from '../lib/names.ts';
import { readAccounts } from '../lib/accounts.ts';
import { readRegularFile, UnsafePathError } from '../lib/safe-fs.ts';

const MAX_IMAGES_JSON_BYTES = 64 << 20;

export interface StoredImage {
  id: string;
  names: string[];
  /** The manifest digest the image was stored with. */
  digest?: string;
  /** All manifest digests known for the image (digest included). */
  digests: string[];
}

export interface ImageOwner {
  user: string;
  home?: string;
  /** containers-storage graph roots of this user (rootless podman; u7s-admin's usernetes storage). */
  storages: string[];
}

export const ROOT_STORAGE = 'var/lib/containers/storage';
export const USER_STORAGE = '.local/share/containers/storage';
export const USERNETES_STORAGE = '.local/share/usernetes/containers/storage';

const isDir = (path: string) => {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
};

/** Existing graph roots under a home, a storage reached twice (u7s-admin's symlink) listed once. */
function homeStorages(root: string, home: string): string[] {
  const seen = new Set<string>();
  const list: string[] = [];
  for (const candidate of [join(root, home, USER_STORAGE), join(root, home, USERNETES_STORAGE)]) {
    if (!isDir(candidate)) continue;
    let real: string;
    try {
      real = realpathSync(candidate);
    } catch {
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    list.push(candidate);
  }
  return list;
}

export function storagesOf(root: string, user: string, home: string | undefined): string[] {
  if (user === 'root' || home === undefined) return isDir(join(root, ROOT_STORAGE)) ? [join(root, ROOT_STORAGE)] : [];
  return homeStorages(root, home);
}

export function imageOwners(root: string): ImageOwner[] {
  const owners: ImageOwner[] = [{ user: 'root', storages: storagesOf(root, 'root', undefined) }];
  const homes = new Set<string>();
  for (const a of readAccounts(root)) {
    if (a.uid === 0 || !a.home.startsWith('/') || a.home === '/' || homes.has(a.home)) continue;
    homes.add(a.home);
    owners.push({ user: a.name, home: a.home, storages: storagesOf(root, a.name, a.home) });
  }
  if (!homes.has(U7S_ADMIN_HOME)) {
    const storages = homeStorages(root, U7S_ADMIN_HOME);
    if (storages.length > 0) owners.push({ user: 'u7s-admin', home: U7S_ADMIN_HOME, storages });
  }
  return owners;
}

export class ImagesFileError extends Error {}

/** Reads a file inside `within` without following a symlink out of it; undefined when missing. */
function readInside(path: string, within: string, shown: string): string | undefined {
  let real: string;
  try {
    real = realpathSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ImagesFileError(`${shown} cannot be read`);
  }
  const rel = relative(realpathSync(within), real);
  if (rel === '' || rel.startsWith('..')) throw new ImagesFileError(`${shown} is a symlink out of its storage`);
  try {
    return readRegularFile(real, { maxBytes: MAX_IMAGES_JSON_BYTES }).toString('utf8');
  } catch (error) {
    const refusal = error instanceof UnsafePathError ? error.refusal : undefined;
    if (refusal === 'not-regular') throw new ImagesFileError(`${shown} is not a regular file`);
    if (refusal === 'too-large') throw new ImagesFileError(`${shown} is too large`);
    throw new ImagesFileError(`${shown} cannot be read`);
  }
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The images listed in one images.json. Throws ImagesFileError (naming the file, never quoting it). */
export function parseImagesJson(text: string, shown: string): StoredImage[] {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    throw new ImagesFileError(`${shown} is not valid JSON`);
  }
  if (!Array.isArray(list)) throw new ImagesFileError(`${shown} is not a list of images`);
  return list
    .filter((i): i is Record<string, unknown> => typeof i === 'object' && i !== null && typeof i.id === 'string')
    .map((i) => {
      const digest = typeof i.digest === 'string' && DIGEST.test(i.digest) ? i.digest : undefined;
      const more = Array.isArray(i.digests) ? (i.digests as unknown[]).filter((d): d is string => typeof d === 'string' && DIGEST.test(d)) : [];
      return {
        id: i.id as string,
        names: Array.isArray(i.names) ? (i.names as unknown[]).filter((n): n is string => typeof n === 'string') : [],
        ...(digest ? { digest } : {}),
        digests: [...new Set([...(digest ? [digest] : []), ...more])],
      };
    });
}

/**
 * The images of one graph root, over all its drivers (`overlay-images`, `vfs-images`, …);
 * undefined when it has no image list at all. `root` only shortens the paths in messages.
 */
export function storedImages(storage: string, root = '/'): StoredImage[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync(storage)
      .filter((name) => /^[a-z0-9]+-images$/.test(name))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new ImagesFileError(`/${relative(root, storage)} cannot be read`);
  }
  let found = false;
  const images: StoredImage[] = [];
  for (const dir of entries) {
    const file = join(storage, dir, 'images.json');
    const shown = `/${relative(root, file)}`;
    const text = readInside(file, storage, shown);
    if (text === undefined) continue;
    found = true;
    images.push(...parseImagesJson(text, shown));
  }
  return found ? images : undefined;
}

/** The images of all of an owner's storages; undefined when none has an image list. */
export function ownerImages(owner: ImageOwner, root = '/'): StoredImage[] | undefined {
  let any = false;
  const images: StoredImage[] = [];
  for (const storage of owner.storages) {
    const list = storedImages(storage, root);
    if (list === undefined) continue;
    any = true;
    images.push(...list);
  }
  return any ? images : undefined;
}

// The docker reference grammar (github.com/distribution/reference), fully qualified as
// containers-storage stores names: domain[:port]/path[:tag][@digest].
const DOMAIN_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[0-9A-Fa-f:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const REFERENCE = new RegExp(`^${DOMAIN}/${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::[\\w][\\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$`);

/**
 * Whether a stored name is a docker reference podman could have pulled. Anything else (quotes,
 * `$()`, spaces, newlines: a name a user wrote into their own images.json) is never put into a URL.
 */
export function isImageReference(name: string): boolean {
  return name.length <= 4096 && REFERENCE.test(name);
}
