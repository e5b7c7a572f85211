/**
 * kubeadm API version of the packaged documents (the templates admins may tune). v1beta3 is what
 * upstream podsec ships and what every kubeadm from 1.26 to 1.36 reads. The wrapper does not hand
 * them to kubeadm as they are: it brings them to the API the installed kubeadm reads, v1beta4
 * from 1.31 on (1.37 no longer reads v1beta3), with kubeadm's own conversion rules
 * (bin/u7s/lib/kubeadm-documents.ts toKubeadmApi). When the oldest supported Kubernetes is 1.31,
 * write these in v1beta4.
 */
export const KUBEADM_API_VERSION = 'kubeadm.k8s.io/v1beta3';
