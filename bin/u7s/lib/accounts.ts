/**
 * Accounts read as data: /etc/passwd, /etc/group, /etc/subuid, /etc/subgid (under a --root
 * prefix), and the host identity of a process inside a user namespace (/proc/self/uid_map).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { translator } from '../../lib/i18n.ts';
import { findGroup, readAccounts, type Account } from '../../lib/accounts.ts';
import { U7S_ADMIN_USER } from '../../lib/names.ts';

const t = translator('podsec-k8s');

export class AccountError extends Error {
  readonly expected = true;
}

export type { Account };

/** The account with this name or uid under `root`. */
export function findAccountBy(root: string, by: { name?: string; uid?: number }): Account | undefined {
  return readAccounts(root).find((a) => (by.name !== undefined ? a.name === by.name : a.uid === by.uid));
}

/** The node account (u7s-admin unless `name` says otherwise); an error naming the fix if missing. */
export function nodeAccount(root: string, name = U7S_ADMIN_USER): Account {
  const account = findAccountBy(root, { name });
  if (!account) throw new AccountError(t('the user {user} does not exist (it is created when podsec-k8s is installed)', { user: name }));
  return account;
}

export { findGroup };

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

/** Ranges of a user, matched by name or by uid as shadow does. */
export function rangesOf(ranges: SubidRange[], account: Account): SubidRange[] {
  return ranges.filter((r) => r.owner === account.name || r.owner === String(account.uid));
}

/**
 * The host uid and gid of this process: outside a user namespace the real ids, inside the u7s
 * namespace the ids that namespace root maps to (u7s-admin's).
 */
export function hostIdentity(): { uid: number; gid: number; inUserNamespace: boolean } {
  const mapped = (file: string, own: number) => {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return { id: own, nested: false };
    }
    for (const line of text.trim().split('\n')) {
      const [inside, outside, count] = line.trim().split(/\s+/).map(Number);
      if (inside === undefined || outside === undefined || count === undefined) continue;
      if (own >= inside && own < inside + count) return { id: outside + (own - inside), nested: !(inside === 0 && outside === 0 && count >= 4294967295) };
    }
    return { id: own, nested: false };
  };
  const uid = mapped('/proc/self/uid_map', process.getuid!());
  const gid = mapped('/proc/self/gid_map', process.getgid!());
  return { uid: uid.id, gid: gid.id, inUserNamespace: uid.nested };
}
