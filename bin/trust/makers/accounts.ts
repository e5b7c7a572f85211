/**
 * Accounts of image makers and podman users: read from the tree's own /etc/passwd and /etc/group
 * (under --root those decide, not the host's), created with useradd, given a password with
 * chpasswd, removed again with userdel when a run fails half way. Names were validated before they
 * get here, and `--` ends the options of every tool, so no name can become an option.
 */
import { join } from 'node:path';
import { CommandError } from '../../lib/command.ts';
import { translator } from '../../lib/i18n.ts';
import { findAccount, readGroups, type Account } from '../../lib/accounts.ts';
import { readRegularFile } from '../../lib/safe-fs.ts';
import { run, runOrFail, type RunAs } from '../../lib/proc.ts';

const t = translator('podsec');

export type { Account };

/** `--prefix ROOT` for the shadow tools when the tree is not /. */
const prefix = (root: string) => (root === '/' ? [] : ['--prefix', root]);

/** UID_MIN of the tree's login.defs (1000 when it is not set): below it are system accounts. */
export function uidMin(root: string): number {
  try {
    const text = readRegularFile(join(root, 'etc/login.defs'), { maxBytes: 1024 * 1024 }).toString('utf8');
    const value = /^\s*UID_MIN\s+(\d+)\s*$/m.exec(text)?.[1];
    return value ? Number(value) : 1000;
  } catch {
    return 1000;
  }
}

export function isSystemAccount(root: string, account: Account): boolean {
  return account.uid < uidMin(root);
}

export function groupGid(root: string, name: string): number | undefined {
  return readGroups(root).find((g) => g.name === name)?.gid;
}

/** The gid of a group that must exist; otherwise exit 1 naming the command that creates it. */
export function requireGroup(root: string, name: string, hint: string): number {
  const gid = groupGid(root, name);
  if (gid === undefined) throw new CommandError(t('the group {group} does not exist in {file}; {hint}', { group: name, file: join(root, 'etc/group'), hint }), 1);
  return gid;
}

export function membersOf(root: string, group: string): string[] {
  return readGroups(root).find((g) => g.name === group)?.members ?? [];
}

/** groupadd -r, for podman users' group when a host has no podsec policy yet (upstream does the same). */
export async function addSystemGroup(root: string, name: string): Promise<void> {
  await runOrFail(t('create the group {group}', { group: name }), 'groupadd', [...prefix(root), '-r', '-f', '--', name]);
}

/** Creates the account with a home; primary group `group`, supplementary `groups`. */
export async function createUser(root: string, name: string, group: string, groups: string[], comment: string): Promise<Account> {
  await runOrFail(t('create the user {user}', { user: name }), 'useradd', [
    ...prefix(root),
    '-m',
    '-g',
    group,
    ...(groups.length ? ['-G', groups.join(',')] : []),
    '-c',
    comment,
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
  await runOrFail(t('add {user} to {groups}', { user: name, groups: groups.join(',') }), 'usermod', [...prefix(root), '-a', '-G', groups.join(','), '--', name]);
}

/** Removes an account this run created (a failed run leaves no half-made maker behind). */
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

/** Whether the tree's /etc/subuid and /etc/subgid give `name` a range (rootless podman needs both). */
export function hasSubIds(root: string, name: string, uid: number): boolean {
  const has = (file: string) => {
    try {
      return readRegularFile(join(root, file), { maxBytes: 16 * 1024 * 1024 })
        .toString('utf8')
        .split('\n')
        .some((line) => {
          const [owner, , count] = line.split(':');
          return (owner === name || owner === String(uid)) && Number(count) > 0;
        });
    } catch {
      return false;
    }
  };
  return has('etc/subuid') && has('etc/subgid');
}

/** How a child process runs as `account`: its home as this process sees it (under the tree). */
export function runAs(root: string, account: Account): RunAs {
  return { name: account.name, uid: account.uid, gid: account.gid, home: join(root, account.home) };
}
