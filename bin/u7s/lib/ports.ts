/**
 * The ports a node publishes from its namespace on the host (rootlesskit's builtin port driver):
 * parent <address>:<port> -> namespace port. Which ones depends on the role.
 */
export type Role = 'control-plane' | 'worker';
export type CniPlugin = 'flannel' | 'calico';

interface PortForward {
  proto: 'tcp' | 'udp';
  parentPort: number;
  childPort: number;
}

const CONTROL_PLANE_TCP = [2379, 2380, 10250, 10255, 10256];
const WORKER_TCP = [10250, 10255, 10256];
/** flannel's VXLAN, and the namespace's DNS port 53 published as 6053 (no privileged host port). */
const ALWAYS_UDP: PortForward[] = [
  { proto: 'udp', parentPort: 8472, childPort: 8472 },
  { proto: 'udp', parentPort: 6053, childPort: 53 },
];
const CALICO: PortForward[] = [
  { proto: 'tcp', parentPort: 5473, childPort: 5473 },
  { proto: 'udp', parentPort: 4789, childPort: 4789 },
  { proto: 'udp', parentPort: 51820, childPort: 51820 },
];

export function rolePorts(role: Role, options: { apiserverPort?: number; cni?: CniPlugin } = {}): PortForward[] {
  const tcp = role === 'control-plane' ? [...CONTROL_PLANE_TCP, options.apiserverPort ?? 6443] : WORKER_TCP;
  const forwards: PortForward[] = [...new Set(tcp)].sort((a, b) => a - b).map((p) => ({ proto: 'tcp', parentPort: p, childPort: p }));
  forwards.push(...ALWAYS_UDP);
  if (options.cni === 'calico') forwards.push(...CALICO);
  return forwards;
}

export const portText = (p: PortForward) => (p.parentPort === p.childPort ? `${p.parentPort}/${p.proto}` : `${p.parentPort}->${p.childPort}/${p.proto}`);
