/**
 * The fields of the packaged kubeadm documents and cluster manifests that the kubeadm wrapper
 * fills in at run time, and the defaults it uses. This is the one list the wrapper works from:
 * a field listed with a `default` is present in the packaged document with that value; a field
 * without one is absent from the packaged document.
 *
 * Paths are dotted; `[n]` indexes a list, and a key that contains a dot is written in brackets:
 * `data[net-conf.json]` (see `pathSegments`). A flag name after `extraArgs` is a key of v1beta3's
 * flag map or the `name` of an item of v1beta4's {name, value} list (kubeadm-documents.ts setPath).
 */
import { REGISTRY_HOST } from '../../lib/names.ts';

export const DEFAULT_POD_NETWORK_CIDR = '10.244.0.0/16';
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';
/** The cluster DNS Service address: the 10th address of the default service CIDR. */
export const DEFAULT_CLUSTER_DNS_IP = '10.96.0.10';
export const DEFAULT_APISERVER_BIND_PORT = 6443;
export const DEFAULT_DNS_DOMAIN = 'cluster.local';
/** The CRI-O socket inside the u7s namespace (a symlink to u7s-admin's runtime dir). */
export const CRI_SOCKET = 'unix:///run/crio/crio.sock';

/** Image names in the manifests are placeholders `registry.local/<platform>/<name>:<tag>`. */
export const PLATFORM_PLACEHOLDER = '<platform>';
export const placeholderImage = (name: string, tag: string) => `${REGISTRY_HOST}/${PLATFORM_PLACEHOLDER}/${name}:${tag}`;

export interface TemplatedField {
  path: string;
  /** What the wrapper writes there. */
  value: string;
  /** The value in the packaged document; absent means the field is left out of it. */
  default?: unknown;
}

const NODE_NAME: TemplatedField = { path: 'nodeRegistration.name', value: 'the node name (--node-name, else the host name)' };
const SKIP_PHASES: TemplatedField = { path: 'skipPhases', value: '--skip-phases (list)' };

/** What a control-plane node is given in InitConfiguration (prefix '') and in a control-plane join. */
const controlPlaneFields = (prefix: string, hostIp: string): TemplatedField[] => [
  { path: `${prefix}localAPIEndpoint.advertiseAddress`, value: `--apiserver-advertise-address, else ${hostIp}` },
  { path: `${prefix}localAPIEndpoint.bindPort`, value: '--apiserver-bind-port', default: DEFAULT_APISERVER_BIND_PORT },
  { path: `${prefix}certificateKey`, value: '--certificate-key' },
];

const joinDiscovery: TemplatedField[] = [
  { path: 'discovery.bootstrapToken.apiServerEndpoint', value: 'the <host>:<port> argument of kubeadm join' },
  { path: 'discovery.bootstrapToken.token', value: '--discovery-token, else --token' },
  { path: 'discovery.bootstrapToken.caCertHashes', value: '--discovery-token-ca-cert-hash (list)' },
  { path: 'discovery.bootstrapToken.unsafeSkipCAVerification', value: '--discovery-token-unsafe-skip-ca-verification' },
  { path: 'discovery.tlsBootstrapToken', value: '--tls-bootstrap-token, else --token' },
  { path: 'discovery.file.kubeConfigPath', value: '--discovery-file (then there is no bootstrapToken)' },
  NODE_NAME,
  SKIP_PHASES,
];

/** Per kubeadm document (named by its kind; the installed files are <kind>.yaml). */
export const KUBEADM_TEMPLATED_FIELDS = {
  InitConfiguration: [
    ...controlPlaneFields('', 'the host IP of the default route'),
    NODE_NAME,
    { path: 'bootstrapTokens', value: '--token and --token-ttl' },
    SKIP_PHASES,
  ],
  ClusterConfiguration: [
    { path: 'controlPlaneEndpoint', value: '--control-plane-endpoint, else <advertise address>:<bind port>' },
    { path: 'kubernetesVersion', value: 'the selected Kubernetes version, without the leading v' },
    { path: 'imageRepository', value: 'registry and platform path, e.g. registry.local/p11' },
    { path: 'etcd.local.imageRepository', value: 'same as imageRepository' },
    { path: 'etcd.local.serverCertSANs', value: '[advertise address, 127.0.0.1]' },
    { path: 'etcd.local.peerCertSANs', value: '[advertise address]' },
    { path: 'controllerManager.extraArgs.cluster-cidr', value: '--pod-network-cidr', default: DEFAULT_POD_NETWORK_CIDR },
    { path: 'controllerManager.extraArgs.service-cluster-ip-range', value: '--service-cidr', default: DEFAULT_SERVICE_CIDR },
    { path: 'networking.podSubnet', value: '--pod-network-cidr', default: DEFAULT_POD_NETWORK_CIDR },
    { path: 'networking.serviceSubnet', value: '--service-cidr', default: DEFAULT_SERVICE_CIDR },
    { path: 'networking.dnsDomain', value: '--service-dns-domain', default: DEFAULT_DNS_DOMAIN },
    { path: 'certificatesDir', value: '--cert-dir' },
    { path: 'featureGates', value: '--feature-gates' },
    { path: 'etcd.local.imageTag', value: 'the newest etcd tag of the registry, with U7S_SETAVAILABLEIMAGES=yes' },
    { path: 'dns.imageTag', value: 'the newest coredns tag of the registry, with U7S_SETAVAILABLEIMAGES=yes' },
  ],
  JoinConfiguration: joinDiscovery,
  JoinControlPlaneConfiguration: [...joinDiscovery, ...controlPlaneFields('controlPlane.', 'the host IP')],
  KubeletConfiguration: [],
  KubeProxyConfiguration: [],
} satisfies Record<string, TemplatedField[]>;

export const FLANNEL_VERSION = 'v0.26.7';
export const FLANNEL_CNI_PLUGIN_VERSION = 'v1.6.2-flannel1';
export const COREDNS_VERSION = 'v1.11.3';
/** The ingress controller of the packaged ingress manifest (policies/u7s/manifests/ingress-traefik.ts). */
export const TRAEFIK_VERSION = 'v3.6.12';

/** Per manifest, per document (`<kind>/<metadata.name>`). */
export const MANIFEST_TEMPLATED_FIELDS = {
  'kube-flannel': {
    'ConfigMap/kube-flannel-cfg': [{ path: 'data[net-conf.json]', value: 'net-conf.json with Network = --pod-network-cidr' }],
    'DaemonSet/kube-flannel-ds': [
      {
        path: 'spec.template.spec.initContainers[0].image',
        value: 'flannel-cni-plugin image on the selected registry and platform',
        default: placeholderImage('flannel-cni-plugin', FLANNEL_CNI_PLUGIN_VERSION),
      },
      {
        path: 'spec.template.spec.initContainers[1].image',
        value: 'flannel image on the selected registry and platform',
        default: placeholderImage('flannel', FLANNEL_VERSION),
      },
      {
        path: 'spec.template.spec.containers[0].image',
        value: 'flannel image on the selected registry and platform',
        default: placeholderImage('flannel', FLANNEL_VERSION),
      },
    ],
  },
  coredns: {
    'Deployment/coredns': [
      {
        path: 'spec.template.spec.containers[0].image',
        value: 'the coredns image kubeadm lists for the selected version',
        default: placeholderImage('coredns', COREDNS_VERSION),
      },
    ],
    'Service/kube-dns': [{ path: 'spec.clusterIP', value: 'the 10th address of --service-cidr', default: DEFAULT_CLUSTER_DNS_IP }],
  },
} satisfies Record<string, Record<string, TemplatedField[]>>;

/** `a.b[0][c.d]` -> ['a', 'b', 0, 'c.d']. */
export function pathSegments(path: string): (string | number)[] {
  return [...path.matchAll(/([^.[\]]+)|\[([^\]]+)\]/g)].map(([, key, bracketed]) =>
    key !== undefined ? key : /^\d+$/.test(bracketed!) ? Number(bracketed) : bracketed!,
  );
}
