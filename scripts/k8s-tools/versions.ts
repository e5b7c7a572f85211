/**
 * The versions of the real Kubernetes node components built by `npm run k8s-tools`: the one place
 * they are written (the wrapper modules' go.mod files must agree; test/unit/k8s-tools.test.ts
 * checks it). Tests and the cluster harness import them from here.
 *
 * flannel's two image tags are the ones the packaged manifest template deploys
 * (bin/u7s/lib/kubeadm-fields.ts), so the images we build are the ones it names.
 */
import { FLANNEL_CNI_PLUGIN_VERSION, FLANNEL_VERSION, TRAEFIK_VERSION } from '../../bin/u7s/lib/kubeadm-fields.ts';

export interface GoSource {
  /** Go module path of the upstream. */
  module: string;
  /** Module version as the Go module proxy serves it. */
  version: string;
  /** The upstream's commit of that tag (the proxy's Origin.Hash, where it gives one), passed to the version ldflags. */
  commit: string;
  /** The tag's commit time (the proxy's Time), used as the build date: no build-time clock in any binary. */
  date: string;
}

export const K8S_TOOLS_VERSIONS = {
  kubernetes: { module: 'k8s.io/kubernetes', version: 'v1.34.12', commit: '26c89157669bdc7e3657302bc1abde758507095b', date: '2026-09-23T17:08:30Z' },
  crio: { module: 'github.com/cri-o/cri-o', version: 'v1.34.0', commit: '5dd0877c91adb0d2b253f8009d12bb6531ca0104', date: '2025-05-14T19:57:38Z' },
  etcd: { module: 'go.etcd.io/etcd/server/v3', version: 'v3.6.5', commit: 'a0614505aff9b8ff469e9c59c2d979a5936d13f4', date: '2025-09-19T19:32:08Z' },
  etcdctl: { module: 'go.etcd.io/etcd/etcdctl/v3', version: 'v3.6.5', commit: 'a0614505aff9b8ff469e9c59c2d979a5936d13f4', date: '2025-09-19T19:32:08Z' },
  coredns: { module: 'github.com/coredns/coredns', version: 'v1.12.1', commit: '707c7c10acd52cb94e959e76ae233d9b76af0854', date: '2025-03-31T19:52:36Z' },
  flannel: { module: 'github.com/flannel-io/flannel', version: FLANNEL_VERSION, commit: '', date: '2025-04-15T17:49:47Z' },
  /**
   * The flannel CNI plugin: github.com/flannel-io/cni-plugin is not served by the module proxy here
   * (403 for every version); its ancestor, containernetworking/plugins' plugins/meta/flannel, is the
   * same plugin before it moved repositories.
   */
  flannelCni: { module: 'github.com/containernetworking/plugins', version: 'v0.9.1', commit: '', date: '2021-02-05T15:38:32Z' },
  criTools: { module: 'sigs.k8s.io/cri-tools', version: 'v1.34.0', commit: 'ca0237b9fec5b675b0bb7bc96b7496e6d54f5ccb', date: '2025-08-21T07:41:07Z' },
} satisfies Record<string, GoSource>;

/**
 * kubeadm of the newest stable Kubernetes minor the module proxy serves, built alone
 * (ensureNewestKubeadm) so the generated kubeadm documents are checked by the kubeadm that
 * removed what the older one accepted (v1beta3 is gone in 1.37). The proxy gives no Origin.Hash
 * for this tag.
 */
export const NEWEST_KUBEADM = { module: 'k8s.io/kubernetes', version: 'v1.37.2', commit: '', date: '2026-10-27T12:01:04Z' } satisfies GoSource;

/**
 * etcdutl of the set's etcd release, built alone (ensureEtcdutl): etcd 3.6's etcdctl no longer
 * restores snapshots, podsec-u7s-etcd-snapshot restores with it.
 */
export const ETCDUTL = { ...K8S_TOOLS_VERSIONS.etcd, module: 'go.etcd.io/etcd/etcdutl/v3' } satisfies GoSource;

/**
 * The ingress controller of the packaged ingress manifest (policies/u7s/manifests/ingress-traefik.ts),
 * built alone (ensureIngressController) for the cluster tests of that layout. v3.6: every module
 * of its build list is served by the module proxy here; v3.7's ACME DNS providers are not all.
 */
export const INGRESS_CONTROLLER = {
  module: 'github.com/traefik/traefik/v3',
  version: TRAEFIK_VERSION,
  commit: '',
  date: '2026-03-26T09:54:04Z',
} satisfies GoSource;

/**
 * The release `podsec-u7s-upgrade` takes the cluster to in the upgrade test: the next minor's
 * control plane, kubelet and kubeadm, and the etcd and CoreDNS its kubeadm lists
 * (cmd/kubeadm/app/constants: DefaultEtcdVersion 3.6.6-0, CoreDNSVersion v1.13.1; the pause image
 * stays 3.10.1). Built apart from the set (ensureUpgradeTarget). The proxy gives no Origin.Hash
 * for the Kubernetes and etcd tags.
 */
export const UPGRADE_TARGET = {
  kubernetes: { module: 'k8s.io/kubernetes', version: 'v1.35.4', commit: '', date: '2026-04-15T18:01:22Z' },
  etcd: { module: 'go.etcd.io/etcd/server/v3', version: 'v3.6.6', commit: '', date: '2025-11-12T05:15:50Z' },
  coredns: { module: 'github.com/coredns/coredns', version: 'v1.13.1', commit: '1db4568df6aaacda6ebbce87717156bd855f8103', date: '2025-10-08T15:26:37Z' },
  etcdTag: '3.6.6-0',
} as const satisfies { kubernetes: GoSource; etcd: GoSource; coredns: GoSource; etcdTag: string };

/** Image tags that are not the version of a Go module. */
export const IMAGE_TAGS = {
  /** kubeadm 1.34's etcd image tag (etcd 3.6.5, image revision 0). */
  etcd: '3.6.5-0',
  /** The pause image: build/pause/linux/pause.c of the Kubernetes module, compiled with this VERSION. */
  pause: '3.10.1',
  flannel: FLANNEL_VERSION,
  /** The manifest's tag for the CNI plugin image; its content is containernetworking/plugins v0.9.1 (above). */
  flannelCniPlugin: FLANNEL_CNI_PLUGIN_VERSION,
} as const;

/** crun from Debian trixie's source package, built against bookworm's libraries. */
export const CRUN = {
  sourcePackage: 'crun',
  debianVersion: '1.21-1',
  version: '1.21',
  suite: 'trixie',
  /** The upstream release tarball of the source package, and its sha256 as trixie's Sources index lists it. */
  orig: 'crun_1.21.orig.tar.gz',
  origSha256: '4bfb700e764a4804a4de3ecf07753f4c391005356d60356df65d80ae0914c486',
} as const;

/** Versions without the leading `v`, as the programs print them. */
export const bare = (version: string) => version.replace(/^v/, '');
