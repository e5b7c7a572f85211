/**
 * Entries every command gets without anyone writing them: its man pages (en, ru), its bash
 * completion, and its package's Russian message catalog. Derived from the package model, so a
 * new program in %_bindir is documented and completed by construction.
 */
import { posix } from 'node:path';
import { file } from './entries.ts';
import type { Entry, ExternalPath, PackageDecl, ProjectModel } from './types.ts';

/** Packages with a text domain of their own (the domain is the package name, as upstream). */
export const TEXT_DOMAINS = ['podsec', 'podsec-k8s', 'podsec-k8s-rbac', 'podsec-inotify'];

export const COMPLETIONS_DIR = '%_datadir/bash-completion/completions';

/** Where generated entries go; ALT's filesystem and rpm-build take care of their owners. */
export const DOC_DIRS: ExternalPath[] = [
  { path: '%_mandir/ru', providedBy: 'filesystem', autoRequired: true },
  { path: '%_mandir/ru/man1', providedBy: 'filesystem', autoRequired: true },
  { path: '%_localedir/ru', providedBy: 'filesystem', autoRequired: true },
  { path: '%_localedir/ru/LC_MESSAGES', providedBy: 'filesystem', autoRequired: true },
  { path: '%_datadir/bash-completion', providedBy: 'bash-completion', autoRequired: true },
  { path: COMPLETIONS_DIR, providedBy: 'bash-completion', autoRequired: true },
];

function commandDocs(entry: Entry): Entry[] {
  if (!entry.content || !('program' in entry.content) || !entry.path.startsWith('%_bindir/')) return [];
  const program = entry.content.program;
  const command = posix.basename(entry.path);
  return [
    file(`%_man1dir/${command}.1.xz`, { manPage: program, language: 'en' }),
    file(`%_mandir/ru/man1/${command}.1.xz`, { manPage: program, language: 'ru' }),
    file(`${COMPLETIONS_DIR}/${command}`, { completion: program }),
  ];
}

function withDocs(pkg: PackageDecl): PackageDecl {
  const docs = pkg.entries.flatMap(commandDocs);
  const hasPrograms = pkg.entries.some((e) => e.content && 'program' in e.content);
  const catalog =
    hasPrograms && TEXT_DOMAINS.includes(pkg.name)
      ? [file(`%_localedir/ru/LC_MESSAGES/${pkg.name}.mo`, { catalog: pkg.name, language: 'ru' })]
      : [];
  return { ...pkg, entries: [...pkg.entries, ...docs, ...catalog] };
}

export function withGeneratedDocs(model: ProjectModel): ProjectModel {
  return { ...model, packages: model.packages.map(withDocs), externalDirs: [...model.externalDirs, ...DOC_DIRS] };
}
