/**
 * kube-apiserver audit policy (installed as /etc/podsec/u7s/audit/policy.yaml; the kubeadm wrapper
 * copies it to /etc/kubernetes/audit/). podsec-inotify-check-kubeapi reads the resulting log for
 * forbidden requests. Rules are matched in order; the first match decides the level.
 */
// A function, so that no two rules share one array (the YAML serializer would emit an alias).
const exceptRequestReceived = () => ({ omitStages: ['RequestReceived'] });

export default {
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitManagedFields: true,
  rules: [
    {
      level: 'None',
      nonResourceURLs: ['/healthz*', '/logs', '/metrics', '/swagger*', '/version', '/readyz', '/livez'],
    },
    {
      // The control-plane components' own, constant traffic.
      level: 'None',
      users: [
        'system:kube-scheduler',
        'system:kube-proxy',
        'system:apiserver',
        'system:kube-controller-manager',
        'system:serviceaccount:gatekeeper-system:gatekeeper-admin',
      ],
    },
    {
      // Upstream also listed system:masters here, so cluster administrators were never audited.
      // They now fall through to the rules below: Metadata at least, full bodies for pod changes.
      level: 'None',
      userGroups: ['system:nodes', 'system:serviceaccounts'],
    },
    { level: 'Metadata', resources: [{ group: 'authentication.k8s.io', resources: ['tokenreviews'] }], ...exceptRequestReceived() },
    {
      level: 'RequestResponse',
      resources: [{ group: 'authorization.k8s.io', resources: ['subjectaccessreviews'] }],
      ...exceptRequestReceived(),
    },
    {
      level: 'RequestResponse',
      resources: [{ group: '', resources: ['pods'] }],
      verbs: ['create', 'patch', 'update', 'delete'],
      ...exceptRequestReceived(),
    },
    { level: 'Metadata', ...exceptRequestReceived() },
  ],
};
