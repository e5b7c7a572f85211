/**
 * podsec-dev: saving images into OCI archives on build hosts. Both programs run as root (0700, as
 * upstream): they copy with skopeo from the host's registries and write wherever root points them.
 */
import { program } from '../entries.ts';
import type { PackageDecl } from '../types.ts';

const podsecDev: PackageDecl = {
  name: 'podsec-dev',
  summary: 'Save container images into OCI archives for podsec nodes',
  description: `Tools for build hosts that save images (and the Kubernetes image set
of a given version) into xz-compressed OCI layout archives, which
podsec-load-sign-oci loads, signs and pushes on the master node.`,
  group: 'Development/Other',
  requires: [
    { name: 'podsec', op: '=', version: '%EVR' },
    { name: 'podsec-k8s', op: '=', version: '%EVR' },
    // skopeo copies the images (also required by podsec); xz packs the archives.
    { name: 'skopeo', op: '>=', version: '1.9.1' },
    { name: 'xz' },
  ],
  groups: [],
  users: [],
  entries: [program('%_bindir/podsec-save-oci', 'podsec-save-oci', 0o700), program('%_bindir/podsec-k8s-save-oci', 'podsec-k8s-save-oci', 0o700)],
};

export default podsecDev;
