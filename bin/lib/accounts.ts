/**
 * Local accounts read from <root>/etc/passwd and <root>/etc/group as data (no NSS, no `id`
 * parsing): a user's home, uid, gid and groups. Used by every program that looks up users.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function lines(path: string): string[][] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split(':'));
}

export function readAccounts(root: string): Account[] {
  return lines(join(root, 'etc/passwd'))
    .filter((f) => f.length >= 7 && /^\d+$/.test(f[2]!) && /^\d+$/.test(f[3]!))
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]! }));
}

export function readGroups(root: string): GroupEntry[] {
  return lines(join(root, 'etc/group'))
    .filter((f) => f.length >= 4 && /^\d+$/.test(f[2]!))
    .map((f) => ({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').filter((m) => m !== '') }));
}

export function findGroup(root: string, name: string): GroupEntry | undefined {
  return readGroups(root).find((g) => g.name === name);
}

export function findAccount(root: string, name: string): Account | undefined {
  return readAccounts(root).find((a) => a.name === name);
}

/** All group names of an account: its primary group first, then the groups listing it (exact names). */
export function groupsOf(account: Account, groups: GroupEntry[]): string[] {
  const primary = groups.find((g) => g.gid === account.gid)?.name;
  const supplementary = groups.filter((g) => g.members.includes(account.name)).map((g) => g.name);
  return [...new Set([...(primary ? [primary] : []), ...supplementary])];
}
