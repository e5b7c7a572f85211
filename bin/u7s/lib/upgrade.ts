/**
 * What a minor upgrade of the cluster may do, decided before anything changes: one minor at a
 * time (kubeadm's own rule, which upstream's users worked around with unpackaged scripts), the
 * installed kubeadm and kubelet of the target version, and the cluster's kubeadm feature gates
 * as the target's kubeadm accepts them. Pure: upgrade-run.ts asks the node and the cluster.
 */
import YAML from 'yaml';
import { translator } from '../../lib/i18n.ts';
import { parseKubeVersion, type KubeVersion } from './values.ts';

const t = translator('podsec-k8s');

const minorOf = (v: KubeVersion) => `v${v.major}.${v.minor}`;

/** Why `current` -> `target` is not one upgrade step (a patch or the next minor), or undefined when it is. */
export function stepProblem(current: KubeVersion, target: KubeVersion): string | undefined {
  const same = current.major === target.major && current.minor === target.minor;
  if (same && target.patch === current.patch) return t('the cluster already runs {version}', { version: current.text });
  if (current.major !== target.major)
    return t('{target} is another major version than the cluster ({current}): kubeadm upgrades within one', { target: target.text, current: current.text });
  if (target.minor < current.minor || (same && target.patch < current.patch))
    return t('{target} is older than the cluster ({current}): kubeadm does not downgrade', { target: target.text, current: current.text });
  if (target.minor > current.minor + 1)
    return t('{target} skips a minor: upgrade one minor at a time, {current} to {next} first', {
      target: target.text,
      current: current.text,
      next: `v${current.major}.${current.minor + 1}`,
    });
  return undefined;
}

/**
 * kubeadm's own feature gates (not the components'), from kubeadm's sources of 1.34, 1.35 and
 * 1.37: from `lockedFrom` on a gate can only be set to `value`, from `removedIn` on kubeadm
 * refuses the gate's name. NodeLocalCRISocket's 1.34 source says GA in 1.36; 1.37 no longer has it.
 */
const KUBEADM_GATES: Record<string, { value: boolean; lockedFrom?: number; removedIn: number }> = {
  WaitForAllControlPlaneComponents: { value: true, lockedFrom: 34, removedIn: 35 },
  ControlPlaneKubeletLocalMode: { value: true, lockedFrom: 35, removedIn: 36 },
  NodeLocalCRISocket: { value: true, lockedFrom: 36, removedIn: 37 },
  PublicKeysECDSA: { value: false, removedIn: 37 },
};

interface GateChanges {
  /** Gates the target's kubeadm locks or no longer knows, set to the value it has anyway: taken out of the cluster's configuration. */
  drop: string[];
  /** Gates set to a value the target's kubeadm refuses: the upgrade stops, the message says what to decide. */
  refuse: string[];
}

/** What the cluster's kubeadm feature gates need before kubeadm of minor `targetMinor` takes them. */
export function gateChanges(gates: Record<string, boolean>, targetMinor: number): GateChanges {
  const changes: GateChanges = { drop: [], refuse: [] };
  for (const [name, value] of Object.entries(gates).sort(([a], [b]) => a.localeCompare(b))) {
    const known = KUBEADM_GATES[name];
    if (!known) continue;
    const locked = known.lockedFrom !== undefined && targetMinor >= known.lockedFrom;
    if (!locked && targetMinor < known.removedIn) continue;
    if (value === known.value) changes.drop.push(name);
    else
      changes.refuse.push(
        t(
          'the cluster sets the kubeadm feature gate {gate}={value}; kubeadm 1.{minor} has it always {fixed}. Remove it from ' +
            'ClusterConfiguration.featureGates (kubectl -n kube-system edit configmap kubeadm-config) once the cluster can live with that, then upgrade',
          { gate: name, value: String(value), minor: targetMinor, fixed: String(known.value) },
        ),
      );
  }
  return changes;
}

type Doc = Record<string, unknown>;

/** The ClusterConfiguration of kube-system/kubeadm-config's data (YAML text), as a mapping. */
export function parseClusterConfiguration(text: string): Doc {
  const doc: unknown = YAML.parse(text);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || (doc as Doc).kind !== 'ClusterConfiguration')
    throw new Error(t('kube-system/kubeadm-config holds no ClusterConfiguration'));
  return doc as Doc;
}

export function clusterVersion(cluster: Doc): KubeVersion {
  const version = typeof cluster.kubernetesVersion === 'string' ? parseKubeVersion(cluster.kubernetesVersion) : undefined;
  if (!version) throw new Error(t('kube-system/kubeadm-config names no kubernetesVersion'));
  return version;
}

export const clusterGates = (cluster: Doc): Record<string, boolean> => {
  const gates = cluster.featureGates;
  if (typeof gates !== 'object' || gates === null) return {};
  return Object.fromEntries(Object.entries(gates).filter((entry): entry is [string, boolean] => typeof entry[1] === 'boolean'));
};

/** The ClusterConfiguration with `gates` taken out (featureGates removed when it ends empty). */
export function withoutGates(cluster: Doc, gates: string[]): Doc {
  const kept = Object.fromEntries(Object.entries(clusterGates(cluster)).filter(([name]) => !gates.includes(name)));
  const { featureGates: _, ...rest } = cluster;
  return Object.keys(kept).length ? { ...rest, featureGates: kept } : rest;
}

/** The ClusterConfiguration kubeadm of the target version lists the images of (`kubeadm config images list --config`). */
export const atVersion = (cluster: Doc, version: KubeVersion): string => YAML.stringify({ ...cluster, kubernetesVersion: version.text }, { lineWidth: 0 });

/** Problems of the installed programs: both must be the target's before the control plane or the node is upgraded. */
export function installedProblems(target: KubeVersion, installed: { kubeadm?: string; kubelet?: string }): string[] {
  const problems: string[] = [];
  for (const program of ['kubeadm', 'kubelet'] as const) {
    const found = installed[program] ? parseKubeVersion(installed[program]) : undefined;
    if (found?.text !== target.text)
      problems.push(
        t('{program} {found} is installed; install the {minor} packages of {program} ({version}) first', {
          program,
          found: found?.text ?? installed[program] ?? t('(none)'),
          minor: minorOf(target),
          version: target.text,
        }),
      );
  }
  return problems;
}

/** kubelet 1.35 refuses cgroup v1 unless failCgroupV1: false (u7s-kubelet sets it on such hosts); kubeadm's check must then be skipped too. */
const CGROUP_V1_REFUSED_FROM = 35;

/**
 * The flags kubeadm upgrade needs on this host for `target`: on a cgroup v1 or hybrid host, from
 * 1.35 on, kubeadm's SystemVerification fails on cgroup v1 even with failCgroupV1: false and asks
 * for the check to be skipped (system-validators' CgroupsValidator).
 */
export function kubeadmUpgradeFlags(target: KubeVersion, cgroupV2: boolean): string[] {
  return !cgroupV2 && target.minor >= CGROUP_V1_REFUSED_FROM ? ['--ignore-preflight-errors=SystemVerification'] : [];
}
