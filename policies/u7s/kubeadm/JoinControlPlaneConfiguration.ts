/**
 * kubeadm join of a control-plane node (upstream's file name had a typo, "Confijuration").
 * Run-time fields: KUBEADM_TEMPLATED_FIELDS.JoinControlPlaneConfiguration.
 */
import join from './JoinConfiguration.ts';
import { DEFAULT_APISERVER_BIND_PORT } from '../../../bin/u7s/lib/kubeadm-fields.ts';

export default {
  ...join,
  controlPlane: { localAPIEndpoint: { bindPort: DEFAULT_APISERVER_BIND_PORT } },
};
