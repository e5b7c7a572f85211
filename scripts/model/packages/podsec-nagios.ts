/** podsec-nagios: Nagios services and NRPE commands for the podsec-inotify monitors (through nagwad). */
import { MONITORING_TEMPLATE_DATA } from '../../../policies/monitoring/monitored-programs.ts';
import { configNoReplace } from '../entries.ts';
import type { PackageDecl } from '../types.ts';

const podsecNagios: PackageDecl = {
  name: 'podsec-nagios',
  summary: 'Nagios templates for podsec monitoring',
  description: `Nagios host group, service group and services for the alerts of the
podsec-inotify monitors collected by nagwad, and the NRPE commands that
query nagwad on the node.`,
  group: 'Monitoring',
  requires: [{ name: 'nagwad-nagios-templates', op: '>=', version: '0.11.2' }],
  filterFromRequires: [],
  groups: [],
  users: [],
  entries: [
    configNoReplace('%_sysconfdir/nagios/templates/podsec-services.cfg', {
      ejs: 'policies/monitoring/nagios-services.cfg.ejs',
      data: MONITORING_TEMPLATE_DATA,
    }),
    configNoReplace('%_sysconfdir/nagios/nrpe-commands/podsec-commands.cfg', {
      ejs: 'policies/monitoring/nrpe-commands.cfg.ejs',
      data: MONITORING_TEMPLATE_DATA,
    }),
  ],
};

export default podsecNagios;
