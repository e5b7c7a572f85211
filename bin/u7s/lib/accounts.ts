/**
 * The node account: found in the tree's /etc/passwd (bin/lib/accounts.ts reads it), the host
 * identity of a process inside a user namespace (/proc/self/uid_map), and how root hands work to it.
 */
import { readFileSync } from 'node:fs';
import { translator } from '../../lib/i18n.ts';
import { readAccounts, type Account } from '../../lib/accounts.ts';
import { U7S_ADMIN_USER } from '../../lib/names.ts';
import { requireTool, SYSTEM_PATH } from '../../lib/proc.ts';

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

/** The environment of the node account's processes: nothing inherited but the locale. */
export function accountEnv(account: Account, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    HOME: account.home,
    USER: account.name,
    LOGNAME: account.name,
    SHELL: account.shell || '/bin/sh',
    PATH: SYSTEM_PATH,
    XDG_RUNTIME_DIR: `/run/user/${account.uid}`,
    DBUS_SESSION_BUS_ADDRESS: `unix:path=/run/user/${account.uid}/bus`,
  };
  for (const key of ['LANG', 'LC_ALL', 'LC_MESSAGES', 'TERM']) if (process.env[key]) env[key] = process.env[key];
  return { ...env, ...extra };
}

/**
 * argv that runs `command` as the node account with its own groups (util-linux setpriv): root
 * hands work to u7s-admin instead of doing it, so nothing u7s-admin controls runs as root.
 */
export function asAccount(account: Account, command: string, args: string[]): [string, string[]] {
  const setpriv = requireTool('setpriv', t('install util-linux'));
  return [setpriv, [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--init-groups', '--', command, ...args]];
}
