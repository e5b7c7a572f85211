/**
 * Who a u7s program runs for, wherever it runs: on the host as the node account, or inside its
 * namespace as namespace root. The account comes from the host identity (uid_map), never from
 * $USER or $HOME.
 */
import { translator } from '../../lib/i18n.ts';
import { AccountError, findAccountBy, hostIdentity, type Account } from './accounts.ts';
import { U7S_ENV_FILE, userLayout, type UserLayout } from './paths.ts';

const t = translator('podsec-k8s');

export interface RunContext {
  account: Account;
  layout: UserLayout;
  inNamespace: boolean;
}

export function runContext(): RunContext {
  const identity = hostIdentity();
  const account = findAccountBy('/', { uid: identity.uid });
  if (!account) throw new AccountError(t('no account with uid {uid} in /etc/passwd', { uid: identity.uid }));
  return { account, layout: userLayout(account.uid, account.gid, account.home), inNamespace: identity.inUserNamespace };
}

/** The launch context the rootlesskit launcher hands its namespace phase (and what runs there). */
export const LAUNCH_ENV = '_U7S_LAUNCH';

interface LaunchContext {
  envFile: string;
  launcherPid: number;
}

export function launchContext(): LaunchContext | undefined {
  const raw = process.env[LAUNCH_ENV];
  if (!raw) return undefined;
  try {
    const parsed = JSON.parse(raw) as LaunchContext;
    if (typeof parsed.envFile === 'string' && typeof parsed.launcherPid === 'number') return parsed;
  } catch {
    // fall through
  }
  return undefined;
}

/** --env-file, else the one the launcher was given, else the system's. */
export const envFileOf = (option: unknown) => (typeof option === 'string' && option ? option : (launchContext()?.envFile ?? U7S_ENV_FILE));
