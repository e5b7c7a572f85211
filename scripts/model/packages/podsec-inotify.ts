/** podsec-inotify: security monitors reporting through the journal to nagwad. */
import { dir, file, presetFile, program, systemUnit } from '../entries.ts';
import type { PackageDecl } from '../types.ts';
import { podsecThisOrNewer } from './podsec.ts';

/**
 * All 0755 (upstream: the four root monitors 0700): the programs hold no secret and refuse
 * themselves when they need root (check-policy/check-images answer UNKNOWN, exit 3).
 */
const PROGRAMS = ['check-policy', 'check-images', 'check-containers', 'check-kubeapi', 'check-vuln', 'check-certs', 'build-invulnerable-image'];
const UNITS = [
  'podsec-inotify-check-policy.service',
  'podsec-inotify-check-containers.service',
  'podsec-inotify-check-kubeapi.service',
  'podsec-inotify-check-kubeapi-mail.service',
  'podsec-inotify-check-kubeapi-mail.timer',
  'podsec-inotify-check-images.service',
  'podsec-inotify-check-images.timer',
  'podsec-inotify-check-vuln.service',
  'podsec-inotify-check-vuln.timer',
  'podsec-inotify-check-certs.service',
  'podsec-inotify-check-certs.timer',
];
/**
 * Enabled on install, as upstream: the two event-driven monitors. On a node without a cluster
 * they idle (no container storage, no audit log yet) and start reporting when those appear. The
 * timers (scans that cost CPU and network) and the mail digest need the admin's decision.
 */
export const ENABLED_ON_INSTALL = ['podsec-inotify-check-containers.service', 'podsec-inotify-check-kubeapi.service'];

const podsecInotify: PackageDecl = {
  name: 'podsec-inotify',
  summary: 'Security monitors for podsec nodes (policy, images, containers, API audit)',
  description: `Event-driven monitors that report container policy drift, unsigned
images, changed files in running containers, forbidden Kubernetes API
requests and image vulnerabilities to the journal, where nagwad turns
them into Nagios/Icinga alerts.`,
  group: 'Monitoring',
  requires: [
    podsecThisOrNewer,
    // inotifywait: the recursive, NUL-separated event stream of check-containers; the CLOSE_WRITE events of check-policy --watch.
    { name: 'inotify-tools' },
    // lsattr: whether a user's ~/.config/containers is immutable (check-policy).
    { name: 'e2fsprogs' },
    // logger: journal entries when not started by systemd (Nagios/NRPE runs of the plugins).
    { name: 'util-linux' },
    // As upstream: check-vuln and build-invulnerable-image scan with the trivy client (against the
    // trivy server of the cluster, which is not required here), check-kubeapi -m mails with mailx.
    { name: 'trivy' },
    { name: 'mailx' },
  ],
  groups: [],
  users: [],
  entries: [
    ...PROGRAMS.map((name) => program(`%_bindir/podsec-inotify-${name}`, `podsec-inotify-${name}`)),
    ...UNITS.map((name) => systemUnit(name, { ejs: `units/${name}.ejs` })),
    presetFile('podsec-inotify', ENABLED_ON_INSTALL),
    // The documented shapes of the monitors' --json output.
    dir('%_docdir/podsec-inotify'),
    ...['check-policy', 'check-images', 'check-vuln', 'check-kubeapi'].map((name) =>
      file(`%_docdir/podsec-inotify/podsec-inotify-${name}.schema.json`, { json: `policies/schemas/podsec-inotify-${name}.schema.ts` }),
    ),
  ],
};

export default podsecInotify;
