/**
 * Entries every command gets without anyone writing them: its man pages (en, ru), its bash
 * completion, and its package's Russian message catalog. Derived from the package model, so a
 * new program in %_bindir is documented and completed by construction. A program elsewhere (the
 * administrative programs in %_libexecdir) gets man pages in the section its declaration names
 * (`manSection`, usually 8) and no completion: it is not on PATH. A program declaring no section
 * outside %_bindir (a shim standing in for a system command, such as u7s's systemctl) gets neither.
 */
import { posix } from 'node:path';
import { file } from './entries.ts';
import { hasPrograms } from './program-modules.ts';
import type { Entry, ExternalPath, ManSection, PackageDecl, ProjectModel } from './types.ts';

/** Packages with a text domain of their own (the domain is the package name, as upstream). */
export const TEXT_DOMAINS = ['podsec', 'podsec-k8s', 'podsec-k8s-rbac', 'podsec-inotify'];

export const COMPLETIONS_DIR = '%_datadir/bash-completion/completions';

/** Where generated entries go; ALT's filesystem and rpm-build take care of their owners. */
export const DOC_DIRS: ExternalPath[] = [
  { path: '%_mandir/ru', providedBy: 'filesystem', autoRequired: true },
  { path: '%_mandir/ru/man1', providedBy: 'filesystem', autoRequired: true },
  { path: '%_mandir/ru/man8', providedBy: 'filesystem', autoRequired: true },
  { path: '%_localedir/ru', providedBy: 'filesystem', autoRequired: true },
  { path: '%_localedir/ru/LC_MESSAGES', providedBy: 'filesystem', autoRequired: true },
  { path: '%_datadir/bash-completion', providedBy: 'bash-completion', autoRequired: true },
  { path: COMPLETIONS_DIR, providedBy: 'bash-completion', autoRequired: true },
];

/** The installed paths of a page: `%_man<N>dir/<name>.<N>.xz` and its Russian twin. */
function manPagePaths(name: string, section: ManSection): Record<'en' | 'ru', string> {
  return { en: `%_man${section}dir/${name}.${section}.xz`, ru: `%_mandir/ru/man${section}/${name}.${section}.xz` };
}

/** The section of a program entry's man pages, or undefined when it has none (see the header). */
function manSectionOf(entry: Entry): ManSection | undefined {
  if (!entry.content || !('program' in entry.content)) return undefined;
  return entry.content.manSection ?? (entry.path.startsWith('%_bindir/') ? 1 : undefined);
}

/** A documented program of the model: its installed path, bundle name and generated files. */
interface DocumentedProgram {
  /** The command name (the basename of its installed path), which is also its pages' name. */
  name: string;
  /** Installed path of the program itself. */
  path: string;
  /** The bundled program (bin/<program>.ts). */
  program: string;
  section: ManSection;
  /** Installed paths of its pages. */
  pages: Record<'en' | 'ru', string>;
  /** Installed path of its bash completion: only a command on PATH (%_bindir) has one. */
  completion?: string;
}

/** What a program entry gets documented as, or undefined for an entry that is no documented program. */
function documentationOf(entry: Entry): DocumentedProgram | undefined {
  const section = manSectionOf(entry);
  if (section === undefined || !entry.content || !('program' in entry.content)) return undefined;
  const name = posix.basename(entry.path);
  return {
    name,
    path: entry.path,
    program: entry.content.program,
    section,
    pages: manPagePaths(name, section),
    ...(entry.path.startsWith('%_bindir/') ? { completion: `${COMPLETIONS_DIR}/${name}` } : {}),
  };
}

/** Every program of a model that has man pages, in model order. */
export function documentedPrograms(model: ProjectModel): DocumentedProgram[] {
  return model.packages.flatMap((p) => p.entries).flatMap((entry) => documentationOf(entry) ?? []);
}

function commandDocs(entry: Entry): Entry[] {
  const docs = documentationOf(entry);
  if (!docs) return [];
  const { program, section } = docs;
  return [
    file(docs.pages.en, { manPage: program, language: 'en', section }),
    file(docs.pages.ru, { manPage: program, language: 'ru', section }),
    ...(docs.completion ? [file(docs.completion, { completion: program })] : []),
  ];
}

function withDocs(pkg: PackageDecl): PackageDecl {
  const docs = pkg.entries.flatMap(commandDocs);
  const catalog =
    hasPrograms(pkg) && TEXT_DOMAINS.includes(pkg.name) ? [file(`%_localedir/ru/LC_MESSAGES/${pkg.name}.mo`, { catalog: pkg.name, language: 'ru' })] : [];
  return { ...pkg, entries: [...pkg.entries, ...docs, ...catalog] };
}

export function withGeneratedDocs(model: ProjectModel): ProjectModel {
  return { ...model, packages: model.packages.map(withDocs), externalDirs: [...model.externalDirs, ...DOC_DIRS] };
}
