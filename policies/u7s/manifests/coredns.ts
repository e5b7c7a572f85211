/**
 * CoreDNS for the u7s cluster: RBAC, Corefile, Deployment and the kube-dns Service. kubeadm
 * deploys its own CoreDNS addon on init, so this manifest is for clusters that skip that phase
 * (`--skip-phases=addon/coredns`) or need to redeploy it. The image and the Service address are
 * filled in by the wrapper: MANIFEST_TEMPLATED_FIELDS.coredns.
 */
import { COREDNS_VERSION, DEFAULT_CLUSTER_DNS_IP, placeholderImage } from '../../../bin/u7s/lib/kubeadm-fields.ts';
import { accountWithClusterRole } from './rbac.ts';

const namespace = 'kube-system';
const name = 'coredns';
const selectorLabels = () => ({ 'k8s-app': 'kube-dns' });

const corefile = `.:53 {
    errors
    health {
        lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
        max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
`;

const dnsPorts = (portKey: 'containerPort' | 'port') => [
  { name: 'dns', [portKey]: 53, protocol: 'UDP' },
  { name: 'dns-tcp', [portKey]: 53, protocol: 'TCP' },
  { name: 'metrics', [portKey]: 9153, protocol: 'TCP' },
];

export default [
  ...accountWithClusterRole({
    account: name,
    namespace,
    role: 'system:coredns',
    rules: [
      { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
    ],
  }),
  {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace },
    data: { Corefile: corefile },
  },
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: selectorLabels() },
    spec: {
      replicas: 2,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      selector: { matchLabels: selectorLabels() },
      template: {
        metadata: { labels: selectorLabels() },
        spec: {
          priorityClassName: 'system-cluster-critical',
          serviceAccountName: name,
          tolerations: [
            { key: 'CriticalAddonsOnly', operator: 'Exists' },
            { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' },
          ],
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          containers: [
            {
              name,
              image: placeholderImage('coredns', COREDNS_VERSION),
              imagePullPolicy: 'IfNotPresent',
              args: ['-conf', '/etc/coredns/Corefile'],
              ports: dnsPorts('containerPort'),
              resources: { limits: { memory: '170Mi' }, requests: { cpu: '100m', memory: '70Mi' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] },
                readOnlyRootFilesystem: true,
              },
              livenessProbe: {
                httpGet: { path: '/health', port: 8080, scheme: 'HTTP' },
                initialDelaySeconds: 60,
                timeoutSeconds: 5,
                failureThreshold: 5,
              },
              readinessProbe: { httpGet: { path: '/ready', port: 8181, scheme: 'HTTP' } },
              volumeMounts: [{ name: 'config-volume', mountPath: '/etc/coredns', readOnly: true }],
            },
          ],
          dnsPolicy: 'Default',
          volumes: [{ name: 'config-volume', configMap: { name, items: [{ key: 'Corefile', path: 'Corefile' }] } }],
        },
      },
    },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'kube-dns',
      namespace,
      labels: { ...selectorLabels(), 'kubernetes.io/name': 'CoreDNS' },
      annotations: { 'prometheus.io/port': '9153', 'prometheus.io/scrape': 'true' },
    },
    spec: {
      selector: selectorLabels(),
      clusterIP: DEFAULT_CLUSTER_DNS_IP,
      ports: dnsPorts('port'),
    },
  },
];
