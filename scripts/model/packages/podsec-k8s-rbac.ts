/** podsec-k8s-rbac: cluster users, their kubeconfigs and role bindings. */
import { dir, file, program } from '../entries.ts';
import type { PackageDecl } from '../types.ts';
import { podsecThisOrNewer } from './podsec.ts';

const RBAC_PROGRAMS = ['create-user', 'create-kubeconfig', 'create-remoteplace', 'bindrole', 'unbindrole', 'get-userroles'];

const podsecK8sRbac: PackageDecl = {
  name: 'podsec-k8s-rbac',
  summary: 'Kubernetes RBAC users, kubeconfigs and role bindings for podsec clusters',
  description: `Tools that create cluster users (a Linux account, a CSR-signed client
certificate and kubeconfig), bind and unbind roles and cluster roles,
and report a user's roles as JSON or YAML.`,
  group: 'Development/Other',
  // Every API call is a kubectl run (bin/rbac/kubectl.ts). kubectl is not required: like
  // podsec-k8s, the Kubernetes client comes in the version the cluster is built with (ALT's
  // kubernetes<version>-client), and the programs say "kubectl is not installed" without it.
  requires: [
    podsecThisOrNewer,
    // scp for podsec-k8s-rbac-create-remoteplace.
    { name: 'openssh-clients' },
    // useradd/groupadd and passwd for podsec-k8s-rbac-create-user.
    { name: 'shadow-utils' },
    { name: 'passwd' },
  ],
  groups: [],
  users: [],
  entries: [
    ...RBAC_PROGRAMS.map((name) => program(`%_bindir/podsec-k8s-rbac-${name}`, `podsec-k8s-rbac-${name}`)),
    dir('%_docdir/podsec-k8s-rbac'),
    file('%_docdir/podsec-k8s-rbac/get-userroles.schema.json', { json: 'policies/rbac/get-userroles.schema.ts' }),
  ],
};

export default podsecK8sRbac;
