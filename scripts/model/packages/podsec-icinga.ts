/** podsec-icinga: Icinga 2 services for the podsec-inotify monitors (through nagwad). */
import { MONITORING_TEMPLATE_DATA } from '../../../policies/monitoring/monitored-programs.ts';
import { configNoReplace, dir, file } from '../entries.ts';
import type { PackageDecl } from '../types.ts';

const podsecIcinga: PackageDecl = {
  name: 'podsec-icinga',
  summary: 'Icinga 2 templates for podsec monitoring',
  description: `Icinga 2 host group, host template and services that report the alerts
of the podsec-inotify monitors collected by nagwad, plus the same objects
as an Icinga Director basket.`,
  group: 'Monitoring',
  requires: [{ name: 'nagwad-icinga-templates', op: '>=', version: '0.11.2' }],
  filterFromRequires: [],
  groups: [],
  users: [],
  entries: [
    configNoReplace('%_sysconfdir/icinga2/conf.d/podsec.conf', {
      ejs: 'policies/monitoring/icinga2-podsec.conf.ejs',
      data: MONITORING_TEMPLATE_DATA,
    }),
    dir('%_docdir/podsec-icinga'),
    file('%_docdir/podsec-icinga/podsec-icinga2.json', { json: 'policies/monitoring/icinga2-director.ts' }),
  ],
};

export default podsecIcinga;
