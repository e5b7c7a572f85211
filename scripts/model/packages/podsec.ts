/** podsec: signed-image trust for a node (policy, local registry, signature server, users). */
import { PODMAN_DEV_GROUP, PODMAN_GROUP } from '../../../bin/lib/names.ts';
import { dir, file, program, systemUnit } from '../entries.ts';
import type { Dependency, PackageDecl } from '../types.ts';
import nagwadFilter from './nagwad-entry.ts';
import { trustUserEntries, trustUserExternalPrograms } from './podsec-trust-users.ts';

/** What podsec-k8s, podsec-k8s-rbac and podsec-inotify require, as upstream: any podsec at least as new as themselves. */
export const podsecThisOrNewer: Dependency = { name: 'podsec', op: '>=', version: '%EVR' };

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
    // load-sign-oci unpacks xz archives; create-podmanusers makes ~/.config/containers immutable
    // (chattr); passwords are hashed with openssl passwd when a --root tree is prepared.
    { name: 'xz' },
    { name: 'e2fsprogs' },
    { name: 'openssl' },
  ],
  groups: [PODMAN_GROUP, PODMAN_DEV_GROUP],
  users: [],
  entries: [
    program('%_bindir/podsec-get-platform', 'podsec-get-platform'),
    dir('%_docdir/podsec'),
    file('%_docdir/podsec/podsec-get-platform.schema.json', { json: 'policies/schemas/podsec-get-platform.schema.ts' }),
    // Trust setup of a host and the master's services (upstream: create-* are 0700 root).
    program('%_bindir/podsec-create-policy', 'podsec-create-policy', 0o700),
    program('%_bindir/podsec-create-services', 'podsec-create-services', 0o700),
    systemUnit('podsec-registry.service', { ejs: 'units/podsec-registry.service.ejs' }),
    systemUnit('podsec-sigstore.service', { ejs: 'units/podsec-sigstore.service.ejs' }),
    dir('%_sysconfdir/podsec'),
    // Written by podsec-create-services (generated for the master's address, so not shipped).
    dir('%_sysconfdir/podsec/registry'),
    dir('%_sysconfdir/podsec/sigstore'),
    dir('%_libexecdir/podsec'),
    dir('%_localstatedir/podsec'),
    nagwadFilter,
    ...trustUserEntries,
  ],
  externalPrograms: [
    { path: '/usr/sbin/nginx', providedBy: 'nginx' },
    { path: '/usr/bin/docker-registry', providedBy: 'docker-registry' },
    ...trustUserExternalPrograms,
  ],
};

export default podsec;
