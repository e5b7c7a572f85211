/** podsec-icinga: Icinga 2 services for the podsec-inotify monitors (through nagwad). */
import { dir, file } from '../entries.ts';
import { monitoringConfig, monitoringPackage } from './monitoring.ts';

const podsecIcinga = monitoringPackage(
  {
    name: 'podsec-icinga',
    summary: 'Icinga 2 templates for podsec monitoring',
    description: `Icinga 2 host group, host template and services that report the alerts
of the podsec-inotify monitors collected by nagwad, plus the same objects
as an Icinga Director basket.`,
    entries: [
      monitoringConfig('%_sysconfdir/icinga2/conf.d/podsec.conf', 'policies/monitoring/icinga2-podsec.conf.ejs'),
      dir('%_docdir/podsec-icinga'),
      file('%_docdir/podsec-icinga/podsec-icinga2.json', { json: 'policies/monitoring/icinga2-director.ts' }),
    ],
  },
  'nagwad-icinga-templates',
);

export default podsecIcinga;
