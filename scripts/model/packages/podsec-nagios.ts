/** podsec-nagios: Nagios services and NRPE commands for the podsec-inotify monitors (through nagwad). */
import { monitoringConfig, monitoringPackage } from './monitoring.ts';

const podsecNagios = monitoringPackage(
  {
    name: 'podsec-nagios',
    summary: 'Nagios templates for podsec monitoring',
    description: `Nagios host group, service group and services for the alerts of the
podsec-inotify monitors collected by nagwad, and the NRPE commands that
query nagwad on the node.`,
    entries: [
      monitoringConfig('%_sysconfdir/nagios/templates/podsec-services.cfg', 'policies/monitoring/nagios-services.cfg.ejs'),
      monitoringConfig('%_sysconfdir/nagios/nrpe-commands/podsec-commands.cfg', 'policies/monitoring/nrpe-commands.cfg.ejs'),
    ],
  },
  'nagwad-nagios-templates',
);

export default podsecNagios;
