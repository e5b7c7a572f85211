/**
 * Validation of every value that reaches a file or a process: addresses, networks, ports,
 * join secrets, names, versions. A value is accepted only in its documented shape, so nothing a
 * user types can change the structure of a document or the meaning of an argument list.
 */
import { isIPv4 } from 'node:net';
import { translator } from '../../lib/i18n.ts';

const t = translator('podsec-k8s');

export class ValueError extends Error {
  readonly expected = true;
}

const fail = (message: string): never => {
  throw new ValueError(message);
};

/** Text for messages: a value shown quoted, control characters escaped. */
export const shown = (value: string) => JSON.stringify(value);

export function ipv4(value: string, what: string): string {
  if (!isIPv4(value)) fail(t('{what}: {value} is not an IPv4 address', { what, value: shown(value) }));
  return value;
}

function ipToNumber(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

export interface Cidr {
  address: string;
  prefix: number;
  /** First address as a number. */
  start: number;
  /** Number of addresses. */
  size: number;
  text: string;
}

export function parseCidr(value: string, what: string): Cidr {
  const match = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(value);
  if (!match || !isIPv4(match[1]!) || Number(match[2]) > 32) {
    return fail(t('{what}: {value} is not an IPv4 network in CIDR notation (a.b.c.d/n)', { what, value: shown(value) }));
  }
  const prefix = Number(match[2]);
  const size = 2 ** (32 - prefix);
  const address = ipToNumber(match[1]!);
  const start = address - (address % size);
  if (start !== address) {
    fail(t('{what}: {value} has host bits set; the network is {network}', { what, value: value, network: `${numberToIp(start)}/${prefix}` }));
  }
  return { address: match[1]!, prefix, start, size, text: value };
}

/** An address with its interface prefix (192.0.2.10/24): the network it is on. */
export function networkOf(address: string, prefix: number): Cidr {
  const size = 2 ** (32 - prefix);
  const n = ipToNumber(address);
  const start = n - (n % size);
  return { address: numberToIp(start), prefix, start, size, text: `${numberToIp(start)}/${prefix}` };
}

export const overlaps = (a: Cidr, b: Cidr) => a.start < b.start + b.size && b.start < a.start + a.size;
export const contains = (network: Cidr, ip: string) => {
  const n = ipToNumber(ip);
  return n >= network.start && n < network.start + network.size;
};
/** The n-th address of a network (1 = the first host address). */
export const nthAddress = (network: Cidr, n: number) => {
  if (n >= network.size) fail(t('the network {network} is too small', { network: network.text }));
  return numberToIp(network.start + n);
};

export function port(value: string, what: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    fail(t('{what}: {value} is not a port number (1-65535)', { what, value: shown(value) }));
  }
  return Number(value);
}

/** slirp4netns' largest MTU, which rootlesskit uses by default for the fastest pod traffic. */
export const MAX_MTU = 65520;

/** An interface MTU the node namespace can take: IPv4's floor for flannel's VXLAN (576 + 50) up to slirp4netns' ceiling. */
export function mtu(value: string, what: string): number {
  if (!/^\d{3,5}$/.test(value) || Number(value) < 626 || Number(value) > MAX_MTU) {
    fail(t('{what}: {value} is not an MTU (626-65520)', { what, value: shown(value) }));
  }
  return Number(value);
}

const DNS_LABEL = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?';
const DNS_SUBDOMAIN = new RegExp(`^${DNS_LABEL}(\\.${DNS_LABEL})*$`);
const HOST_NAME = /^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$/;

/** A Kubernetes node name or DNS domain: a lower-case DNS subdomain (RFC 1123). */
export function dnsSubdomain(value: string, what: string): string {
  if (value.length > 253 || !DNS_SUBDOMAIN.test(value)) {
    fail(t('{what}: {value} is not a lower-case DNS name (letters, digits, - and .)', { what, value: shown(value) }));
  }
  return value;
}

/** host:port where host is an IPv4 address or a DNS name (the API server endpoint). */
export function endpoint(value: string, what: string): { host: string; port: number; text: string } {
  const match = /^([^:]+):(\d+)$/.exec(value);
  if (!match) return fail(t('{what}: {value} is not HOST:PORT', { what, value: shown(value) }));
  const host = match[1]!;
  if (!isIPv4(host) && (host.length > 253 || !HOST_NAME.test(host))) {
    fail(t('{what}: {value} is not an IPv4 address or a host name', { what, value: shown(host) }));
  }
  return { host, port: port(match[2]!, what), text: value };
}

/** kubeadm bootstrap token: [a-z0-9]{6}.[a-z0-9]{16}. */
export function bootstrapToken(value: string, what: string): string {
  if (!/^[a-z0-9]{6}\.[a-z0-9]{16}$/.test(value))
    fail(t('{what}: {value} is not a bootstrap token (6 and 16 characters a-z0-9, joined by a dot)', { what, value: shown(value) }));
  return value;
}

export function caCertHash(value: string, what: string): string {
  if (!/^sha256:[a-f0-9]{64}$/.test(value)) fail(t('{what}: {value} is not sha256:<64 hex digits>', { what, value: shown(value) }));
  return value;
}

export function certificateKey(value: string, what: string): string {
  if (!/^[a-f0-9]{64}$/.test(value)) fail(t('{what}: {value} is not a certificate key (64 hex digits)', { what, value: shown(value) }));
  return value;
}

export interface KubeVersion {
  major: number;
  minor: number;
  patch: number;
  /** With its leading v: v1.35.4. */
  text: string;
}

/** v1.35.4 (or 1.35.4, or kubeadm's and kubelet's "Kubernetes v1.35.4") -> its numbers; undefined when it is none (a pre-release too). */
export function parseKubeVersion(text: string): KubeVersion | undefined {
  const found = /^(?:Kubernetes\s+)?v?(\d+)\.(\d+)\.(\d+)$/.exec(text.trim());
  if (!found) return undefined;
  const [major, minor, patch] = [found[1]!, found[2]!, found[3]!].map(Number) as [number, number, number];
  return { major, minor, patch, text: `v${major}.${minor}.${patch}` };
}

/** v1.26.3 (the leading v may be left out). */
export function kubeVersion(value: string, what: string): KubeVersion {
  return parseKubeVersion(value) ?? fail(t('{what}: {value} is not a Kubernetes version v1.MINOR.PATCH', { what, value: shown(value) }));
}

/** Numeric order of versions: v1.26.10 > v1.26.9. */
export function compareVersions(a: KubeVersion, b: KubeVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** A registry with an optional path: registry.local, registry.altlinux.org/p11, host:5000/x. */
export function imageRepository(value: string, what: string): string {
  const [host, ...path] = value.split('/');
  const hostOk = host !== undefined && /^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(host) && HOST_NAME.test(host.split(':')[0]!);
  const pathOk = path.every((p) => /^[a-z0-9]+([._-][a-z0-9]+)*$/.test(p));
  if (!hostOk || !pathOk) fail(t('{what}: {value} is not a registry host with an optional path', { what, value: shown(value) }));
  return value;
}

/** An image tag. */
export function imageTag(value: string, what: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(value)) fail(t('{what}: {value} is not an image tag', { what, value: shown(value) }));
  return value;
}

/** A platform path segment: c10f, p11, sisyphus, or a legacy k8s-p10. */
export function platformName(value: string, what: string): string {
  if (!/^[a-z0-9]+([._-][a-z0-9]+)*$/.test(value)) fail(t('{what}: {value} is not a platform name', { what, value: shown(value) }));
  return value;
}

/** A comma-separated list of names (kubeadm phases, preflight checks). */
export function nameList(value: string, what: string, pattern = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/): string[] {
  const items = value.split(',');
  if (items.some((item) => !pattern.test(item))) fail(t('{what}: {value} is not a comma-separated list of names', { what, value: shown(value) }));
  return items;
}

/** Feature gates: Name=true,Other=false. */
export function featureGates(value: string, what: string): Record<string, boolean> {
  const gates: Record<string, boolean> = {};
  for (const item of value.split(',')) {
    const match = /^([A-Za-z][A-Za-z0-9]*)=(true|false)$/.exec(item);
    if (!match) fail(t('{what}: {value} is not a list of Name=true|false', { what, value: shown(value) }));
    else gates[match[1]!] = match[2] === 'true';
  }
  return gates;
}

/** An absolute path without control characters. */
export function absolutePath(value: string, what: string): string {
  if (!value.startsWith('/') || /[\0-\x1f\x7f]/.test(value) || value.split('/').includes('..')) {
    fail(t('{what}: {value} is not an absolute path', { what, value: shown(value) }));
  }
  return value;
}

/** A duration as kubeadm writes it: 24h0m0s, 30m, 0. */
export function duration(value: string, what: string): string {
  if (!/^(0|(\d+h)?(\d+m)?(\d+s)?)$/.test(value) || value === '') fail(t('{what}: {value} is not a duration such as 24h0m0s', { what, value: shown(value) }));
  return value;
}

export function verbosity(value: string, what: string): number {
  if (!/^\d{1,2}$/.test(value) || Number(value) > 10) fail(t('{what}: {value} is not a log level 0-10', { what, value: shown(value) }));
  return Number(value);
}

/** An image path and tag without the registry: c10f/pause:3.9. */
export function imagePathTag(value: string, what: string): string {
  if (!/^[a-z0-9]+([._/-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(value))
    fail(t('{what}: {value} is not an image path with a tag', { what, value: shown(value) }));
  return value;
}

/** A network interface name (at most 15 characters). */
export function interfaceName(value: string, what: string): string {
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(value)) fail(t('{what}: {value} is not a network interface name', { what, value: shown(value) }));
  return value;
}
