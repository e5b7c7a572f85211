/** podsec-dev: saving images into OCI archives on build hosts. Programs arrive with the trust commands. */
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
  ],
  filterFromRequires: [],
  groups: [],
  users: [],
  entries: [],
};

export default podsecDev;
