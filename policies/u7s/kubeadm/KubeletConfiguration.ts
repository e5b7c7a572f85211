/**
 * kubelet settings a rootless node needs (upstream applied them by patching
 * /var/lib/kubelet/config.yaml on every start; here they are part of the kubeadm configuration).
 */
import { kubeletPluginsDir } from '../../../bin/lib/names.ts';

export default {
  apiVersion: 'kubelet.config.k8s.io/v1beta1',
  kind: 'KubeletConfiguration',
  // kubelet runs as root of u7s-admin's user namespace: it must not try what only real root can
  // (e.g. writing host sysctls, setting OOM scores below its own).
  featureGates: { KubeletInUserNamespace: true },
  // cgroups are managed directly inside the delegated cgroup of u7s-admin's user manager.
  cgroupDriver: 'cgroupfs',
  cgroupsPerQOS: true,
  enforceNodeAllocatable: [],
  failSwapOn: false,
  // The node shares its file system with the host's other users: evict only when it is nearly full.
  evictionHard: { 'nodefs.available': '3%' },
  // Per-pod ephemeral storage accounting needs root-only file system features.
  localStorageCapacityIsolation: false,
  volumePluginDir: kubeletPluginsDir(),
};
