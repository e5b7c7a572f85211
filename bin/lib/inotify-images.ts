/** Images in containers-storage, read as data from overlay-images/images.json (no `su - user -c podman`). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readAccounts } from './rbac-accounts.ts';

export interface StoredImage {
  id: string;
  names: string[];
  digest?: string;
}

export interface ImageOwner {
  user: string;
  home?: string;
  imagesJson: string;
}

export function imageOwners(root: string): ImageOwner[] {
  const owners: ImageOwner[] = [{ user: 'root', imagesJson: join(root, 'var/lib/containers/storage/overlay-images/images.json') }];
  for (const a of readAccounts(root)) {
    if (a.uid === 0 || !a.home.startsWith('/') || a.home === '/') continue;
    owners.push({ user: a.name, home: a.home, imagesJson: join(root, a.home, '.local/share/containers/storage/overlay-images/images.json') });
  }
  return owners;
}

/** The images of one storage; undefined when it has none (no images.json). Throws on a malformed file. */
export function storedImages(imagesJson: string): StoredImage[] | undefined {
  let text: string;
  try {
    text = readFileSync(imagesJson, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const list = JSON.parse(text) as unknown;
  if (!Array.isArray(list)) throw new Error(`${imagesJson}: not a list`);
  return list
    .filter((i): i is Record<string, unknown> => typeof i === 'object' && i !== null && typeof i.id === 'string')
    .map((i) => ({ id: i.id as string, names: Array.isArray(i.names) ? (i.names as unknown[]).filter((n): n is string => typeof n === 'string') : [], ...(typeof i.digest === 'string' ? { digest: i.digest } : {}) }));
}
