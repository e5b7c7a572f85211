/**
 * Installs what a purpose of scripts/host-packages.ts needs and the host lacks: dpkg-query says
 * what is missing; as root on Debian, `apt-get update` and `apt-get install --no-install-recommends`
 * get it, after a list of the packages and why. Not root, not Debian (no dpkg-query) or
 * PODSEC_NO_INSTALL=1: the command to run (ALT names off Debian) and what goes without, and the
 * caller goes on with what there is.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { HOST_NEEDS, type HostNeed, type Purpose } from './host-packages.ts';

/** Set to 1 (or anything but 0 and empty) and nothing is installed: what is missing is only named. */
export const NO_INSTALL_ENV = 'PODSEC_NO_INSTALL';

const LABEL: Record<Purpose, string> = { build: 'npm run build', 'k8s-tools': 'npm run k8s-tools', test: 'npm test' };
const WITHOUT: Record<Purpose, string> = {
  build: 'without them the RPMs and their repository are not built; everything else is',
  'k8s-tools': 'without them the Kubernetes components cannot be built',
  test: 'without them the tests that need them are skipped (under CI=true they fail)',
};
/** apt keeps the package lists here; the tests read them too (the VM kernel, package checks). */
export const APT_LISTS = '/var/lib/apt/lists';
/** Touched after each apt-get update made here (apt leaves the lists' times at the archive's). */
const APT_UPDATE_STAMP = '/var/cache/podsec/apt-update.stamp';
/** Lists older than this are refreshed before a test run. */
const LISTS_MAX_AGE_MS = 24 * 60 * 60 * 1000;

export const installOptedOut = (env: NodeJS.ProcessEnv) => !['', '0', undefined].includes(env[NO_INSTALL_ENV]);

export interface HostFacts {
  /** dpkg-query runs here. */
  debian: boolean;
  root: boolean;
  /** PODSEC_NO_INSTALL is set. */
  optOut: boolean;
}

interface InstallPlan {
  /** `apt-get update` first. */
  update: boolean;
  /** Debian packages for `apt-get install`. */
  install: string[];
  /** What to print, in order. */
  lines: string[];
}

/** `dpkg-query -W -f '${Package}\t${db:Status-Abbrev}\t${Version}\n'` output -> installed versions ("absent" otherwise). */
export function parseDpkgQuery(output: string, packages: readonly string[]): Record<string, string> {
  const found = new Map<string, string>();
  for (const line of output.split('\n')) {
    const [name, status, version] = line.split('\t');
    if (name && status?.startsWith('ii') && version) found.set(name.replace(/:.*$/, ''), version);
  }
  return Object.fromEntries(packages.map((p) => [p, found.get(p) ?? 'absent']));
}

/**
 * The needs not met: on Debian, the packages dpkg-query does not report installed (`installed`);
 * elsewhere, the needs one of whose commands is not on PATH (needs without commands cannot be
 * checked there). A need with `unlessCommand` is met by that command on any system.
 */
export function missingNeeds(needs: readonly HostNeed[], installed: ReadonlySet<string> | undefined, onPath: (command: string) => boolean): HostNeed[] {
  return needs.filter((need) => {
    if (need.unlessCommand) return !onPath(need.unlessCommand);
    if (installed) return !installed.has(need.deb);
    return (need.commands ?? []).some((command) => !onPath(command));
  });
}

const describe = (need: HostNeed, name = need.deb) => `  ${name} — ${need.why}`;

/** What to do and say about `missing`; `listsStale`: the apt lists are absent or old (a test run refreshes them as root). */
export function planInstall(purpose: Purpose, missing: readonly HostNeed[], facts: HostFacts, listsStale = false): InstallPlan {
  const label = LABEL[purpose];
  const names = missing.map((n) => n.deb);
  const mayInstall = facts.debian && facts.root && !facts.optOut;
  if (missing.length === 0) {
    const update = mayInstall && listsStale;
    return {
      update,
      install: [],
      lines: update ? [`${label}: apt-get update (none made here in the last day, and the tests read the package lists)`] : [],
    };
  }
  if (mayInstall) {
    return {
      update: true,
      install: names,
      lines: [`${label}: installing with apt-get what it needs and this host lacks:`, ...missing.map((n) => describe(n))],
    };
  }
  if (facts.debian) {
    const reason = facts.optOut ? `${NO_INSTALL_ENV} is set` : 'not root';
    return {
      update: false,
      install: [],
      lines: [
        `${label}: this host lacks these Debian packages, not installed (${reason}):`,
        ...missing.map((n) => describe(n)),
        `  install them as root with: apt-get update && apt-get install --no-install-recommends ${names.join(' ')}`,
        `  ${WITHOUT[purpose]}`,
      ],
    };
  }
  const alt = missing.filter((n) => n.alt);
  const other = missing.filter((n) => !n.alt);
  return {
    update: false,
    install: [],
    lines: [
      `${label}: not a Debian host (no dpkg-query), nothing installed; missing:`,
      ...missing.map((n) => describe(n, n.alt ?? n.commands?.join(', ') ?? n.unlessCommand ?? n.deb)),
      ...(alt.length ? [`  on ALT, as root: apt-get install ${alt.map((n) => n.alt).join(' ')}`] : []),
      ...(other.length
        ? [`  and what gives ${other.map((n) => `${(n.commands ?? [n.unlessCommand ?? n.deb]).join(', ')} (Debian: ${n.deb})`).join('; ')}`]
        : []),
      `  ${WITHOUT[purpose]}`,
    ],
  };
}

/** An executable file named `command` in one of PATH's directories. */
function onPath(command: string, path = process.env.PATH ?? ''): boolean {
  return path.split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return statSync(join(dir, command)).isFile();
    } catch {
      return false;
    }
  });
}

/** True when the lists directory holds no package index, or no apt-get update made here is less than a day old. */
export function aptListsStale(lists = { dir: APT_LISTS, stamp: APT_UPDATE_STAMP }, now = Date.now()): boolean {
  try {
    if (!readdirSync(lists.dir).some((name) => /_Packages(\.\w+)?$/.test(name))) return true;
    return now - statSync(lists.stamp).mtimeMs > LISTS_MAX_AGE_MS;
  } catch {
    return true;
  }
}

function touch(file: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, '');
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, capture: boolean): Promise<{ code: number | null; stdout: string; missing: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', capture ? 'pipe' : 'inherit', capture ? 'pipe' : 'inherit'] });
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.resume();
    child.on('error', (error: NodeJS.ErrnoException) => resolve({ code: null, stdout, missing: error.code === 'ENOENT' }));
    child.on('close', (code) => resolve({ code, stdout, missing: false }));
  });
}

interface EnsureOptions {
  log: (line: string) => void;
  /** The environment for dpkg-query and apt-get, PATH included (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Default: the effective user is root. */
  root?: boolean;
  /** Refresh the apt lists when they are stale even if nothing is missing (the test run). */
  freshLists?: boolean;
  /** Where the lists and the update stamp are (tests). */
  lists?: { dir: string; stamp: string };
}

/**
 * Checks and, where it may, installs the needs of `purpose`; returns those still missing (an
 * apt-get that failed is reported and leaves its packages missing).
 */
export async function ensureHostPackages(purpose: Purpose, options: EnsureOptions): Promise<HostNeed[]> {
  const env = options.env ?? process.env;
  const needs = HOST_NEEDS[purpose];
  const has = (command: string) => onPath(command, env.PATH ?? '');
  const installed = async (): Promise<Set<string> | undefined> => {
    const names = needs.map((n) => n.deb);
    const result = await run('dpkg-query', ['-W', '-f', '${Package}\t${db:Status-Abbrev}\t${Version}\n', ...names], env, true);
    if (result.missing) return undefined;
    const versions = parseDpkgQuery(result.stdout, names);
    return new Set(names.filter((name) => versions[name] !== 'absent'));
  };
  const before = await installed();
  const missing = missingNeeds(needs, before, has);
  const facts: HostFacts = {
    debian: before !== undefined,
    root: options.root ?? process.geteuid?.() === 0,
    optOut: installOptedOut(env),
  };
  const plan = planInstall(purpose, missing, facts, options.freshLists === true && facts.debian && aptListsStale(options.lists));
  for (const line of plan.lines) options.log(line);
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = ['-o', 'DPkg::Lock::Timeout=600'];
  if (plan.update) {
    const update = await run('apt-get', ['update', '-q', ...lock], aptEnv, false);
    if (update.code !== 0) options.log(`${LABEL[purpose]}: apt-get update failed (exit ${update.code}); going on with the lists there are`);
    else touch(options.lists?.stamp ?? APT_UPDATE_STAMP);
  }
  if (plan.install.length === 0) return missing;
  const install = await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...lock, ...plan.install], aptEnv, false);
  if (install.code !== 0) options.log(`${LABEL[purpose]}: apt-get install failed (exit ${install.code})`);
  return missingNeeds(needs, await installed(), has);
}
