/**
 * The state of a rootless node as data: lingering, u7s-admin's user manager, the system unit
 * u7s.service and the user units of the node, read from systemd (`systemctl show`, which has a
 * stable key=value format, unlike `systemctl status`). The shape is `u7s-start-stop status
 * --json`'s, documented in policies/schemas/u7s-start-stop-status.schema.ts.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { translator } from '../../lib/i18n.ts';
import type { Account } from './accounts.ts';
import { NODE_UNITS, systemSystemctl, userManagerActive, userSystemctl } from './node-service.ts';

interface UnitStatus {
  unit: string;
  /** systemd's ActiveState: active, inactive, failed, activating, deactivating, reloading. */
  activeState: string;
  subState: string;
  /** success, or why the unit last failed (exit-code, signal, timeout, start-limit-hit, ...). */
  result: string;
  mainPid: number | null;
  /** When the unit last became active (ISO 8601, UTC), null when it never did. */
  activeSince: string | null;
  /** How often systemd restarted it (Restart=). */
  restarts: number;
}

export interface NodeStatus {
  user: string;
  uid: number;
  linger: boolean;
  /** ActiveState of user@UID.service. */
  userManager: string;
  service: { unit: string; activeState: string; enabled: string };
  units: UnitStatus[];
  /** Every user unit of the node is active. */
  running: boolean;
}

const t = translator('podsec-k8s');

const SHOW_PROPERTIES = ['Id', 'ActiveState', 'SubState', 'Result', 'MainPID', 'ActiveEnterTimestamp', 'NRestarts'];

/** `systemctl show` output of one or more units (blocks separated by an empty line) as records. */
export function parseShow(text: string): Record<string, string>[] {
  return text
    .split(/\n\s*\n/)
    .map((block) => block.split('\n').filter((line) => line.includes('=')))
    .filter((lines) => lines.length > 0)
    .map((lines) => Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])));
}

/**
 * `--timestamp=utc` values (systemd 247 and later, so ALT p10 too) look like
 * "Fri 2026-11-27 02:00:00 UTC"; empty or "n/a" when there is none.
 */
export function utcTimestamp(value: string | undefined): string | null {
  const match = /^\S+ (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) UTC$/.exec(value?.trim() ?? '');
  return match ? new Date(`${match[1]}T${match[2]}Z`).toISOString() : null;
}

const integer = (value: string | undefined) => (value && /^\d+$/.test(value) ? Number(value) : 0);

export function unitStatus(unit: string, show: Record<string, string> | undefined): UnitStatus {
  const pid = integer(show?.MainPID);
  return {
    unit,
    activeState: show?.ActiveState || 'inactive',
    subState: show?.SubState || 'dead',
    result: show?.Result || 'success',
    mainPid: pid > 0 ? pid : null,
    activeSince: utcTimestamp(show?.ActiveEnterTimestamp),
    restarts: integer(show?.NRestarts),
  };
}

/** The node's state; a user manager that is not running reports its units as inactive. */
export async function nodeStatus(account: Account, root = '/'): Promise<NodeStatus> {
  const properties = SHOW_PROPERTIES.map((p) => `--property=${p}`);
  const system = await systemSystemctl(['show', '--property=ActiveState', '--property=UnitFileState', 'u7s.service'], 30_000);
  const service = parseShow(system.stdout)[0] ?? {};
  const manager = parseShow((await systemSystemctl(['show', '--property=ActiveState', `user@${account.uid}.service`], 30_000)).stdout)[0];
  let shown: Record<string, string>[] = [];
  if (await userManagerActive(account)) {
    shown = parseShow((await userSystemctl(account, ['show', '--timestamp=utc', ...properties, ...NODE_UNITS], 30_000)).stdout);
  }
  const units = NODE_UNITS.map((unit) =>
    unitStatus(
      unit,
      shown.find((s) => s.Id === unit),
    ),
  );
  return {
    user: account.name,
    uid: account.uid,
    linger: existsSync(join(root, 'var/lib/systemd/linger', account.name)),
    userManager: manager?.ActiveState || 'inactive',
    service: { unit: 'u7s.service', activeState: service.ActiveState || 'inactive', enabled: service.UnitFileState || 'unknown' },
    units,
    running: units.every((u) => u.activeState === 'active'),
  };
}

/** systemd's state words in the user's language, for the text report (--json keeps systemd's own). */
function stateWord(state: string): string {
  const words: Record<string, string> = {
    active: t('active'),
    inactive: t('inactive'),
    failed: t('failed'),
    activating: t('activating'),
    deactivating: t('deactivating'),
    reloading: t('reloading'),
    maintenance: t('maintenance'),
    running: t('running'),
    dead: t('stopped'),
    exited: t('exited'),
    start: t('starting'),
    stop: t('stopping'),
    'auto-restart': t('waiting to restart'),
    enabled: t('enabled'),
    'enabled-runtime': t('enabled until reboot'),
    disabled: t('disabled'),
    static: t('static'),
    masked: t('masked'),
    'exit-code': t('non-zero exit status'),
    signal: t('killed by a signal'),
    'core-dump': t('core dumped'),
    timeout: t('timed out'),
    watchdog: t('watchdog timeout'),
    'start-limit-hit': t('restarted too often'),
    'oom-kill': t('killed for lack of memory'),
  };
  return words[state] ?? state;
}

/** The text report of `u7s-start-stop status`: systemd's states in the user's language. */
export function statusText(status: NodeStatus): string {
  const yesNo = (value: boolean) => (value ? t('yes') : t('no'));
  const lines = [
    t('{user} (uid {uid}): lingering {linger}, user manager {state}', {
      user: status.user,
      uid: status.uid,
      linger: yesNo(status.linger),
      state: stateWord(status.userManager),
    }),
    t('{unit}: {state}, {enabled}', { unit: status.service.unit, state: stateWord(status.service.activeState), enabled: stateWord(status.service.enabled) }),
  ];
  for (const unit of status.units) {
    const parts = [`${stateWord(unit.activeState)} (${stateWord(unit.subState)})`];
    if (unit.activeSince && unit.activeState === 'active') parts.push(t('since {time}', { time: unit.activeSince }));
    if (unit.mainPid !== null) parts.push(t('PID {pid}', { pid: unit.mainPid }));
    if (unit.result !== 'success') parts.push(t('last result {result}', { result: stateWord(unit.result) }));
    parts.push(t.n('{count} restart', '{count} restarts', unit.restarts));
    lines.push(`${unit.unit}: ${parts.join(', ')}`);
  }
  lines.push(status.running ? t('The node is running.') : t('The node is not running.'));
  return lines.join('\n') + '\n';
}
