/**
 * The cluster-wide part, used on `kubeadm init` and on a control-plane join (installed as
 * InitClusterConfiguration.yaml; JoinClusterConfiguration.yaml links to it).
 * Run-time fields: KUBEADM_TEMPLATED_FIELDS.ClusterConfiguration.
 */
import { PODSEC_STATE_DIR } from '../../../bin/lib/names.ts';
import { KUBEADM_API_VERSION } from './api.ts';
import { DEFAULT_POD_NETWORK_CIDR, DEFAULT_SERVICE_CIDR } from './templated-fields.ts';

export default {
  apiVersion: KUBEADM_API_VERSION,
  kind: 'ClusterConfiguration',
  clusterName: 'kubernetes',
  apiServer: {
    certSANs: ['127.0.0.1'],
    extraArgs: { 'etcd-servers': 'https://127.0.0.1:2379' },
    timeoutForControlPlane: '4m0s',
  },
  controllerManager: {
    extraArgs: {
      'allocate-node-cidrs': 'true',
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
    dnsDomain: 'cluster.local',
    podSubnet: DEFAULT_POD_NETWORK_CIDR,
    serviceSubnet: DEFAULT_SERVICE_CIDR,
  },
};
