/**
 * The podsec-inotify programs whose journal messages reach Nagios/Icinga through nagwad.
 * The nagwad sed filter, the Icinga 2 configuration, the Director basket, the Nagios services and
 * the NRPE commands are all generated from this one list, so they cannot drift apart.
 */

interface MonitoredProgram {
  /** The program name, which is also its journal tag (SyslogIdentifier) and the nagwad bucket. */
  name: string;
  /** Nagios service_description / Icinga display_name. */
  description: string;
  /** Whether `Warning:` messages raise a WARNING (upstream: only the check-* monitors). */
  reportsWarnings: boolean;
  /** The NRPE command name: the program name with `-` replaced by `_`. */
  nrpeCommand: string;
}

/** Severity words (the untranslated prefix of a message) that nagwad turns into CRITICAL. */
export const CRITICAL_SEVERITIES = ['Crash', 'Fatal', 'Critical', 'High', 'Middle'] as const;
/** Severity words that nagwad turns into WARNING, for programs with `reportsWarnings`. */
export const WARNING_SEVERITIES = ['Warning'] as const;

/** nagwad's Nagios plugin, installed by nagwad on the monitored node. */
const CHECK_NAGWAD_PLUGIN = '/usr/lib/nagios/plugins/check_nagwad';

const program = (name: string, description: string, reportsWarnings: boolean): MonitoredProgram => ({
  name,
  description,
  reportsWarnings,
  nrpeCommand: name.replaceAll('-', '_'),
});

export const MONITORED_PROGRAMS: readonly MonitoredProgram[] = [
  program('podsec-inotify-check-vuln', 'Vulnerabilities detected in container images', true),
  program('podsec-inotify-build-invulnerable-image', 'Vulnerabilities detected in a locally built image', false),
  program('podsec-inotify-check-policy', 'Container policy misconfiguration detected', true),
  program('podsec-inotify-check-images', 'Images inconsistent with the container policy detected', true),
  program('podsec-inotify-check-containers', 'Critical files modified in a running container', true),
  program('podsec-inotify-check-kubeapi', 'Alerts detected in the Kubernetes API audit log', true),
  program('podsec-inotify-check-certs', 'Kubernetes node certificates expired or expiring', true),
];

/** Host group of the nodes that run podsec (and therefore nagwad: podsec requires nagwad-service). */
export const PODSEC_HOSTGROUP = 'podsec-nodes';
/** Host group defined by nagwad's own templates for every node running nagwad. */
export const NAGWAD_HOSTGROUP = 'nagwad-nodes';
/** Prefix of Icinga Director objects (upstream's convention, keeps them apart from conf.d objects). */
export const DIRECTOR_PREFIX = 'd-';

/** The data every monitoring template is rendered with. */
export const MONITORING_TEMPLATE_DATA = {
  programs: MONITORED_PROGRAMS,
  criticalSeverities: CRITICAL_SEVERITIES,
  warningSeverities: WARNING_SEVERITIES,
  checkNagwad: CHECK_NAGWAD_PLUGIN,
  podsecHostgroup: PODSEC_HOSTGROUP,
  nagwadHostgroup: NAGWAD_HOSTGROUP,
};
