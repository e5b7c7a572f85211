/**
 * Root's side of the node's life cycle: the node account's user manager is kept by lingering
 * (loginctl enable-linger, as Usernetes does) instead of upstream's held-open machinectl shell,
 * and its user units are driven by systemctl --user run as that account (setpriv), so root
 * never executes anything the account can change. Every wait is bounded.
 */
import { translator } from '../../lib/i18n.ts';
import { CommandError } from '../../lib/command.ts';
import { accountEnv, asAccount, type Account } from './accounts.ts';
import { capture, lastLines, requireTool } from '../../lib/proc.ts';

const t = translator('podsec-k8s');

export const NODE_UNITS = ['rootlesskit.service', 'kubelet.service'];

/** systemctl --user for the account's manager (its private socket under /run/user/UID). */
export async function userSystemctl(account: Account, args: string[], timeoutMs = 120_000) {
  const systemctl = requireTool('systemctl', t('the node needs systemd'));
  const [program, argv] = asAccount(account, systemctl, ['--user', ...args]);
  return capture(program, argv, { env: accountEnv(account), timeoutMs, cwd: '/' });
}

export async function systemSystemctl(args: string[], timeoutMs = 120_000) {
  const systemctl = requireTool('systemctl', t('the node needs systemd'));
  return capture(systemctl, args, { timeoutMs, cwd: '/' });
}

/** Linger on, the user manager running (bounded by its unit's start timeout and ours). */
export async function ensureUserManager(account: Account): Promise<void> {
  const loginctl = requireTool('loginctl', t('the node needs systemd-logind'));
  const linger = await capture(loginctl, ['enable-linger', account.name], { timeoutMs: 30_000, cwd: '/' });
  if (linger.code !== 0) throw new CommandError(t('cannot enable lingering for {user}: {reason}', { user: account.name, reason: lastLines(linger.stderr, 3) }));
  const started = await systemSystemctl(['start', `user@${account.uid}.service`], 120_000);
  if (started.code !== 0)
    throw new CommandError(t('the user manager of {user} did not start: {reason}', { user: account.name, reason: lastLines(started.stderr, 3) }));
}

export async function userManagerActive(account: Account): Promise<boolean> {
  const state = await systemSystemctl(['is-active', `user@${account.uid}.service`], 30_000);
  return state.stdout.trim() === 'active';
}

export async function startUnits(account: Account, units: string[], verb = 'start'): Promise<void> {
  // A unit that hit its start limit (e.g. started before the node was deployed) refuses every start until reset.
  await userSystemctl(account, ['reset-failed', ...units], 30_000);
  const result = await userSystemctl(account, [verb, ...units], 300_000);
  if (result.code !== 0) {
    throw new CommandError(
      t('{units} of {user} did not start: {reason}; see journalctl _UID={uid} -t rootlesskit -t kubelet', {
        units: units.join(' '),
        user: account.name,
        uid: account.uid,
        reason: lastLines(result.stderr, 3),
      }),
    );
  }
}

export async function stopUnits(account: Account, units: string[]): Promise<void> {
  if (!(await userManagerActive(account))) return;
  const result = await userSystemctl(account, ['stop', ...units], 180_000);
  if (result.code !== 0)
    throw new CommandError(t('{units} of {user} did not stop: {reason}', { units: units.join(' '), user: account.name, reason: lastLines(result.stderr, 3) }));
}
