/**
 * The package model: one typed declaration per package, every installed path exactly once.
 * The spec's %install/%files, the staged tree, the mode checks and the install tests are all
 * derived from these declarations.
 */

/** What an installed path is; decides the %install line and the %files flags. */
type EntryKind =
  | 'file' // a regular file
  | 'config' // %config: replaced on upgrade, the old copy saved as .rpmsave
  | 'config-noreplace' // %config(noreplace): a local edit survives upgrades (.rpmnew beside it)
  | 'dir' // %dir: an owned directory
  | 'symlink' // a symbolic link; `target` says where it points
  | 'system-unit' // a unit in %_unitdir; gets %post_systemd (or %systemd_post, see keepRunningOnUpgrade) / %preun_systemd
  | 'user-unit' // a unit in %_userunitdir
  | 'drop-in'; // a unit drop-in (<unit>.d/<name>.conf)

/** A man page section we ship pages in: 1 for commands on PATH, 8 for administrative programs. */
export type ManSection = 1 | 8;

/**
 * Where a file's bytes come from. Paths are relative to the repository root.
 * - program:  bin/<name>.ts bundled by esbuild into one Node entrypoint (with its package's
 *             modules: scripts/model/program-modules.ts). Its man pages
 *             (scripts/model/docs.ts) are in `manSection`: a command in %_bindir defaults to 1,
 *             a program anywhere else gets pages only when it declares a section (8 for the
 *             administrative programs in %_libexecdir)
 * - ejs:      a text template, rendered with the model context
 * - yaml/json: a TypeScript module whose default export is the document (or, for yaml,
 *             an array of documents when `multiDocument` is set), serialized by `yaml` / JSON.stringify
 */
export type Content =
  | { program: string; manSection?: ManSection }
  | { ejs: string; data?: Record<string, unknown> }
  | { yaml: string; multiDocument?: boolean }
  | { json: string }
  // Generated from a program's own definition (scripts/docs) and the translations (bin/po):
  | { manPage: string; language: 'en' | 'ru'; section: ManSection }
  | { completion: string }
  | { catalog: string; language: 'ru' };

export interface Entry {
  /** Installed path, starting with a root macro such as `%_bindir` or with `/`. */
  path: string;
  kind: EntryKind;
  /** Permission bits, e.g. 0o755. Ignored by rpm for symlinks but still declared. */
  mode: number;
  owner: string;
  group: string;
  /** For everything but dirs and symlinks. */
  content?: Content;
  /** For symlinks: the link target, as installed (may use root macros). */
  target?: string;
  /**
   * For symlinks: a host may already have a directory here (made before the package was
   * installed). rpm cannot replace a directory with a symlink, so %pre moves the directory to the
   * link's target first (or aside, to `<path>.rpmsave`, when the target exists), as upstream's %pre did.
   */
  replacesDirectory?: boolean;
  /**
   * For system units: an upgrade must not restart it (%systemd_post, preset on first install
   * only, instead of %post_systemd, which also try-restarts on upgrade). u7s.service: a restart
   * restarts the whole Kubernetes node.
   */
  keepRunningOnUpgrade?: boolean;
}

export interface Dependency {
  name: string;
  /** e.g. '>=', '='; absent means any version. */
  op?: '>=' | '=' | '<=' | '>' | '<';
  /** A version or a macro such as %EVR. */
  version?: string;
}

/** A system user created by the package's %pre. */
interface UserDecl {
  name: string;
  /** Primary group; created by groupadd in the same %pre when listed in `groups`. */
  group: string;
  /** Home directory, with a root macro (`%_localstatedir/...`), as the spec writes it. */
  home: string;
  supplementaryGroups: string[];
  comment: string;
}

export interface PackageDecl {
  /** Full package name: 'podsec' or 'podsec-<suffix>'. */
  name: string;
  summary: string;
  description: string;
  group: string;
  requires: Dependency[];
  /** System groups created by %pre (groupadd -r -f). */
  groups: string[];
  /** System users created by %pre (useradd -r -M), after the groups. */
  users: UserDecl[];
  entries: Entry[];
  /** Programs outside our packages that this package's units start (each provider must be required). */
  externalPrograms?: ExternalPath[];
}

export interface ExternalPath {
  path: string;
  /** The package that provides it on an ALT node (must be required by the package that uses it). */
  providedBy: string;
  /**
   * The owner is always there, or ALT's rpm-build adds the requirement on it by itself
   * (files.req: a package installing into a directory requires the directory's owner).
   */
  autoRequired?: boolean;
}

export interface ProjectModel {
  packages: PackageDecl[];
  /** Directories outside our packages that our paths live in, with the package that owns them. */
  externalDirs: ExternalPath[];
  /** Programs outside our packages that any unit starts (packages can also list their own). */
  externalPrograms: ExternalPath[];
}
