/**
 * Directories that podsec-k8s, podsec-icinga, podsec-nagios and the nagwad filter install into,
 * that none of our packages owns and that are not root macros. Each provider is required by the
 * package that uses the directory (nagwad-service by podsec). The owners are ALT's packages as far
 * as known here; confirm on a node with `rpm -qf <dir>`.
 */
import type { ExternalPath } from '../types.ts';

export const externalDirs: ExternalPath[] = [
  // nagwad's template packages install into these directories themselves (and so bring their
  // owners along), as upstream podsec relies on; requiring the Nagios or Icinga server directly
  // would pull a whole server onto every monitored node.
  { path: '%_sysconfdir/icinga2', providedBy: 'nagwad-icinga-templates' },
  { path: '%_sysconfdir/icinga2/conf.d', providedBy: 'nagwad-icinga-templates' },
  { path: '%_sysconfdir/nagios', providedBy: 'nagwad-nagios-templates' },
  { path: '%_sysconfdir/nagios/templates', providedBy: 'nagwad-nagios-templates' },
  { path: '%_sysconfdir/nagios/nrpe-commands', providedBy: 'nagwad-nagios-templates' },
  { path: '%_sysconfdir/nagwad', providedBy: 'nagwad-service' },
];

export default externalDirs;
