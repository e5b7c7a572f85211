/**
 * What podsec-inotify-check-policy checks, as a pure-ish function of a file tree: the containers
 * policy of root and of every podman user, read as data through bin/lib/containers-policy.ts
 * (strict parsing: a malformed file is a finding, never "OK" as upstream), and their accounts.
 *
 * Files in users' directories are read without following a symlink out of the user's own config
 * directory (a user can't make root read /etc/shadow into a message), and parse errors are reported
 * by position only.
 */
import { lstatSync, readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { parsePolicy, parseRegistriesD, PolicySyntaxError, lookasideFor, type ContainersPolicy, type RegistriesD } from '../lib/containers-policy.ts';
import { PODMAN_DEV_GROUP, PODMAN_GROUP, REGISTRY_HOST, SIGSTORE_HOST, SIGSTORE_PORT } from '../lib/names.ts';
import { groupsOf, readAccounts, readGroups, type Account } from '../lib/accounts.ts';
import { runSync } from '../lib/proc.ts';
import { readRegularFile, UnsafePathError } from '../lib/safe-fs.ts';

const EXPECTED_LOOKASIDE = `http://${SIGSTORE_HOST}:${SIGSTORE_PORT}/sigstore/`;
const WHEEL_GROUP = 'wheel';
const MAX_CONFIG_BYTES = 1 << 20;

interface Subject {
  user: string;
  account?: Account;
  groups: string[];
  /** The directory whose policy.json and registries.d apply. */
  configDir: string;
  /** Whether configDir is the user's own ~/.config/containers (else /etc/containers). */
  own: boolean;
  hasImages: boolean;
}

export interface Finding {
  code: number;
  weight: number;
  users: string[];
  /** English msgid of the finding, used after `Users "a" "b" `. */
  text: string;
  /** Per-user details (registry names, file positions), already JSON-quoted where they are data. */
  details: string[];
}

const podmanOnly = (s: Subject) => s.groups.includes(PODMAN_GROUP) && !s.groups.includes(PODMAN_DEV_GROUP);
const isMaker = (s: Subject) => s.groups.includes(PODMAN_DEV_GROUP);

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads a config file. A symlink is followed only if its target stays inside `within` (the
 * timestamped history scheme links policy.json to policy_<time> in the same directory).
 */
function readConfig(path: string, within: string, shown = path): string | undefined {
  let real: string;
  try {
    real = realpathSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PolicySyntaxError(shown, '', 'cannot be read');
  }
  const rel = relative(realpathSync(within), real);
  if (rel.startsWith('..') || rel === '') throw new PolicySyntaxError(shown, '', 'is a symlink out of its directory');
  try {
    return readRegularFile(real, { maxBytes: MAX_CONFIG_BYTES }).toString('utf8');
  } catch (error) {
    const refusal = error instanceof UnsafePathError ? error.refusal : undefined;
    if (refusal === 'not-regular') throw new PolicySyntaxError(shown, '', 'is not a regular file');
    if (refusal === 'too-large') throw new PolicySyntaxError(shown, '', 'is too large');
    throw error;
  }
}

/**
 * The last parse of each config file, by its text: the watching daemon evaluates the tree at every
 * change, and all files but one are then as they were. A parse is a function of the text and the
 * name shown alone, and its result is only read, so it is reused while the text is the same.
 */
const lastParse = new Map<string, { parse: unknown; text: string; value: unknown }>();

function parseOnce<T>(parse: (text: string, shown: string) => T, text: string, shown: string): T {
  const last = lastParse.get(shown);
  if (last?.parse === parse && last.text === text) return last.value as T;
  const value = parse(text, shown);
  lastParse.set(shown, { parse, text, value });
  return value;
}

interface SubjectConfig {
  policy?: ContainersPolicy;
  registries: RegistriesD;
  error?: string;
}

/** policy.json and the merged registries.d/*.yaml of a config dir (containers/image: the user's dir replaces the system's). */
export function loadSubjectConfig(root: string, subject: Subject): SubjectConfig {
  const systemDir = join(root, 'etc/containers');
  const policyDir = subject.own && exists(join(subject.configDir, 'policy.json')) ? subject.configDir : systemDir;
  const registriesDir =
    subject.own && exists(join(subject.configDir, 'registries.d')) ? join(subject.configDir, 'registries.d') : join(systemDir, 'registries.d');
  const shown = (p: string) => `/${relative(root, p)}`;
  try {
    const policyText = readConfig(join(policyDir, 'policy.json'), policyDir, shown(join(policyDir, 'policy.json')));
    if (policyText === undefined) return { registries: {}, error: `${JSON.stringify(shown(join(policyDir, 'policy.json')))} is missing` };
    const policy = parseOnce(parsePolicy, policyText, shown(join(policyDir, 'policy.json')));
    const registries: RegistriesD = {};
    let names: string[] = [];
    try {
      names = readdirSync(registriesDir)
        .filter((n) => n.endsWith('.yaml'))
        .sort();
    } catch {
      names = [];
    }
    for (const name of names) {
      const text = readConfig(join(registriesDir, name), registriesDir, shown(join(registriesDir, name)));
      if (text === undefined) continue;
      const parsed = parseOnce(parseRegistriesD, text, shown(join(registriesDir, name)));
      if (parsed['default-docker']) {
        if (registries['default-docker']) throw new PolicySyntaxError(shown(join(registriesDir, name)), '', 'a second default-docker');
        registries['default-docker'] = parsed['default-docker'];
      }
      for (const [scope, value] of Object.entries(parsed.docker ?? {})) {
        registries.docker ??= {};
        if (registries.docker[scope]) throw new PolicySyntaxError(shown(join(registriesDir, name)), '', `a second entry for ${JSON.stringify(scope)}`);
        registries.docker[scope] = value;
      }
    }
    return { policy, registries };
  } catch (error) {
    if (error instanceof PolicySyntaxError) {
      // Position only: the parser's reason may quote file content a user pointed us at.
      return {
        registries: {},
        error:
          `${JSON.stringify(error.file)}${error.where ? `:${error.where}` : ''}` +
          ` ${error.message.includes('not valid JSON') ? 'is not valid JSON' : error.message.slice(error.message.lastIndexOf(': ') + 2)}`,
      };
    }
    return { registries: {}, error: (error as Error).message };
  }
}

export function subjects(root: string): Subject[] {
  const accounts = readAccounts(root);
  const groups = readGroups(root);
  const rootAccount = accounts.find((a) => a.uid === 0);
  const list: Subject[] = [
    {
      user: 'root',
      account: rootAccount,
      groups: rootAccount ? groupsOf(rootAccount, groups) : ['root'],
      configDir: join(root, 'etc/containers'),
      own: false,
      hasImages: true,
    },
  ];
  for (const account of accounts) {
    if (account.uid === 0 || !account.home.startsWith('/') || account.home === '/') continue;
    const home = join(root, account.home);
    const accountGroups = groupsOf(account, groups);
    const hasImages = exists(join(home, '.local/share/containers/storage'));
    if (!accountGroups.includes(PODMAN_GROUP) && !accountGroups.includes(PODMAN_DEV_GROUP) && !hasImages) continue;
    const configDir = join(home, '.config/containers');
    list.push({ user: account.name, account, groups: accountGroups, configDir, own: exists(configDir), hasImages });
  }
  return list;
}

function immutable(path: string): boolean | undefined {
  const r = runSync('lsattr', ['-d', '--', path], { timeoutMs: 10_000 });
  if (r.status !== 0) return undefined;
  return /^\S*i\S*\s/.test(r.stdout);
}

/** Why a file or directory of the trust configuration can be changed by someone other than root, or undefined. */
function notRootOnly(st: Stats): string | undefined {
  if (st.uid !== 0) return `owned by uid ${st.uid}`;
  if (st.mode & 0o002) return 'writable by everyone';
  if (st.mode & 0o020 && st.gid !== 0) return `writable by gid ${st.gid}`;
  return undefined;
}

const statOrUndefined = (path: string, follow: boolean): Stats | undefined => {
  try {
    return follow ? statSync(path) : lstatSync(path);
  } catch {
    return undefined;
  }
};

/**
 * The system trust configuration that users must not be able to change: /etc/containers, policy.json
 * and the policy_<time> file it links to, registries.d and its files (and their link targets).
 */
function unsafeSystemConfig(root: string): string[] {
  const dir = join(root, 'etc/containers');
  const paths = [dir, join(dir, 'policy.json'), join(dir, 'registries.d')];
  try {
    for (const name of readdirSync(join(dir, 'registries.d')).sort()) paths.push(join(dir, 'registries.d', name));
  } catch {
    // no registries.d: nothing more to check
  }
  const problems: string[] = [];
  for (const path of paths) {
    const target = statOrUndefined(path, true);
    const reason = target && notRootOnly(target);
    if (!reason) continue;
    const real = realpathSync(path);
    const shown = JSON.stringify(`/${relative(root, path)}`) + (real === path ? '' : ` -> ${JSON.stringify(`/${relative(root, real)}`)}`);
    problems.push(`${shown} ${reason}`);
  }
  return problems;
}

type KeyProblem = { kind: 'missing' | 'changeable' | 'open-directory'; detail: string };

/** A key file a policy names: missing, changeable by a user, or in a directory a user can write (such as /tmp). */
function keyFileProblem(root: string, keyPath: string): KeyProblem | undefined {
  const path = join(root, isAbsolute(keyPath) ? keyPath : `/${keyPath}`);
  const shown = JSON.stringify(keyPath);
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const st = statOrUndefined(dir, false);
    const reason = st?.isDirectory() ? notRootOnly(st) : undefined;
    if (reason) return { kind: 'open-directory', detail: `${shown}: ${JSON.stringify(`/${relative(root, dir)}`)} ${reason}` };
    if (dir === root || dir === dirname(dir)) break;
  }
  const target = statOrUndefined(path, true);
  if (!target) return { kind: 'missing', detail: shown };
  const reason = notRootOnly(target);
  return reason ? { kind: 'changeable', detail: `${shown} ${reason}` } : undefined;
}

function keyPathsOf(policy: ContainersPolicy): string[] {
  const paths = new Set<string>();
  for (const requirements of [policy.default, ...Object.values(policy.transports ?? {}).flatMap((scopes) => Object.values(scopes))]) {
    for (const r of requirements) {
      if (r.type !== 'signedBy' && r.type !== 'sigstoreSigned') continue;
      for (const path of [r.keyPath, ...(r.keyPaths ?? [])]) if (path) paths.add(path);
    }
  }
  return [...paths].sort();
}

/** All findings for the tree, in code order. Users are listed in subject order. */
export function evaluate(root: string): Finding[] {
  const list = subjects(root);
  const found = new Map<number, Finding>();
  const add = (code: number, weight: number, user: string, text: string, detail?: string) => {
    const f = found.get(code) ?? { code, weight, users: [], text, details: [] };
    if (!f.users.includes(user)) f.users.push(user);
    if (detail) f.details.push(`${JSON.stringify(user)}: ${detail}`);
    found.set(code, f);
  };
  for (const s of list) {
    if (s.user !== 'root' && s.hasImages && !s.groups.includes(PODMAN_GROUP) && !isMaker(s))
      add(101, 101, s.user, 'have images but are not in the podman group');
    if (s.user !== 'root' && podmanOnly(s) && s.groups.includes(WHEEL_GROUP)) add(107, 107, s.user, 'are in the podman group and in the wheel group');
    const config = loadSubjectConfig(root, s);
    if (config.error || !config.policy) {
      add(100, 200, s.user, 'have a containers policy that cannot be used', config.error);
      continue;
    }
    const policy = config.policy;
    for (const keyPath of keyPathsOf(policy)) {
      const problem = keyFileProblem(root, keyPath);
      if (problem?.kind === 'changeable') add(111, 200, s.user, 'have a policy that trusts a key file a user can change', problem.detail);
      if (problem?.kind === 'open-directory') add(112, 200, s.user, 'have a policy that trusts a key file in a directory a user can write', problem.detail);
      if (problem?.kind === 'missing') add(113, 100, s.user, 'have a policy that names a missing key file', problem.detail);
    }
    if (!isMaker(s)) {
      const defaultType = policy.default[0]?.type;
      if (policy.default.length !== 1 || defaultType !== 'reject')
        add(
          102,
          102,
          s.user,
          'have defaultPolicy!=reject in policy.json but are not in the podman_dev group',
          JSON.stringify(policy.default.map((r) => r.type).join(',')),
        );
      const docker = policy.transports?.docker ?? {};
      const local = docker[REGISTRY_HOST];
      if (!local || !local.every((r) => r.type === 'signedBy' || r.type === 'sigstoreSigned'))
        add(103, 103, s.user, 'do not require signatures for registry.local in policy.json');
      const unsigned = Object.entries(docker)
        .filter(([, reqs]) => reqs.some((r) => r.type === 'insecureAcceptAnything'))
        .map(([scope]) => JSON.stringify(scope));
      if (unsigned.length > 0) add(104, 104, s.user, 'have registries that do not require signatures in policy.json', unsigned.join(' '));
      const transports = Object.entries(policy.transports ?? {})
        .filter(([name, scopes]) => name !== 'docker' && Object.values(scopes).some((reqs) => reqs.some((r) => r.type !== 'reject')))
        .map(([name]) => JSON.stringify(name));
      if (transports.length > 0) add(105, 105, s.user, 'have transports other than docker in policy.json', transports.join(' '));
    }
    const lookaside = lookasideFor(config.registries, `${REGISTRY_HOST}/podsec/probe:latest`);
    if (lookaside !== EXPECTED_LOOKASIDE)
      add(106, 106, s.user, `have a lookaside for registry.local other than ${EXPECTED_LOOKASIDE}`, JSON.stringify(lookaside ?? null));
  }
  for (const problem of unsafeSystemConfig(root)) add(110, 200, 'root', 'have a system trust configuration that a user can change', problem);
  const plain = list.filter((s) => s.user !== 'root' && podmanOnly(s));
  if (plain.length > 0) {
    const noStorageConf = plain.filter((s) => !exists(join(s.configDir, 'storage.conf')));
    const writable = plain.filter((s) => s.own && immutable(s.configDir) !== true);
    const share = (n: number) => Math.floor((90 * n) / plain.length);
    for (const s of noStorageConf) add(108, share(noStorageConf.length), s.user, 'do not have config file .config/containers/storage.conf');
    for (const s of writable) add(109, share(writable.length), s.user, 'can change their .config/containers directory (it is not immutable)');
  }
  return [...found.values()].sort((a, b) => a.code - b.code);
}

/** Directories whose changes can change the findings (watched by the daemon). */
export function watchedDirs(root: string): string[] {
  const dirs = new Set<string>([join(root, 'etc'), join(root, 'etc/containers'), join(root, 'etc/containers/registries.d'), join(root, 'home')]);
  for (const s of subjects(root)) {
    if (s.user === 'root' || !s.account) continue;
    const home = join(root, s.account.home);
    for (const d of [home, join(home, '.config'), s.configDir, join(s.configDir, 'registries.d'), join(home, '.local/share/containers')]) dirs.add(d);
  }
  return [...dirs].filter(exists).sort();
}
