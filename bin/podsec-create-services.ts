/**
 * podsec-create-services: on the master, configure and start the registry registry.local:80 and
 * the signature server sigstore.local:81 (upstream's podsec-create-services).
 */
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { DRY_RUN_OPTION } from './lib/plan.ts';
import { planCreateServices } from './trust/services/create-services.ts';

const t = translator('podsec');
const NAME = 'podsec-create-services';

runCommand(
  {
    name: NAME,
    summary: 'Configure and start the registry (registry.local:80) and the signature server (sigstore.local:81) on the master.',
    usage: ['[--dry-run] [--root DIR]'],
    description: [
      'Runs only on the master: the host whose address registry.local and sigstore.local are bound to ' +
        'in /etc/hosts (podsec-create-policy writes that binding). On any other host it refuses and ' +
        'changes nothing.',
      'Writes /etc/podsec/sigstore/nginx.conf, an nginx instance of its own that serves /var/sigstore ' +
        "on port 81 of the master's address with JSON directory listings (checked with nginx -t before " +
        'it is installed), and /etc/podsec/registry/config.yml, docker-registry on port 80 storing images ' +
        'in /var/lib/containers/storage/volumes/registry/_data. Distribution config files are not edited.',
      'Then enables and starts podsec-registry.service and podsec-sigstore.service, restarts them when ' +
        'they were running and their configuration changed, stops and disables httpd2 or docker-registry ' +
        'when they hold those ports, and starts trivy when it is installed. Running it again changes ' +
        'nothing.',
    ],
    options: DRY_RUN_OPTION,
    files: {
      '/etc/podsec/sigstore/nginx.conf': 'the signature server configuration',
      '/etc/podsec/registry/config.yml': 'the registry configuration',
      '/var/lib/containers/storage/volumes/registry/_data': 'the registry storage',
    },
    exitCodes: {
      1: 'this host is not the master, nginx rejects the configuration, a port is in use, or systemctl failed',
    },
    examples: {
      'podsec-create-services': 'on the master, after podsec-create-policy: start the registry and the signature server',
    },
    seeAlso: ['podsec-create-policy(1)', 'nginx(8)'],
  },
  t,
  async ({ values, root }) => {
    if (process.geteuid?.() !== 0) throw new CommandError(t('{command} must be run as root', { command: NAME }), 1);
    const dryRun = values['dry-run'] === true;
    const plan = await planCreateServices(root);
    await plan.carryOut(NAME, dryRun);
    return 0;
  },
);
