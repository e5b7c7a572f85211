/** kubeadm init, node part. Run-time fields: KUBEADM_TEMPLATED_FIELDS.InitConfiguration. */
import { KUBEADM_API_VERSION } from './api.ts';
import { CRI_SOCKET, DEFAULT_APISERVER_BIND_PORT } from '../../../bin/u7s/lib/kubeadm-fields.ts';

export const nodeRegistration = {
  criSocket: CRI_SOCKET,
  imagePullPolicy: 'IfNotPresent',
  // null (not []): kubeadm then applies its default taints (the control-plane taint on masters).
  taints: null,
};

export default {
  apiVersion: KUBEADM_API_VERSION,
  kind: 'InitConfiguration',
  localAPIEndpoint: { bindPort: DEFAULT_APISERVER_BIND_PORT },
  nodeRegistration,
};
