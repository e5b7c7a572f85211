/**
 * What a kubelet in a user namespace cannot run without, applied to the configuration kubeadm
 * wrote (/var/lib/kubelet/config.yaml). A cluster made by our wrapper already has these values
 * (KubeletConfiguration.yaml); a node joining a cluster made otherwise gets them here. Maps are
 * merged key by key (upstream replaced whole maps, dropping the cluster's feature gates).
 */
import YAML from 'yaml';
import { kubeletPluginsDir, U7S_ADMIN_HOME } from '../../lib/names.ts';
import type { CgroupMode } from './cgroups.ts';

interface KubeletHost {
  /** Whether cgroup v2 controllers are delegated to the node (cgroups.ts). */
  cgroups: CgroupMode;
  /** kubelet's minor version (1.MINOR), when known. */
  minor?: number;
}

/** failCgroupV1 exists from kubelet 1.31 on (and defaults to true from 1.35 on). */
const FAIL_CGROUP_V1_SINCE = 31;

export const ROOTLESS_KUBELET_SETTINGS = (home = U7S_ADMIN_HOME, host: KubeletHost = { cgroups: 'delegated' }) => ({
  featureGates: { KubeletInUserNamespace: true },
  cgroupDriver: 'cgroupfs',
  failSwapOn: false,
  localStorageCapacityIsolation: false,
  volumePluginDir: kubeletPluginsDir(home),
  // Without delegated controllers kubelet can create no QoS or pod cgroups and enforce no limits.
  ...(host.cgroups === 'delegated'
    ? { cgroupsPerQOS: true }
    : {
        cgroupsPerQOS: false,
        enforceNodeAllocatable: [],
        ...(host.minor !== undefined && host.minor >= FAIL_CGROUP_V1_SINCE ? { failCgroupV1: false } : {}),
      }),
});

/** `kubelet --version` ("Kubernetes v1.34.12") -> 34. */
export function kubeletMinor(versionText: string): number | undefined {
  const minor = /\bv?1\.(\d+)\.\d+/.exec(versionText)?.[1];
  return minor === undefined ? undefined : Number(minor);
}

type Doc = Record<string, unknown>;
const isMap = (value: unknown): value is Doc => typeof value === 'object' && value !== null && !Array.isArray(value);

export function deepMerge(base: Doc, over: Doc): Doc {
  const out: Doc = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = isMap(value) && isMap(out[key]) ? deepMerge(out[key] as Doc, value) : value;
  return out;
}

/** The patched document, or undefined when nothing changes. Throws on a document that is not a mapping. */
export function patchKubeletConfig(text: string, home?: string, host?: KubeletHost): string | undefined {
  const parsed: unknown = YAML.parse(text);
  if (!isMap(parsed)) throw new Error('not a YAML mapping');
  const patched = deepMerge(parsed, ROOTLESS_KUBELET_SETTINGS(home, host));
  if (JSON.stringify(patched) === JSON.stringify(parsed)) return undefined;
  return YAML.stringify(patched, { indent: 2, lineWidth: 0 });
}

/** kubeadm's /var/lib/kubelet/kubeadm-flags.env: KUBELET_KUBEADM_ARGS="--a=b --c=d" -> ['--a=b', '--c=d']. */
export function kubeadmFlags(values: Map<string, string>): string[] {
  return (values.get('KUBELET_KUBEADM_ARGS') ?? '').split(/\s+/).filter(Boolean);
}
