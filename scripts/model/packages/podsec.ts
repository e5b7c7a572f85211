/** podsec: signed-image trust for a node (policy, local registry, signature server, users). */
import { PODMAN_DEV_GROUP, PODMAN_GROUP } from '../../../bin/lib/names.ts';
import { dir, program } from '../entries.ts';
import type { PackageDecl } from '../types.ts';
import nagwadFilter from './nagwad-entry.ts';
import { trustUserEntries, trustUserExternalPrograms } from './podsec-trust-users.ts';

const podsec: PackageDecl = {
  name: 'podsec',
  summary: 'Signed container image trust for podman and rootless Kubernetes nodes',
  description: `Tools that set up a node to run only signed container images:
- a reject-by-default /etc/containers policy bound to the local registry
  (registry.local) and signature server (sigstore.local:81);
- the registry and signature web server on the master node;
- image makers who sign and push images, and users who run them rootless;
- loading OCI archives into the registry with signatures.`,
  group: 'Development/Other',
  requires: [
    { name: 'node', op: '>=', version: '18' },
    { name: 'podman', op: '>=', version: '4.4.2' },
    { name: 'skopeo', op: '>=', version: '1.9.1' },
    { name: 'shadow-submap', op: '>=', version: '4.5' },
    { name: 'nginx', op: '>=', version: '1.22.1' },
    { name: 'docker-registry', op: '>=', version: '2.8.1' },
    { name: 'gnupg2' },
    { name: 'pinentry-common' },
    { name: 'iproute2' },
    { name: 'nagwad-service' },
  ],
  filterFromRequires: [],
  groups: [PODMAN_GROUP, PODMAN_DEV_GROUP],
  users: [],
  entries: [
    program('%_bindir/podsec-get-platform', 'podsec-get-platform'),
    dir('%_sysconfdir/podsec'),
    dir('%_libexecdir/podsec'),
    dir('%_localstatedir/podsec'),
    nagwadFilter,
    ...trustUserEntries,
  ],
  externalPrograms: [...trustUserExternalPrograms],
};

export default podsec;
