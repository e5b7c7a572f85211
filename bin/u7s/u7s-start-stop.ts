/**
 * u7s-start-stop: what the system unit u7s.service does, as root. `start` keeps u7s-admin's user
 * manager alive by lingering and starts its rootlesskit.service and kubelet.service; `stop`
 * stops them; `status` reports them (as text, or with --json as data). Root only talks to
 * systemd and logind; it runs nothing of u7s-admin's.
 */
import { runCommand, CommandError } from '../lib/command.ts';
import { translator } from '../lib/i18n.ts';
import { U7S_ADMIN_USER } from '../lib/names.ts';
import { nodeAccount } from './lib/accounts.ts';
import { logger } from './lib/log.ts';
import { ensureUserManager, NODE_UNITS, startUnits, stopUnits } from './lib/node-service.ts';
import { nodeStatus, statusText } from './lib/node-status.ts';

const t = translator('podsec-k8s');
const log = logger('u7s-start-stop');

/** Exit status of `status` when the node is not running (systemctl status and LSB use 3). */
const NOT_RUNNING = 3;

runCommand(
  {
    name: 'u7s-start-stop',
    summary: 'Start or stop the rootless Kubernetes node (the work of u7s.service), or report its state.',
    usage: ['start|stop', 'status [--json]'],
    options: {
      json: {
        type: 'boolean',
        description: 'status: print the state as one JSON object (schema: u7s-start-stop-status.schema.json in the ' + 'documentation of podsec-k8s)',
      },
    },
    positionals: true,
    description: [
      'start: enables lingering for u7s-admin (its user manager runs without a login session and ' +
        'survives reboots), starts its user manager and the user units rootlesskit.service and ' +
        'kubelet.service. stop: stops those units. Run as root by u7s.service.',
      'status: lingering, the user manager, u7s.service and, for each user unit, its state, since when ' +
        'it is active, its main PID, its last result and how often systemd restarted it. With --json the ' +
        'same as data: {user, uid, linger, userManager, service: {unit, activeState, enabled}, units: ' +
        '[{unit, activeState, subState, result, mainPid, activeSince, restarts}], running}; times are ISO ' +
        '8601 in UTC.',
    ],
    exitCodes: {
      1: 'the node did not start or stop (one line says why)',
      3: 'status: the node is not running (a user unit is not active)',
    },
    examples: { 'u7s-start-stop status': 'is the node running?', 'u7s-start-stop status --json': 'the same for monitoring' },
    seeAlso: ['loginctl(1)', 'systemctl(1)', 'podsec-u7s-kubeadm(1)'],
  },
  t,
  async ({ positionals, values }) => {
    const [verb, ...rest] = positionals;
    if (rest.length || !['start', 'stop', 'status'].includes(verb ?? '')) throw new CommandError(t('expected one of start, stop, status; see --help'), 2);
    if (values.json && verb !== 'status') throw new CommandError(t('--json is for status'), 2);
    if (process.getuid!() !== 0) throw new CommandError(t('must be run as root'));
    const account = nodeAccount('/', U7S_ADMIN_USER);
    if (verb === 'start') {
      await ensureUserManager(account);
      await startUnits(account, NODE_UNITS);
      log(t('{units} of {user} started', { units: NODE_UNITS.join(' '), user: account.name }));
      return 0;
    }
    if (verb === 'stop') {
      await stopUnits(account, [...NODE_UNITS].reverse());
      log(t('{units} of {user} stopped', { units: NODE_UNITS.join(' '), user: account.name }));
      return 0;
    }
    const status = await nodeStatus(account);
    process.stdout.write(values.json ? JSON.stringify(status, null, 2) + '\n' : statusText(status));
    return status.running ? 0 : NOT_RUNNING;
  },
);
