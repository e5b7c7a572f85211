/**
 * A node that is also podsec's master (the seed's "Only Master" layout): /etc/hosts binds
 * registry.local and sigstore.local to the host's address, which inside the node namespace is
 * tap0's own address (u7s-rootlesskit puts it there for Kubernetes). Without help, CRI-O's pulls
 * and the wrapper's would connect to the namespace itself, where nothing listens. These routes
 * send exactly those services' TCP ports on that address out through slirp4netns to the host,
 * where the registry and the signature server listen; everything else on the address stays
 * local to the namespace. Linux checks the `local` table first (rule 0), so it moves behind a
 * rule for those ports, and tap0 accepts the answers, whose source is its own address.
 */
import { REGISTRY_HOST, REGISTRY_PORT, SIGSTORE_HOST, SIGSTORE_PORT } from '../../lib/names.ts';
import { bindingsOf, parseHosts } from '../../lib/hosts.ts';

/** The routing table and rule preferences used inside the namespace (it has no others). */
export const HOST_SERVICES_TABLE = 100;
const SERVICE_RULE_PREF = 50;
const LOCAL_RULE_PREF = 100;

/** Ports of podsec's services that /etc/hosts puts on `address` (the resolver uses the first binding). */
export function servicesOn(hostsText: string, address: string): number[] {
  const lines = parseHosts(hostsText);
  const on = (name: string) => bindingsOf(lines, name)[0]?.address === address;
  return [...(on(REGISTRY_HOST) ? [REGISTRY_PORT] : []), ...(on(SIGSTORE_HOST) ? [SIGSTORE_PORT] : [])];
}

/** `ip` argument lists that route those ports of `address` to slirp4netns' gateway; each is idempotent given `rules` (ip rule show). */
export function hostServiceRoutes(address: string, ports: number[], gateway: string, rules: string): string[][] {
  if (!ports.length) return [];
  const has = (pref: number, text: string) => rules.split('\n').some((line) => line.startsWith(`${pref}:`) && line.includes(text));
  const commands: string[][] = [['route', 'replace', `${address}/32`, 'via', gateway, 'dev', 'tap0', 'onlink', 'table', String(HOST_SERVICES_TABLE)]];
  for (const port of ports) {
    if (!has(SERVICE_RULE_PREF, `dport ${port} `)) {
      commands.push([
        'rule',
        'add',
        'pref',
        String(SERVICE_RULE_PREF),
        'to',
        `${address}/32`,
        'ipproto',
        'tcp',
        'dport',
        String(port),
        'table',
        String(HOST_SERVICES_TABLE),
      ]);
    }
  }
  if (!has(LOCAL_RULE_PREF, 'lookup local')) commands.push(['rule', 'add', 'pref', String(LOCAL_RULE_PREF), 'lookup', 'local']);
  if (has(0, 'lookup local')) commands.push(['rule', 'del', 'pref', '0', 'lookup', 'local']);
  return commands;
}
