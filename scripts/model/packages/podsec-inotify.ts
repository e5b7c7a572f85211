/** podsec-inotify: security monitors reporting through the journal to nagwad. Programs arrive with their issue. */
import type { PackageDecl } from '../types.ts';

const podsecInotify: PackageDecl = {
  name: 'podsec-inotify',
  summary: 'Security monitors for podsec nodes (policy, images, containers, API audit)',
  description: `Event-driven monitors that report container policy drift, unsigned
images, changed files in running containers, forbidden Kubernetes API
requests and image vulnerabilities to the journal, where nagwad turns
them into Nagios/Icinga alerts.`,
  group: 'Monitoring',
  requires: [{ name: 'podsec', op: '=', version: '%EVR' }],
  filterFromRequires: [],
  groups: [],
  users: [],
  entries: [],
};

export default podsecInotify;
