/**
 * Where a package's programs keep the code they share. The spec's %build bundles each package's
 * programs together with esbuild's code splitting (scripts/bundle.ts): every program stays one
 * file at its installed path, and the code it loads only when a command runs (a dependency such
 * as `yaml`, a command's modules) or shares with the package's other programs is in modules in
 * `%_datadir/<package>`, which the programs require by a path relative to their own.
 * Each package owns its own modules: programs of two packages share none, so a package never
 * depends on modules of another version of another package (the same code is in both).
 */
import { dir } from './entries.ts';
import type { PackageDecl, ProjectModel } from './types.ts';

/** The directory of a package's program modules (chunk-<hash>.js, 0644; made by %build). */
export const programModulesDir = (packageName: string) => `%_datadir/${packageName}`;

/** The package's programs: the bin/<program>.ts sources and their installed paths, in model order. */
export const programsOf = (pkg: PackageDecl) =>
  pkg.entries.flatMap((e) => (e.content && 'program' in e.content ? [{ program: e.content.program, path: e.path }] : []));

export const hasPrograms = (pkg: PackageDecl) => programsOf(pkg).length > 0;

/** Every package with programs owns its modules directory. */
export function withProgramModules(model: ProjectModel): ProjectModel {
  return {
    ...model,
    packages: model.packages.map((pkg) => (hasPrograms(pkg) ? { ...pkg, entries: [...pkg.entries, dir(programModulesDir(pkg.name))] } : pkg)),
  };
}

/** Where `program` is installed and the directory of its package's modules, as the model's paths (%_bindir/..., %_datadir/...). */
export function programPaths(model: ProjectModel, program: string): { path: string; modules: string } | undefined {
  for (const pkg of model.packages) {
    const found = programsOf(pkg).find((entry) => entry.program === program);
    if (found) return { path: found.path, modules: programModulesDir(pkg.name) };
  }
  return undefined;
}
