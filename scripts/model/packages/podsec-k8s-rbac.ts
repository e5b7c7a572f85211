/** podsec-k8s-rbac: cluster users, their kubeconfigs and role bindings. Programs arrive with their issue. */
import type { PackageDecl } from '../types.ts';

const podsecK8sRbac: PackageDecl = {
  name: 'podsec-k8s-rbac',
  summary: 'Kubernetes RBAC users, kubeconfigs and role bindings for podsec clusters',
  description: `Tools that create cluster users (a Linux account, a CSR-signed client
certificate and kubeconfig), bind and unbind roles and cluster roles,
and report a user's roles as JSON or YAML.`,
  group: 'Development/Other',
  requires: [{ name: 'podsec', op: '=', version: '%EVR' }],
  filterFromRequires: [],
  groups: [],
  users: [],
  entries: [],
};

export default podsecK8sRbac;
