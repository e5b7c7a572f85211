/**
 * u7s-start-stop: what the system unit u7s.service does, as root. `start` keeps u7s-admin's user
 * manager alive by lingering and starts its rootlesskit.service and kubelet.service; `stop`
 * stops them. Root only talks to systemd and logind; it runs nothing of u7s-admin's.
 */
import { runCommand, CommandError } from '../lib/command.ts';
import { translator } from '../lib/i18n.ts';
import { U7S_ADMIN_USER } from '../lib/names.ts';
import { nodeAccount } from './lib/accounts.ts';
import { logger } from './lib/log.ts';
import { ensureUserManager, NODE_UNITS, startUnits, stopUnits, userSystemctl } from './lib/node-service.ts';

const t = translator('podsec-k8s');
const log = logger('u7s-start-stop');

runCommand(
  {
    name: 'u7s-start-stop',
    summary: 'Start or stop the rootless Kubernetes node (the work of u7s.service).',
    usage: ['start|stop|status'],
    options: {},
    positionals: true,
    description: [
      "start: enables lingering for u7s-admin (its user manager runs without a login session and survives reboots), starts its user manager and the user units rootlesskit.service and kubelet.service. stop: stops those units. status: shows them. Run as root by u7s.service.",
    ],
    exitCodes: { 1: 'the node did not start or stop (one line says why)', 2: 'invalid arguments' },
    seeAlso: ['loginctl(1)', 'podsec-u7s-kubeadm(1)'],
  },
  t,
  async ({ positionals }) => {
    const [verb, ...rest] = positionals;
    if (rest.length || !['start', 'stop', 'status'].includes(verb ?? '')) throw new CommandError(t('expected one of start, stop, status; see --help'), 2);
    if (process.getuid!() !== 0) throw new CommandError(t('must be run as root'));
    const account = nodeAccount('/', U7S_ADMIN_USER);
    if (verb === 'start') {
      await ensureUserManager(account);
      await startUnits(account, NODE_UNITS);
      log(t('{units} of {user} started', { units: NODE_UNITS.join(' '), user: account.name }));
    } else if (verb === 'stop') {
      await stopUnits(account, [...NODE_UNITS].reverse());
      log(t('{units} of {user} stopped', { units: NODE_UNITS.join(' '), user: account.name }));
    } else {
      const result = await userSystemctl(account, ['status', '--no-pager', ...NODE_UNITS], 30_000);
      process.stdout.write(result.stdout);
      return result.code;
    }
    return 0;
  },
);
