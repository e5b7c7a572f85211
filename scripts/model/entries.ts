/** Small constructors so package declarations read as a table of paths. */
import type { Content, Entry } from './types.ts';

interface Ownership {
  owner?: string;
  group?: string;
}

const root = (o: Ownership) => ({ owner: o.owner ?? 'root', group: o.group ?? o.owner ?? 'root' });

export const dir = (path: string, mode = 0o755, o: Ownership = {}): Entry => ({ path, kind: 'dir', mode, ...root(o) });

export const file = (path: string, content: Content, mode = 0o644, o: Ownership = {}): Entry => ({
  path,
  kind: 'file',
  mode,
  content,
  ...root(o),
});

export const program = (path: string, name: string, mode = 0o755, o: Ownership = {}): Entry =>
  file(path, { program: name }, mode, o);

export const config = (path: string, content: Content, mode = 0o644, o: Ownership = {}): Entry => ({
  path,
  kind: 'config',
  mode,
  content,
  ...root(o),
});

export const configNoReplace = (path: string, content: Content, mode = 0o644, o: Ownership = {}): Entry => ({
  path,
  kind: 'config-noreplace',
  mode,
  content,
  ...root(o),
});

export const symlink = (path: string, target: string, o: Ownership = {}): Entry => ({
  path,
  kind: 'symlink',
  mode: 0o777,
  target,
  ...root(o),
});

export const systemUnit = (name: string, content: Content): Entry => ({
  path: `%_unitdir/${name}`,
  kind: 'system-unit',
  mode: 0o644,
  content,
  owner: 'root',
  group: 'root',
});

export const userUnit = (name: string, content: Content): Entry => ({
  path: `%_userunitdir/${name}`,
  kind: 'user-unit',
  mode: 0o644,
  content,
  owner: 'root',
  group: 'root',
});

export const dropIn = (path: string, content: Content): Entry => ({
  path,
  kind: 'drop-in',
  mode: 0o644,
  content,
  owner: 'root',
  group: 'root',
});
