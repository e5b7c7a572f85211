/**
 * Where the u7s layer lives: installed programs, root-owned configuration, and the per-user
 * layout of the node account (runtime directory, rootlesskit state, private data directories).
 * Pure data and path arithmetic; nothing here touches the file system.
 */
import { join } from 'node:path';
import { U7S_CONFIG_DIR, U7S_LIBEXEC_BIN } from '../../lib/names.ts';
import { SYSTEM_PATH } from '../../lib/proc.ts';

/** Programs of the u7s layer, as installed. */
export const U7S_PROGRAMS = {
  kubeadmWrapper: '/usr/bin/podsec-u7s-kubeadm',
  nsenter: `${U7S_LIBEXEC_BIN}/nsenter_u7s`,
  rootlesskitLauncher: `${U7S_LIBEXEC_BIN}/u7s-rootlesskit`,
  crioLauncher: `${U7S_LIBEXEC_BIN}/u7s-crio`,
  kubeletLauncher: `${U7S_LIBEXEC_BIN}/u7s-kubelet`,
  startStop: `${U7S_LIBEXEC_BIN}/u7s-start-stop`,
  systemctlShim: `${U7S_LIBEXEC_BIN}/systemctl`,
  rootlessctlShim: `${U7S_LIBEXEC_BIN}/rootlessctl`,
} as const;

/** Programs of other packages, at the paths ALT installs them. */
export const SYSTEM_PROGRAMS = {
  kubeadm: '/usr/bin/kubeadm',
  kubelet: '/usr/bin/kubelet',
  kubectl: '/usr/bin/kubectl',
  etcdctl: '/usr/bin/etcdctl',
  etcdutl: '/usr/bin/etcdutl',
  crio: '/usr/bin/crio',
  crun: '/usr/bin/crun',
  rootlesskit: '/usr/bin/rootlesskit',
  rootlessctl: '/usr/bin/rootlessctl',
} as const;

/** The PATH our programs give the commands they start: ours first, then the system's. */
export const U7S_PATH = `${U7S_LIBEXEC_BIN}:${SYSTEM_PATH}`;

/** Root-owned, group u7s-admin readable: what the wrapper generates for the node account. */
export const U7S_ENV_FILE = `${U7S_CONFIG_DIR}/config/env`;
export const U7S_KUBEADM_CONFIG_DIR = `${U7S_CONFIG_DIR}/config/kubeadm-configs`;
/** The kubeadm documents the wrapper renders for one run (init.yaml, join.yaml). */
export const U7S_RENDERED_DIR = `${U7S_CONFIG_DIR}/config/rendered`;
export const U7S_FLANNEL_MANIFEST = `${U7S_CONFIG_DIR}/manifests/kube-flannel.yml`;
export const U7S_CNI_FLANNEL = `${U7S_CONFIG_DIR}/config/flannel/cni_net.d/10-flannel.conflist`;
export const U7S_MODULES_LOAD = ['/usr/lib/modules-load.d/u7s.conf', '/lib/modules-load.d/u7s.conf'];
export const U7S_ETCD_DIR = '/var/lib/podsec/u7s/etcd';
/** Root-only (0700) home of etcd snapshots: they hold every Secret of the cluster. */
export const PODSEC_ETCD_SNAPSHOT_DIR = '/var/lib/podsec/u7s/etcd-snapshots';
export const KUBERNETES_DIR = '/etc/kubernetes';

/** The per-user layout of a node account (u7s-admin, or a test user). */
export interface UserLayout {
  uid: number;
  gid: number;
  home: string;
  /** /run/user/<uid> */
  runtimeDir: string;
  /** <runtime>/usernetes */
  usernetesRun: string;
  /** rootlesskit --state-dir */
  stateDir: string;
  /** The CRI-O socket CRI-O listens on (the namespace's /run/crio/crio.sock links here). */
  crioSocket: string;
  /** ~/.local/share/usernetes: private data directories bound into the namespace. */
  dataDir: string;
  /** ~/.config/usernetes: CRI-O's configuration, written by the CRI-O launcher. */
  configDir: string;
}

export function userLayout(uid: number, gid: number, home: string): UserLayout {
  const runtimeDir = `/run/user/${uid}`;
  const usernetesRun = join(runtimeDir, 'usernetes');
  return {
    uid,
    gid,
    home,
    runtimeDir,
    usernetesRun,
    stateDir: join(usernetesRun, 'rootlesskit'),
    crioSocket: join(usernetesRun, 'crio', 'crio.sock'),
    dataDir: join(home, '.local', 'share', 'usernetes'),
    configDir: join(home, '.config', 'usernetes'),
  };
}

/** The files in the rootlesskit state directory that say whether the namespace is usable. */
export const stateFiles = (layout: UserLayout) => ({
  childPid: join(layout.stateDir, 'child_pid'),
  /** Written by the launcher's namespace phase after mounts, ports and addresses are in place. */
  ready: join(layout.stateDir, '_child_pid.u7s-ready'),
  apiSocket: join(layout.stateDir, 'api.sock'),
  parentIp: join(layout.usernetesRun, 'parent_ip'),
});

/** The namespace's view of the CRI-O socket (kubeadm's nodeRegistration.criSocket). */
export const NAMESPACE_CRI_SOCKET = '/run/crio/crio.sock';

/**
 * Directories that are private to the namespace: a directory of the node account's data
 * directory (named after the path, `/` -> `_`) is bound over each. /etc/cni/net.d and
 * /opt/cni/bin are private too (upstream gave u7s-admin the host's: root's CNI plugins and
 * configuration must not be writable by the node account).
 */
export const PRIVATE_DIRS = ['/var/lib/kubelet', '/var/lib/cni', '/var/log', '/var/lib/containers', '/var/cache', '/etc/cni/net.d', '/opt/cni/bin'];
export const privateSource = (layout: UserLayout, target: string) => join(layout.dataDir, target.replaceAll('/', '_'));

/** Copy-up symlinks the namespace replaces by private directories (as upstream). */
export const PRIVATE_RUN_ENTRIES = [
  '/run/xtables.lock',
  '/run/netns',
  '/run/runc',
  '/run/crun',
  '/run/flannel',
  '/run/containerd',
  '/run/containers',
  '/run/crio',
  '/etc/containerd',
  '/etc/crio',
];

/** Host directories with CNI plugins, ALT's first. */
export const CNI_PLUGIN_DIRS = ['/usr/libexec/cni', '/usr/lib/cni'];
