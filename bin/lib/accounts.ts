/**
 * Local accounts, read as data from the tree's own files (under --root those decide, not the
 * host's; no NSS, no `id` parsing): /etc/passwd, /etc/group, /etc/subuid, /etc/subgid and
 * login.defs, each read through safe-fs as a regular file of bounded size (never a FIFO or a
 * device). A symlink is followed: inside the u7s node namespace rootlesskit's copy-up of /etc
 * makes every entry one, and /etc is root's. Changed only with
 * the shadow tools (groupadd, useradd, usermod, userdel, chpasswd) and `--prefix ROOT` when the
 * tree is not /. Names were validated before they get here, and `--` ends the options of every
 * tool, so no name can become an option.
 */
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError } from './command.ts';
import { translator } from './i18n.ts';
import { run, runOrFail, type RunAs } from './proc.ts';
import { readRegularFile } from './safe-fs.ts';

const t = translator('podsec');
const MAX_ACCOUNT_FILE = 64 * 1024 * 1024;

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** A file of the tree as text; '' when it does not exist. */
function readText(root: string, file: string): string {
  try {
    return readRegularFile(realpathSync(join(root, file)), { maxBytes: MAX_ACCOUNT_FILE }).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

const records = (text: string) =>
  text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split(':'));

export function readAccounts(root: string): Account[] {
  return records(readText(root, 'etc/passwd'))
    .filter((f) => f.length >= 7 && /^\d+$/.test(f[2]!) && /^\d+$/.test(f[3]!))
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]! }));
}

export function readGroups(root: string): GroupEntry[] {
  return records(readText(root, 'etc/group'))
    .filter((f) => f.length >= 4 && /^\d+$/.test(f[2]!))
    .map((f) => ({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').filter((m) => m !== '') }));
}

export function findGroup(root: string, name: string): GroupEntry | undefined {
  return readGroups(root).find((g) => g.name === name);
}

export function findAccount(root: string, name: string): Account | undefined {
  return readAccounts(root).find((a) => a.name === name);
}

export function groupGid(root: string, name: string): number | undefined {
  return findGroup(root, name)?.gid;
}

/** The gid of a group that must exist; otherwise exit 1, naming what creates it when `hint` says. */
export function requireGroup(root: string, name: string, hint?: string): number {
  const gid = groupGid(root, name);
  if (gid !== undefined) return gid;
  const file = join(root, 'etc/group');
  throw new CommandError(
    hint === undefined
      ? t('the group {group} does not exist in {file}', { group: name, file })
      : t('the group {group} does not exist in {file}; {hint}', { group: name, file, hint }),
    1,
  );
}

export function membersOf(root: string, group: string): string[] {
  return findGroup(root, group)?.members ?? [];
}

/** All group names of an account: its primary group first, then the groups listing it (exact names). */
export function groupsOf(account: Account, groups: GroupEntry[]): string[] {
  const primary = groups.find((g) => g.gid === account.gid)?.name;
  const supplementary = groups.filter((g) => g.members.includes(account.name)).map((g) => g.name);
  return [...new Set([...(primary ? [primary] : []), ...supplementary])];
}

/** A numeric setting of the tree's login.defs, or `fallback` when it is not set. */
export function loginDefsNumber(root: string, key: string, fallback: number): number {
  const match = new RegExp(`^\\s*${key}\\s+(\\d+)\\s*$`, 'm').exec(readText(root, 'etc/login.defs'));
  return match ? Number(match[1]) : fallback;
}

/** Below UID_MIN (login.defs, 1000 when not set) are system accounts. */
export function isSystemAccount(root: string, account: Account): boolean {
  return account.uid < loginDefsNumber(root, 'UID_MIN', 1000);
}

/** A subordinate id range: name:start:count. */
export interface SubidRange {
  owner: string;
  start: number;
  count: number;
}

export function parseSubid(text: string): SubidRange[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(':'))
    .filter((f) => f.length === 3 && /^\d+$/.test(f[1]!) && /^\d+$/.test(f[2]!))
    .map((f) => ({ owner: f[0]!, start: Number(f[1]), count: Number(f[2]) }));
}

/** The tree's /etc/subuid or /etc/subgid as text ('' when missing). */
export const readSubidFile = (root: string, kind: 'subuid' | 'subgid') => readText(root, `etc/${kind}`);

/** Ranges of a user, matched by name or by uid as shadow does. */
export function rangesOf(ranges: SubidRange[], account: { name: string; uid: number }): SubidRange[] {
  return ranges.filter((r) => r.owner === account.name || r.owner === String(account.uid));
}

/** Whether the tree's /etc/subuid and /etc/subgid give `name` a range (rootless podman needs both). */
export function hasSubIds(root: string, name: string, uid: number): boolean {
  const has = (kind: 'subuid' | 'subgid') => {
    try {
      return rangesOf(parseSubid(readSubidFile(root, kind)), { name, uid }).some((r) => r.count > 0);
    } catch {
      return false;
    }
  };
  return has('subuid') && has('subgid');
}

/**
 * `--prefix ROOT` for the shadow tools when the tree is not / (shadow ≥ 4.9; no chroot needed).
 * The tree must have the account files the tools lock and rewrite: without them they only say
 * "cannot lock /etc/group; try again later", so the missing file is named here instead.
 */
function prefix(root: string): string[] {
  if (root === '/') return [];
  for (const file of ['etc/passwd', 'etc/group']) {
    if (!existsSync(join(root, file)))
      throw new CommandError(
        t('{file} is missing under --root {root}: the tree needs /etc/passwd and /etc/group to hold accounts', { file: `/${file}`, root }),
        1,
      );
  }
  return ['--prefix', root];
}

/** groupadd -r -f: a system group, and no error when it exists already. */
export async function addSystemGroup(root: string, name: string): Promise<void> {
  await runOrFail(t('create the group {group}', { group: name }), 'groupadd', [...prefix(root), '-r', '-f', '--', name]);
}

/** Creates the account with a home; primary group `group` (useradd's default when not given), supplementary `groups`. */
export async function createUser(root: string, name: string, group: string | undefined, groups: string[], comment?: string): Promise<Account> {
  await runOrFail(t('create the user {user}', { user: name }), 'useradd', [
    ...prefix(root),
    '-m',
    ...(group === undefined ? [] : ['-g', group]),
    ...(groups.length ? ['-G', groups.join(',')] : []),
    ...(comment === undefined ? [] : ['-c', comment]),
    '--',
    name,
  ]);
  const account = findAccount(root, name);
  if (!account) throw new CommandError(t('useradd did not create {user} in {file}', { user: name, file: join(root, 'etc/passwd') }), 1);
  return account;
}

/** Adds an existing account to supplementary groups (a reconfigured maker must be in podman_dev). */
export async function addToGroups(root: string, name: string, groups: string[]): Promise<void> {
  if (groups.length === 0) return;
  await runOrFail(t('add {user} to {groups}', { user: name, groups: groups.join(',') }), 'usermod', [
    ...prefix(root),
    '-a',
    '-G',
    groups.join(','),
    '--',
    name,
  ]);
}

/** Removes an account this run created (a failed run leaves no half-made account behind). */
export async function removeUser(root: string, name: string): Promise<void> {
  await run('userdel', [...prefix(root), '-r', '--', name]);
}

/**
 * Sets the password. On the real system chpasswd goes through PAM (the system's hashing and
 * quality rules); in another tree PAM is not usable, so the password is hashed (SHA-512 crypt,
 * openssl passwd -6) and written with chpasswd -e -R. Either way it travels only through stdin.
 */
export async function setPassword(root: string, name: string, password: string): Promise<void> {
  if (password === '' || /[\n\r]/.test(password)) throw new CommandError(t('the password for {user} is empty or has a line break', { user: name }), 1);
  const what = t('set the password of {user}', { user: name });
  if (root === '/') {
    await runOrFail(what, 'chpasswd', [], { input: `${name}:${password}\n` });
    return;
  }
  const hashed = await runOrFail(what, 'openssl', ['passwd', '-6', '-stdin'], { input: `${password}\n` });
  const hash = hashed.stdout.trim();
  if (!/^\$6\$[^:\n]+$/.test(hash)) throw new CommandError(t('{what}: openssl gave no SHA-512 crypt hash', { what }), 1);
  await runOrFail(what, 'chpasswd', ['-e', '-R', root], { input: `${name}:${hash}\n` });
}

/** How a child process runs as `account`: its home as this process sees it (under the tree). */
export function runAs(root: string, account: Account): RunAs {
  return { name: account.name, uid: account.uid, gid: account.gid, home: join(root, account.home) };
}
