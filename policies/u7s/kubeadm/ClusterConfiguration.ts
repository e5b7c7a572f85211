/**
 * The cluster-wide part, used on `kubeadm init` and on a control-plane join (installed as
 * InitClusterConfiguration.yaml; JoinClusterConfiguration.yaml links to it).
 * Run-time fields: KUBEADM_TEMPLATED_FIELDS.ClusterConfiguration.
 */
import { kubeletPluginsDir, PODSEC_STATE_DIR, U7S_CONFIG_DIR } from '../../../bin/lib/names.ts';
import { KUBEADM_API_VERSION } from './api.ts';
import { DEFAULT_DNS_DOMAIN, DEFAULT_POD_NETWORK_CIDR, DEFAULT_SERVICE_CIDR } from '../../../bin/u7s/lib/kubeadm-fields.ts';

/**
 * API audit, configured here so kubeadm writes it into kube-apiserver.yaml (upstream edited the
 * manifest after init). The policy is read from podsec's root-owned file, so the audited
 * identity (u7s-admin, whose apiserver writes the log) cannot change what is audited.
 */
const AUDIT_POLICY = `${U7S_CONFIG_DIR}/audit/policy.yaml`;
const AUDIT_LOG_DIR = '/etc/kubernetes/audit';

export default {
  apiVersion: KUBEADM_API_VERSION,
  kind: 'ClusterConfiguration',
  clusterName: 'kubernetes',
  apiServer: {
    certSANs: ['127.0.0.1'],
    extraArgs: {
      'etcd-servers': 'https://127.0.0.1:2379',
      'audit-policy-file': AUDIT_POLICY,
      'audit-log-path': `${AUDIT_LOG_DIR}/audit.log`,
      'audit-log-maxsize': '500',
      'audit-log-maxbackup': '3',
    },
    extraVolumes: [
      { name: 'audit-policy', hostPath: AUDIT_POLICY, mountPath: AUDIT_POLICY, readOnly: true, pathType: 'File' },
      { name: 'audit-log', hostPath: AUDIT_LOG_DIR, mountPath: AUDIT_LOG_DIR, readOnly: false, pathType: 'DirectoryOrCreate' },
    ],
    timeoutForControlPlane: '4m0s',
  },
  controllerManager: {
    extraArgs: {
      'allocate-node-cidrs': 'true',
      // kubeadm mounts this directory into the static pod (its default is not the node account's to create).
      'flex-volume-plugin-dir': kubeletPluginsDir(),
      'cluster-cidr': DEFAULT_POD_NETWORK_CIDR,
      'service-cluster-ip-range': DEFAULT_SERVICE_CIDR,
    },
  },
  scheduler: {},
  dns: {},
  etcd: {
    local: {
      dataDir: `${PODSEC_STATE_DIR}/u7s/etcd`,
      // Peers arrive through rootlesskit's port forwarder, which connects from inside the
      // namespace, so etcd listens on every address. Upstream's `enable-v2: 'true'` is dropped:
      // nothing here uses the v2 API (flannel uses the Kubernetes API) and etcd 3.6 rejects the flag.
      extraArgs: { 'listen-peer-urls': 'https://0.0.0.0:2380' },
    },
  },
  networking: {
    dnsDomain: DEFAULT_DNS_DOMAIN,
    podSubnet: DEFAULT_POD_NETWORK_CIDR,
    serviceSubnet: DEFAULT_SERVICE_CIDR,
  },
};
