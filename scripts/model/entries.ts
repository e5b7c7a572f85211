/** Small constructors so package declarations read as a table of paths. */
import type { Content, Entry, ManSection } from './types.ts';

interface Ownership {
  owner?: string;
  group?: string;
}

const root = (o: Ownership) => ({ owner: o.owner ?? 'root', group: o.group ?? o.owner ?? 'root' });

export const dir = (path: string, mode = 0o755, o: Ownership = {}): Entry => ({ path, kind: 'dir', mode, ...root(o) });

/** A constructor for entries with content: regular files and the two kinds of configuration. */
const withContent =
  (kind: 'file' | 'config' | 'config-noreplace') =>
  (path: string, content: Content, mode = 0o644, o: Ownership = {}): Entry => ({ path, kind, mode, content, ...root(o) });

export const file = withContent('file');
export const config = withContent('config');
export const configNoReplace = withContent('config-noreplace');

interface ProgramOptions extends Ownership {
  /** The section of its man pages; see `Content` (a %_bindir command defaults to 1, others have none). */
  manSection?: ManSection;
}

/** A bundled program (bin/<name>.ts); `program(path, name, 0o755, { manSection: 8 })` documents an administrative one. */
export const program = (path: string, name: string, mode = 0o755, o: ProgramOptions = {}): Entry => {
  const { manSection, ...ownership } = o;
  return file(path, manSection ? { program: name, manSection } : { program: name }, mode, ownership);
};

export const symlink = (path: string, target: string, o: Ownership & { replacesDirectory?: boolean } = {}): Entry => ({
  path,
  kind: 'symlink',
  mode: 0o777,
  target,
  ...root(o),
  ...(o.replacesDirectory ? { replacesDirectory: true } : {}),
});

/** Units and drop-ins are root-owned 0644 files; only their kind (and so their scriptlets) differs. */
const unitFile = (kind: 'system-unit' | 'user-unit' | 'drop-in', path: string, content: Content): Entry => ({
  path,
  kind,
  mode: 0o644,
  content,
  owner: 'root',
  group: 'root',
});

export const systemUnit = (name: string, content: Content, o: { keepRunningOnUpgrade?: boolean } = {}): Entry => ({
  ...unitFile('system-unit', `%_unitdir/${name}`, content),
  ...(o.keepRunningOnUpgrade ? { keepRunningOnUpgrade: true } : {}),
});

/**
 * The package's systemd preset file: the units `systemctl preset` (run by %post_systemd on first
 * install) enables. ALT's default policy (99-default-disable.preset) disables every unit no preset
 * file names, so the units not listed here stay disabled. Priority 85, as ALT's own systemd presets.
 */
export const presetFile = (packageName: string, enable: string[]): Entry =>
  file(`%_presetdir/85-${packageName}.preset`, { ejs: 'units/preset.ejs', data: { packageName, enable } });
export const userUnit = (name: string, content: Content): Entry => unitFile('user-unit', `%_userunitdir/${name}`, content);
export const dropIn = (path: string, content: Content): Entry => unitFile('drop-in', path, content);
