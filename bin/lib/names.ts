/**
 * Names and paths that both the build pipeline and the runtime programs rely on.
 * Pure data only: no imports, no side effects.
 */

export const PACKAGE_NAMES = ['podsec', 'podsec-k8s', 'podsec-k8s-rbac', 'podsec-inotify', 'podsec-dev', 'podsec-icinga', 'podsec-nagios'] as const;
export type PackageName = (typeof PACKAGE_NAMES)[number];

/** Groups created by podsec's %pre. */
export const PODMAN_GROUP = 'podman';
export const PODMAN_DEV_GROUP = 'podman_dev';

/** The rootless Kubernetes account created by podsec-k8s's %pre. */
export const U7S_ADMIN_USER = 'u7s-admin';
export const U7S_ADMIN_GROUP = 'u7s-admin';
export const U7S_ADMIN_HOME = '/var/lib/u7s-admin';
/**
 * kubelet's exec (flex volume) plugin directory of a node account, and kube-controller-manager's:
 * kubeadm's default, /usr/libexec/kubernetes/kubelet-plugins/volume/exec, is not writable by the
 * node account, and a static pod's hostPath there cannot be created.
 */
export const kubeletPluginsDir = (home = U7S_ADMIN_HOME) => `${home}/.local/share/usernetes/kubelet-plugins-exec`;

export const REGISTRY_HOST = 'registry.local';
export const SIGSTORE_HOST = 'sigstore.local';
export const TRIVY_HOST = 'trivy.local';
export const SIGSTORE_PORT = 81;
export const REGISTRY_PORT = 80;

export const PODSEC_CONFIG_DIR = '/etc/podsec';
export const PODSEC_STATE_DIR = '/var/lib/podsec';
export const PODSEC_LIBEXEC_DIR = '/usr/libexec/podsec';
export const U7S_CONFIG_DIR = '/etc/podsec/u7s';
export const U7S_LIBEXEC_BIN = '/usr/libexec/podsec/u7s/bin';

/** The signature server's document root, its lookaside URL as every node reads it, and the makers' staging. */
export const SIGSTORE_ROOT = '/var/sigstore';
export const SIGSTORE_URL = 'http://sigstore.local:81/sigstore/';
export const SIGSTORE_STAGING_URL = 'file:///var/sigstore/sigstore/';
export const SIGSTORE_KEYS_URL = 'http://sigstore.local:81/keys/';

export const CONTAINERS_CONFIG_DIR = '/etc/containers';
