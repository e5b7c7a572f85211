/**
 * flannel for the u7s cluster, one version (FLANNEL_VERSION), applied by the kubeadm wrapper after
 * `kubeadm init`. Images are placeholders that the wrapper replaces, and net-conf.json gets the
 * pod CIDR: see MANIFEST_TEMPLATED_FIELDS['kube-flannel'].
 */
import cniConf from '../cni/10-flannel.conflist.ts';
import netConf from '../flannel/network-config.ts';
import { FLANNEL_CNI_PLUGIN_VERSION, FLANNEL_VERSION, placeholderImage } from '../../../bin/u7s/lib/kubeadm-fields.ts';
import { accountWithClusterRole } from './rbac.ts';

const namespace = 'kube-flannel';
const name = 'flannel';
// Functions, not shared objects: the YAML serializer would turn a repeated object into an alias.
const appLabels = () => ({ app: name, 'k8s-app': name });
const podLabels = () => ({ ...appLabels(), tier: 'node' });
const asJson = (document: unknown) => JSON.stringify(document, null, 2) + '\n';

const cniDir = '/etc/cni/net.d';
const configDir = '/etc/kube-flannel/';

export default [
  {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: namespace,
      // flannel needs host networking and NET_ADMIN: the privileged Pod Security level.
      labels: { 'k8s-app': name, 'pod-security.kubernetes.io/enforce': 'privileged' },
    },
  },
  ...accountWithClusterRole({
    account: name,
    namespace,
    role: name,
    labels: { 'k8s-app': name },
    rules: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
    ],
  }),
  {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'kube-flannel-cfg', namespace, labels: podLabels() },
    data: { 'cni-conf.json': asJson(cniConf), 'net-conf.json': asJson(netConf) },
  },
  {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'kube-flannel-ds', namespace, labels: podLabels() },
    spec: {
      selector: { matchLabels: appLabels() },
      template: {
        metadata: { labels: podLabels() },
        spec: {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }] }],
              },
            },
          },
          hostNetwork: true,
          priorityClassName: 'system-node-critical',
          serviceAccountName: name,
          tolerations: [{ effect: 'NoSchedule', operator: 'Exists' }],
          initContainers: [
            {
              name: 'install-cni-plugin',
              image: placeholderImage('flannel-cni-plugin', FLANNEL_CNI_PLUGIN_VERSION),
              command: ['cp'],
              args: ['-f', '/flannel', '/opt/cni/bin/flannel'],
              volumeMounts: [{ name: 'cni-plugin', mountPath: '/opt/cni/bin' }],
            },
            {
              name: 'install-cni',
              image: placeholderImage('flannel', FLANNEL_VERSION),
              command: ['cp'],
              args: ['-f', `${configDir}cni-conf.json`, `${cniDir}/10-flannel.conflist`],
              volumeMounts: [
                { name: 'cni', mountPath: cniDir },
                { name: 'flannel-cfg', mountPath: configDir },
              ],
            },
          ],
          containers: [
            {
              name: 'kube-flannel',
              image: placeholderImage('flannel', FLANNEL_VERSION),
              command: ['/opt/bin/flanneld'],
              args: ['--ip-masq', '--kube-subnet-mgr'],
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: 'EVENT_QUEUE_DEPTH', value: '5000' },
              ],
              resources: { requests: { cpu: '100m', memory: '50Mi' } },
              securityContext: { privileged: false, capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } },
              volumeMounts: [
                { name: 'run', mountPath: '/run/flannel' },
                { name: 'flannel-cfg', mountPath: configDir },
                { name: 'xtables-lock', mountPath: '/run/xtables.lock' },
              ],
            },
          ],
          volumes: [
            { name: 'run', hostPath: { path: '/run/flannel' } },
            { name: 'cni-plugin', hostPath: { path: '/opt/cni/bin' } },
            { name: 'cni', hostPath: { path: cniDir } },
            { name: 'flannel-cfg', configMap: { name: 'kube-flannel-cfg' } },
            { name: 'xtables-lock', hostPath: { path: '/run/xtables.lock', type: 'FileOrCreate' } },
          ],
        },
      },
    },
  },
];
