/** kubeadm join of a worker. Run-time fields: KUBEADM_TEMPLATED_FIELDS.JoinConfiguration. */
import { KUBEADM_API_VERSION } from './api.ts';
import { nodeRegistration } from './InitConfiguration.ts';

export default {
  apiVersion: KUBEADM_API_VERSION,
  kind: 'JoinConfiguration',
  discovery: { timeout: '5m0s' },
  nodeRegistration,
};
