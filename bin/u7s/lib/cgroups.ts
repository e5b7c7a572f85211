/**
 * Whether the node's processes can have resource limits: only when the node sees cgroup v2 with
 * the controllers kubelet and CRI-O need delegated to it (u7s-admin's user manager with
 * podsec-k8s's `Delegate=`, seen through rootlesskit's cgroup namespace). On a cgroup v1 or
 * hybrid host nothing is delegated: the node still runs, but kubelet creates no QoS or pod
 * cgroups, enforces no node-allocatable limits, and CRI-O keeps an infra container per pod (a
 * dropped infra container needs a pod cgroup of its own). Pods' requests and limits are then not
 * enforced. Decided at every start of a launcher, so a host rebooted into cgroup v2 gets limits
 * with no change to the node.
 */
import { readFileSync, statfsSync } from 'node:fs';

export type CgroupMode = 'delegated' | 'none';

const CGROUP2_MAGIC = 0x63677270;
/** What kubelet and CRI-O need to limit pods (cpuset and io are used when present). */
export const REQUIRED_CONTROLLERS = ['cpu', 'memory', 'pids'] as const;

export interface CgroupProbe {
  isCgroup2(path: string): boolean;
  readFile(path: string): string | undefined;
}

export const hostCgroupProbe: CgroupProbe = {
  isCgroup2: (path) => {
    try {
      return statfsSync(path).type === CGROUP2_MAGIC;
    } catch {
      return false;
    }
  },
  readFile: (path) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
};

/** The controllers available at `dir` (a cgroup v2 directory), or [] when it is not one. */
function controllersAt(probe: CgroupProbe, dir: string): string[] {
  if (!probe.isCgroup2(dir)) return [];
  return (probe.readFile(`${dir}/cgroup.controllers`) ?? '').split(/\s+/).filter(Boolean);
}

/** The mode of a process whose cgroup root is /sys/fs/cgroup (inside the node namespace). */
export function cgroupMode(probe: CgroupProbe = hostCgroupProbe, root = '/sys/fs/cgroup'): CgroupMode {
  const controllers = controllersAt(probe, root);
  return REQUIRED_CONTROLLERS.every((c) => controllers.includes(c)) ? 'delegated' : 'none';
}
