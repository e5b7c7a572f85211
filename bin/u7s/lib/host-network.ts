/**
 * The host's addresses as iproute2 reports them (ip -j), read as data: the external address
 * (the one on the network of the default gateway) and the check that the cluster's networks do
 * not overlap any network the host is on.
 */
import { translator } from '../../lib/i18n.ts';
import { capture, systemTool } from '../../lib/proc.ts';
import { contains, networkOf, overlaps, type Cidr } from './values.ts';

const t = translator('podsec-k8s');

export class NetworkError extends Error {
  readonly expected = true;
}

export interface HostAddress {
  dev: string;
  /** The interface label (eth0, eth0:1), as upstream reported it. */
  label: string;
  address: string;
  prefix: number;
}

export interface HostNetwork {
  addresses: HostAddress[];
  defaultRoutes: { gateway?: string; dev?: string }[];
}

interface IpAddrJson {
  ifname?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number; label?: string }[];
}

export function parseAddresses(json: string): HostAddress[] {
  const links = JSON.parse(json) as IpAddrJson[];
  const out: HostAddress[] = [];
  for (const link of Array.isArray(links) ? links : []) {
    for (const info of link.addr_info ?? []) {
      if (info.family !== 'inet' || typeof info.local !== 'string' || typeof info.prefixlen !== 'number') continue;
      out.push({ dev: link.ifname ?? '', label: info.label ?? link.ifname ?? '', address: info.local, prefix: info.prefixlen });
    }
  }
  return out;
}

export function parseDefaultRoutes(json: string): HostNetwork['defaultRoutes'] {
  const routes = JSON.parse(json) as { dst?: string; gateway?: string; dev?: string }[];
  return (Array.isArray(routes) ? routes : []).filter((r) => r.dst === 'default' || r.dst === undefined).map((r) => ({ gateway: r.gateway, dev: r.dev }));
}

export async function readHostNetwork(): Promise<HostNetwork> {
  const ip = systemTool('ip');
  if (!ip) throw new NetworkError(t('ip (iproute2) is not installed'));
  const [addr, route] = await Promise.all([capture(ip, ['-j', '-4', 'addr', 'show']), capture(ip, ['-j', '-4', 'route', 'show', 'default'])]);
  if (addr.code !== 0 || route.code !== 0)
    throw new NetworkError(t('cannot read the host addresses: {reason}', { reason: (addr.stderr || route.stderr).trim() }));
  return { addresses: parseAddresses(addr.stdout || '[]'), defaultRoutes: parseDefaultRoutes(route.stdout || '[]') };
}

/**
 * The external address: for the first default route, the first address whose network holds its
 * gateway (or, for a route without gateway, the first address of its device).
 */
export function externalAddress(network: HostNetwork): HostAddress | undefined {
  for (const route of network.defaultRoutes) {
    const found = route.gateway
      ? network.addresses.find((a) => contains(networkOf(a.address, a.prefix), route.gateway!))
      : network.addresses.find((a) => a.dev === route.dev);
    if (found) return found;
  }
  return undefined;
}

/** The first overlap of a cluster network with a host network, as upstream's message reports it. */
export function crossing(network: HostNetwork, cluster: { name: string; cidr: Cidr }[]): string | undefined {
  for (const a of network.addresses) {
    const hostNet = networkOf(a.address, a.prefix);
    for (const { cidr } of cluster) {
      if (overlaps(hostNet, cidr)) {
        return t('Interface {dev} supports network {network} intersecting with the internal network {cidr} of the kubernetes cluster', {
          dev: a.label || a.dev,
          network: `${a.address}/${a.prefix}`,
          cidr: cidr.text,
        });
      }
    }
  }
  for (let i = 0; i < cluster.length; i++) {
    for (let j = i + 1; j < cluster.length; j++) {
      if (overlaps(cluster[i]!.cidr, cluster[j]!.cidr)) {
        return t('the {a} {cidrA} overlaps the {b} {cidrB}', {
          a: cluster[i]!.name,
          cidrA: cluster[i]!.cidr.text,
          b: cluster[j]!.name,
          cidrB: cluster[j]!.cidr.text,
        });
      }
    }
  }
  return undefined;
}
