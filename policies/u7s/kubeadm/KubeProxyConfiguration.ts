/** kube-proxy settings a rootless node needs. */
export default {
  apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
  kind: 'KubeProxyConfiguration',
  mode: 'iptables',
  clientConnection: { kubeconfig: '/var/lib/kube-proxy/kubeconfig.conf' },
  // Zero: leave the nf_conntrack sysctls alone. They are host-global and not writable from a user
  // namespace; kube-proxy would fail trying to set them.
  conntrack: { maxPerCore: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
};
