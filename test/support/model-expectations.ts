/**
 * What the RPMs must contain, computed from the model (never from a second hand-written list):
 * one expected `rpm --dump`-like row per declared path.
 */
import { type Branch, resolvePath } from '../../scripts/model/branches.ts';
import type { Entry, PackageDecl } from '../../scripts/model/types.ts';

interface FileRow {
  path: string;
  /** st_mode in octal, file type included (0100644, 040755, 0120777). */
  mode: string;
  owner: string;
  group: string;
  config: boolean;
  noreplace: boolean;
}

const TYPE_BITS: Record<string, number> = { dir: 0o040000, symlink: 0o120000 };

function expectedRow(entry: Entry, branch: Branch): FileRow {
  const type = TYPE_BITS[entry.kind] ?? 0o100000;
  return {
    path: resolvePath(entry.path, branch),
    mode: (type | entry.mode).toString(8),
    owner: entry.owner,
    group: entry.group,
    config: entry.kind === 'config' || entry.kind === 'config-noreplace',
    noreplace: entry.kind === 'config-noreplace',
  };
}

/**
 * `modules`: the installed paths of the package's program modules (scripts/model/program-modules.ts),
 * which the model names by their directory only: esbuild names them (chunk-<hash>.js, 0644 root).
 */
export function expectedRows(pkg: PackageDecl, branch: Branch, modules: string[] = []): FileRow[] {
  const moduleRows = modules.map((path) => ({ path, mode: (0o100000 | 0o644).toString(8), owner: 'root', group: 'root', config: false, noreplace: false }));
  return [...pkg.entries.map((e) => expectedRow(e, branch)), ...moduleRows].sort((a, b) => a.path.localeCompare(b.path));
}

/** rpm -qp --queryformat producing the same row shape, one line per file. */
export const FILE_ROWS_QUERYFORMAT = '[%{FILENAMES}\\t%{FILEMODES:octal}\\t%{FILEUSERNAME}\\t%{FILEGROUPNAME}\\t%{FILEFLAGS:fflags}\\n]';

export function parseFileRows(output: string): FileRow[] {
  return output
    .split('\n')
    .filter((line) => line !== '' && line !== '(none)')
    .map((line) => {
      const [path, mode, owner, group, flags = ''] = line.split('\t');
      return { path: path!, mode: mode!, owner: owner!, group: group!, config: flags.includes('c'), noreplace: flags.includes('n') };
    })
    .sort((a, b) => a.path.localeCompare(b.path));
}
