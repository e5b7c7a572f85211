/**
 * Which host ports a rootless node publishes for Kubernetes Services, and how to get there from
 * what rootlesskit publishes now. A NodePort must answer on the node's address from outside, but
 * kube-proxy's rules live in the node's namespace, behind rootlesskit: every nodePort of a
 * NodePort or LoadBalancer Service is published as the same port, and a LoadBalancer's own port
 * is published too, to its nodePort (k3s's rootless mode publishes LoadBalancer ports this way).
 */
import type { PortSpec, PortStatus } from './rootlesskit-api.ts';

export interface ServicePort {
  protocol?: string;
  port: number;
  nodePort?: number;
}

export interface Service {
  metadata: { namespace?: string; name: string };
  spec?: { type?: string; ports?: ServicePort[] };
}

interface Forward {
  proto: 'tcp' | 'udp';
  parentPort: number;
  childPort: number;
  /** namespace/name of the Service, for the log. */
  service: string;
}

const key = (f: { proto: string; parentPort: number }) => `${f.proto}/${f.parentPort}`;

/** The forwards the Services ask for; a host port asked twice goes to the first Service (in the given order). */
export function serviceForwards(services: Iterable<Service>): Forward[] {
  const wanted = new Map<string, Forward>();
  for (const s of services) {
    const type = s.spec?.type;
    if (type !== 'NodePort' && type !== 'LoadBalancer') continue;
    const service = `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`;
    for (const p of s.spec?.ports ?? []) {
      const proto = (p.protocol ?? 'TCP').toLowerCase();
      if ((proto !== 'tcp' && proto !== 'udp') || !p.nodePort) continue;
      const add = (f: Forward) => wanted.has(key(f)) || wanted.set(key(f), f);
      add({ proto, parentPort: p.nodePort, childPort: p.nodePort, service });
      if (type === 'LoadBalancer') add({ proto, parentPort: p.port, childPort: p.nodePort, service });
    }
  }
  return [...wanted.values()];
}

interface PortChanges {
  add: Forward[];
  /** rootlesskit's ids of the forwards to remove. */
  remove: PortStatus[];
  /** Asked for, but the host port is a forward of the node's own (its role's ports, or an admin's). */
  taken: Forward[];
}

/**
 * From rootlesskit's forwards now to the wanted ones. Only forwards this publisher made (`ours`:
 * their proto/port keys) are ever removed; a port the node itself or an admin published is left
 * alone, and a Service asking for it is reported instead.
 */
export function portChanges(wanted: Forward[], current: PortStatus[], ours: ReadonlySet<string>): PortChanges {
  const wantedKeys = new Map(wanted.map((f) => [key(f), f]));
  const currentKeys = new Map(current.map((c) => [key(c.spec), c]));
  const changes: PortChanges = { add: [], remove: [], taken: [] };
  for (const c of current) {
    const k = key(c.spec);
    const w = wantedKeys.get(k);
    if (ours.has(k) && (!w || w.childPort !== c.spec.childPort)) changes.remove.push(c);
  }
  for (const [k, f] of wantedKeys) {
    const c = currentKeys.get(k);
    if (!c) changes.add.push(f);
    else if (!ours.has(k)) changes.taken.push(f);
    else if (c.spec.childPort !== f.childPort) changes.add.push(f);
  }
  return changes;
}

export const forwardKey = key;

/** The rootlesskit spec of a forward, on the node's address. */
export const portSpec = (f: Forward, parentIP: string): PortSpec => ({ proto: f.proto, parentIP, parentPort: f.parentPort, childPort: f.childPort });
