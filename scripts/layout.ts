/**
 * Where things live in the source tarball (podsec-<version>/):
 *   tree/<root>/<rest>  the file installed at %_<root>/<rest> (e.g. tree/man1dir/podsec-get-platform.1.xz
 *                       for %_man1dir/podsec-get-platform.1.xz; tree/root/<path> for a literal /<path>)
 *   src/...             the programs' TypeScript sources and their runtime dependencies' files, which
 *                       %build bundles into build/<package>/ (scripts/bundle.ts; the programs are not in tree/)
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
