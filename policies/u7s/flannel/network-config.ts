/**
 * flannel's network configuration (`net-conf.json` of the flannel manifest). The kubeadm wrapper
 * replaces Network with --pod-network-cidr (MANIFEST_TEMPLATED_FIELDS).
 */
import { DEFAULT_POD_NETWORK_CIDR } from '../../../bin/u7s/lib/kubeadm-fields.ts';

export default {
  Network: DEFAULT_POD_NETWORK_CIDR,
  Backend: { Type: 'vxlan' },
};
