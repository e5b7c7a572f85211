/**
 * The pod network through flannel, with host ports. The same document is the `cni-conf.json` of
 * the flannel manifest, whose install-cni init container writes it to /etc/cni/net.d again; one
 * document, so the two cannot differ (upstream packaged cniVersion 0.4.0, the manifest 0.3.1).
 */
export default {
  name: 'cbr0',
  cniVersion: '0.3.1',
  plugins: [
    { type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
};
