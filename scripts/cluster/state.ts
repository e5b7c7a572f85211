/**
 * What `npm run cluster -- up` started, kept so later commands (status, exec, kubeconfig, down)
 * find it: the network namespace, each node's nspawn and systemd PIDs, cgroups and overlay, the
 * upstream registry. One cluster per host; the file is root's (0600 in a 0700 directory).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const clusterDir = () => process.env.PODSEC_CLUSTER_DIR || '/run/podsec-cluster';
const stateFile = () => join(clusterDir(), 'cluster.json');

export type NodeRole = 'control-plane' | 'worker';

interface MachineState {
  /** systemd-nspawn's PID. */
  pid: number;
  /** The node's PID 1 (its systemd), the target of nsenter. */
  leader: number;
  cgroups: string[];
}

export interface NodeState extends MachineState {
  /** 1..N; 1 is the first control plane. */
  index: number;
  name: string;
  role: NodeRole;
  /** Runs CRI-O and kubelet as root (scripts/cluster/rootful.ts) instead of podsec-k8s's rootless node. */
  rootful?: boolean;
  address: string;
  /** The overlay's directory (root/, upper/, work/ below it) and its mounted root. */
  overlay: string;
  root: string;
  /** u7s-admin's data directory on the host's disk, bound into the node. */
  data: string;
  log: string;
}

export interface ServiceState {
  pid: number;
  address: string;
  log: string;
}

interface LoadBalancerState {
  /** What kubeadm's controlPlaneEndpoint names: the one haproxy's address, or the address keepalived moves between several. */
  address: string;
  /** Each load balancer host: its own network namespace on the bridge, and haproxy (with keepalived) under one PID namespace there. */
  hosts: (ServiceState & { netns: string })[];
}

export interface ClusterState {
  format: 1;
  /** The process of `up` that made the cluster (while it runs, the cluster is being made). */
  upPid: number;
  netns: string;
  /** The /24's first three octets. */
  subnet: string;
  /** The bridge's own address in the namespace: the nodes' default gateway, where nothing routes further. */
  gateway: string;
  /** Scratch directory: the upstream registry's storage, logs, kubeconfig. */
  work: string;
  platform: string;
  kubernetesVersion: string;
  nodes: NodeState[];
  upstream?: ServiceState;
  /** haproxy in front of the control planes (`--load-balancers N`). */
  loadBalancer?: LoadBalancerState;
  /** The image maker's GPG key on the master, and the trust fingerprint nodes pin. */
  makerKey?: string;
  trustFingerprint?: string;
  /** The commands a wrapper's join refusal printed, run on a rootful node 1 before joining again. */
  joinFixes?: string[];
  /** Forwarder of the apiserver to the host's loopback. */
  apiProxy?: { pids: number[]; port: number; socket: string };
}

export function readState(): ClusterState | undefined {
  if (!existsSync(stateFile())) return undefined;
  return JSON.parse(readFileSync(stateFile(), 'utf8')) as ClusterState;
}

export function writeState(state: ClusterState): void {
  mkdirSync(clusterDir(), { recursive: true, mode: 0o700 });
  const tmp = `${stateFile()}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, stateFile());
}

export function removeState(): void {
  rmSync(stateFile(), { force: true });
}
