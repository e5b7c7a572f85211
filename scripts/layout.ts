/**
 * Where things live in the source tarball (podsec-<version>/):
 *   tree/<root>/<rest>  the file installed at %_<root>/<rest> (e.g. tree/bindir/podsec-get-platform
 *                       for %_bindir/podsec-get-platform; tree/root/<path> for a literal /<path>)
 *   src/...             the TypeScript sources of the bundled programs (the preferred form for changes)
 * Deriving the tree path from the installed path keeps the %install lines a pure function of the model.
 */
import { rootMacroOf } from './model/branches.ts';

export function treePath(installedPath: string): string {
  const macro = rootMacroOf(installedPath);
  if (macro === undefined) return `tree/root${installedPath}`;
  const rest = installedPath.replace(/^%\{?_[a-z_0-9]+\}?/, '');
  return `tree/${macro.replace(/^_/, '')}${rest}`;
}

/** The spec's macro form of an installed path: `%{_bindir}` and `%_bindir` both become `%_bindir`. */
export function specPath(installedPath: string): string {
  return installedPath.replace(/^%\{(_[a-z_0-9]+)\}/, '%$1');
}
