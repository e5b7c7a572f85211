/**
 * kubeadm API version of the packaged documents. v1beta3 is what upstream podsec ships and what
 * every supported kubeadm (1.26 and later) reads. kubeadm 1.31 added v1beta4 and deprecated
 * v1beta3; when the oldest supported Kubernetes is 1.31, move to v1beta4: `extraArgs` become
 * lists of {name, value}, and apiServer.timeoutForControlPlane moves to
 * InitConfiguration/JoinConfiguration `timeouts.controlPlaneComponentHealthCheck`.
 */
export const KUBEADM_API_VERSION = 'kubeadm.k8s.io/v1beta3';
