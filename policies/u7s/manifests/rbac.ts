/** The RBAC of an add-on's controller, the same in every manifest of the cluster. */

interface AccountRole {
  account: string;
  namespace: string;
  /** The name of the ClusterRole and of its binding. */
  role: string;
  rules: object[];
  labels?: Record<string, string>;
}

/** A ServiceAccount, a ClusterRole of `rules`, and the binding of the role to the account. */
export function accountWithClusterRole({ account, namespace, role, rules, labels }: AccountRole): object[] {
  const labelled = labels ? { labels } : {};
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: account, namespace, ...labelled } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: role, ...labelled }, rules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: role, ...labelled },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'ServiceAccount', name: account, namespace }],
    },
  ];
}
