/**
 * Model validation, run before anything is written. Each problem is one line naming the path.
 */
import { posix } from 'node:path';
import { type Branch, BRANCH_MACROS, resolvePath } from './branches.ts';
import type { Entry, PackageDecl, ProjectModel } from './types.ts';

/** Accounts every ALT base system has; everything else must be created by one of our %pre scriptlets. */
export const BASE_USERS = ['root'];
export const BASE_GROUPS = ['root', 'systemd-journal'];

const UNIT_KINDS = new Set(['system-unit', 'user-unit', 'drop-in']);
const EXEC_KEY = /^\s*Exec(?:Start|StartPre|StartPost|Stop|StopPost|Reload|Condition)=\s*(.*)$/;

export interface ModelProblem {
  path: string;
  problem: string;
}

export function formatProblem(p: ModelProblem): string {
  return `model error: ${p.path}: ${p.problem}`;
}

/** The packages a package can rely on being installed before it: itself and its requires, transitively. */
export function requiresClosure(model: ProjectModel, pkg: PackageDecl): PackageDecl[] {
  const byName = new Map(model.packages.map((p) => [p.name, p]));
  const seen = new Map<string, PackageDecl>();
  const visit = (p: PackageDecl) => {
    if (seen.has(p.name)) return;
    seen.set(p.name, p);
    for (const dep of p.requires) {
      const target = byName.get(dep.name);
      if (target) visit(target);
    }
  };
  visit(pkg);
  return [...seen.values()];
}

function checkMode(entry: Entry): string | undefined {
  const { mode, kind } = entry;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) return `invalid mode ${String(mode)}`;
  const octal = mode.toString(8).padStart(4, '0');
  if (kind === 'symlink') return mode === 0o777 ? undefined : `invalid mode ${octal} for a symlink (must be 0777)`;
  if (mode & 0o7000) return `invalid mode ${octal}: setuid, setgid and sticky bits are not allowed`;
  if (mode & 0o002) return `invalid mode ${octal}: world-writable`;
  if (kind === 'dir') {
    // A directory one may read but not search is a broken directory (sisyphus_check 140).
    for (const shift of [6, 3, 0]) {
      const bits = (mode >> shift) & 7;
      if (bits & 4 && !(bits & 1)) return `invalid mode ${octal} for a directory: readable but not searchable`;
    }
  }
  return undefined;
}

function checkShape(entry: Entry): string | undefined {
  const raw = entry.path;
  if (raw.endsWith('/') || raw.includes('//') || raw.split('/').some((part) => part === '..' || part === '.')) {
    return 'path is not normalized';
  }
  if (entry.kind === 'symlink') return entry.target ? undefined : 'symlink without a target';
  if (entry.kind === 'dir') return entry.content ? 'a directory cannot have content' : undefined;
  return entry.content ? undefined : `${entry.kind} without content`;
}

/** Programs named by Exec*= lines of a unit, without systemd's prefix characters. */
export function unitPrograms(unitText: string): string[] {
  const programs: string[] = [];
  for (const line of unitText.split('\n')) {
    const match = EXEC_KEY.exec(line);
    if (!match?.[1]) continue;
    const first = match[1].trim().split(/\s+/)[0] ?? '';
    programs.push(first.replace(/^[-@:+!|]+/, ''));
  }
  return programs;
}

/** `%_datadir/podsec/functions` → `%_datadir/podsec`, `/etc/x` → `/etc`; undefined for a bare macro or `/`. */
function parentDirectory(path: string): string | undefined {
  const slash = path.lastIndexOf('/');
  if (slash < 0) return undefined;
  return slash === 0 ? (path === '/' ? undefined : '/') : path.slice(0, slash);
}

/**
 * The directory-ownership rule: an installed path's parent must be a directory that some package
 * owns, or one the base system or a required package provides (`owned` says which). Applied to
 * the model here and to the generated spec's %files by the lint (scripts/lint/rules.ts), so a
 * spec template that drifts from the model is caught too. Returns the parent when it is unowned.
 */
export function unownedParent(path: string, owned: (dir: string) => boolean): string | undefined {
  const parent = parentDirectory(path);
  return parent === undefined || owned(parent) ? undefined : parent;
}

export interface ValidateOptions {
  branch: Branch;
  /** The rendered text of a unit entry (to find the programs it starts). */
  unitText: (entry: Entry) => Promise<string>;
}

export async function validateModel(model: ProjectModel, options: ValidateOptions): Promise<ModelProblem[]> {
  const problems: ModelProblem[] = [];
  const { branch } = options;
  const resolve = (path: string): string | undefined => {
    try {
      return resolvePath(path, branch);
    } catch (error) {
      problems.push({ path, problem: (error as Error).message });
      return undefined;
    }
  };

  // Where each resolved path is declared, to find duplicates and owned directories.
  const owners = new Map<string, { pkg: PackageDecl; entry: Entry }[]>();
  for (const pkg of model.packages) {
    for (const entry of pkg.entries) {
      const resolved = resolve(entry.path);
      if (resolved === undefined) continue;
      const list = owners.get(resolved) ?? [];
      list.push({ pkg, entry });
      owners.set(resolved, list);
    }
  }
  for (const [path, list] of owners) {
    if (list.length < 2) continue;
    const names = list.map((o) => o.pkg.name);
    const problem = new Set(names).size === 1 ? `declared twice in ${names[0]}` : `declared in two packages: ${[...new Set(names)].join(', ')}`;
    problems.push({ path, problem });
  }

  const rootDirs = new Set(Object.values(BRANCH_MACROS[branch]));
  const programPaths = new Set([...owners].filter(([, list]) => list.some((o) => o.entry.kind === 'file')).map(([path]) => path));
  const externalPrograms = new Map(
    [...model.externalPrograms, ...model.packages.flatMap((p) => p.externalPrograms ?? [])].map((p) => [resolvePath(p.path, branch), p.providedBy]),
  );
  const externalDirs = new Map(model.externalDirs.map((d) => [resolvePath(d.path, branch), d]));
  const ownedDirs = new Set([...owners].filter(([, list]) => list.some((o) => o.entry.kind === 'dir')).map(([path]) => path));

  for (const pkg of model.packages) {
    const closure = requiresClosure(model, pkg);
    const closureNames = new Set(closure.map((p) => p.name));
    const requiredNames = new Set([...closure.flatMap((p) => p.requires.map((d) => d.name)), ...closureNames]);
    const users = new Set([...BASE_USERS, ...closure.flatMap((p) => p.users.map((u) => u.name))]);
    const groups = new Set([...BASE_GROUPS, ...closure.flatMap((p) => [...p.groups, ...p.users.map((u) => u.group)])]);

    for (const user of pkg.users) {
      for (const group of [user.group, ...user.supplementaryGroups]) {
        if (!groups.has(group)) problems.push({ path: user.home, problem: `user ${user.name}: group ${group} is created by no scriptlet` });
      }
    }

    for (const entry of pkg.entries) {
      const path = resolve(entry.path);
      if (path === undefined) continue;
      const shape = checkShape(entry);
      if (shape) problems.push({ path, problem: shape });
      const mode = checkMode(entry);
      if (mode) problems.push({ path, problem: mode });
      if (!users.has(entry.owner)) {
        problems.push({ path, problem: `owner ${entry.owner} is created by no scriptlet of ${pkg.name} or its requirements` });
      }
      if (!groups.has(entry.group)) {
        problems.push({ path, problem: `group ${entry.group} is created by no scriptlet of ${pkg.name} or its requirements` });
      }

      const parent = posix.dirname(path);
      const unowned = unownedParent(path, (dir) => ownedDirs.has(dir) || externalDirs.has(dir) || rootDirs.has(dir));
      if (unowned !== undefined) problems.push({ path, problem: `parent directory ${unowned} is owned by no package` });
      // An owned parent must also be there before this package is: owned within its requirements.
      const parentOwners = owners.get(parent)?.filter((o) => o.entry.kind === 'dir') ?? [];
      const external = externalDirs.get(parent);
      if (parentOwners.length > 0) {
        if (!parentOwners.some((o) => closureNames.has(o.pkg.name))) {
          problems.push({ path, problem: `parent ${parent} is owned by ${parentOwners[0]!.pkg.name}, which ${pkg.name} does not require` });
        }
      } else if (external !== undefined) {
        if (!external.autoRequired && !requiredNames.has(external.providedBy)) {
          problems.push({ path, problem: `parent ${parent} comes from ${external.providedBy}, which ${pkg.name} does not require` });
        }
      }

      if (entry.kind === 'symlink' && entry.target) {
        const target = entry.target.startsWith('/') || entry.target.startsWith('%') ? resolve(entry.target) : posix.join(parent, entry.target);
        const targetOwners = target === undefined ? [] : (owners.get(target) ?? []);
        if (target !== undefined && !targetOwners.some((o) => closureNames.has(o.pkg.name))) {
          problems.push({ path, problem: `symlink target ${target} is installed by no package ${pkg.name} can rely on` });
        }
      }

      if (UNIT_KINDS.has(entry.kind) && entry.content) {
        for (const programPath of unitPrograms(await options.unitText(entry))) {
          if (!programPath.startsWith('/')) {
            problems.push({ path, problem: `unit starts ${programPath}, which is not an absolute path` });
          } else if (!programPaths.has(programPath) && !externalPrograms.has(programPath)) {
            problems.push({ path, problem: `unit starts ${programPath}, which no package installs` });
          }
        }
      }
    }
  }
  return problems;
}
