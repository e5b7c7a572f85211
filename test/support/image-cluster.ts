/**
 * A private network for multi-node tests: a network namespace the test creates, a bridge in it,
 * and booted nodes whose veths hang on that bridge, with static addresses from an RFC 5737
 * documentation /24 that the host does not use itself (some CI machines number their own
 * interface from TEST-NET-1). The namespace has no other interface and no route out,
 * so nothing the nodes send can reach the host's interfaces. Everything is torn down by
 * `close()`: nodes stopped by PID, overlays unmounted, the namespace deleted.
 */
import { sleep } from '../../scripts/image/cache.ts';
import { ip } from './image-nspawn.ts';
import { type BootOptions, bootNode, type Node } from './nspawn.ts';
import { mountOverlay } from './rootfs.ts';

/** RFC 5737 documentation networks (never routed), in order of preference. */
export const SUBNET_CANDIDATES = ['198.51.100', '203.0.113', '192.0.2'];
export const BRIDGE = 'podsecbr0';

/** The first candidate /24 that no host interface has an address in. */
export async function pickSubnet(): Promise<string> {
  const host = await ip(['-o', '-4', 'addr', 'show']);
  const free = SUBNET_CANDIDATES.find((p) => !host.includes(` ${p}.`));
  if (!free) throw new Error(`every test subnet (${SUBNET_CANDIDATES.join(', ')}) is in use on this host`);
  return free;
}

export interface ClusterNode extends Node {
  role: string;
  address: string;
  root: string;
}

export interface Cluster {
  netns: string;
  /** The /24's first three octets, e.g. 198.51.100. */
  subnet: string;
  nodes: ClusterNode[];
  close(): Promise<void>;
}

/**
 * Boots one node per role on a fresh bridge (sequentially: two cores), addresses .1, .2, ...
 * `options` apply to every node (e.g. allowSystemCalls for rootless podman inside them).
 * On any failure, whatever was started is torn down before the error is thrown.
 */
export async function startCluster(lower: string, roles: string[], options: Pick<BootOptions, 'allowSystemCalls' | 'bindRo'> = {}): Promise<Cluster> {
  if (roles.length > 20) throw new Error('at most 20 nodes');
  const tag = `${process.pid}`.slice(-6);
  const netns = `podsec-t${tag}`;
  const cleanups: (() => Promise<unknown>)[] = [];
  const nodes: ClusterNode[] = [];
  const close = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    cleanups.length = 0;
  };
  try {
    const subnet = await pickSubnet();
    await ip(['netns', 'add', netns]);
    cleanups.push(() => ip(['netns', 'del', netns]));
    await ip(['-n', netns, 'link', 'set', 'lo', 'up']);
    await ip(['-n', netns, 'link', 'add', BRIDGE, 'type', 'bridge']);
    await ip(['-n', netns, 'link', 'set', BRIDGE, 'up']);
    for (const [i, role] of roles.entries()) {
      const overlay = await mountOverlay(lower, 'podsec-cluster-');
      cleanups.push(() => overlay.remove());
      // Short names: nspawn's host-side veth is "vb-<name>", at most 15 characters.
      const node = await bootNode(overlay.root, { ...options, name: `p${i}${role.slice(0, 2)}${tag}`, network: { kind: 'bridge', netns, bridge: BRIDGE } });
      cleanups.push(() => node.stop());
      const address = `${subnet}.${i + 1}`;
      for (const argv of [
        ['ip', 'addr', 'add', `${address}/24`, 'dev', 'host0'],
        ['ip', 'link', 'set', 'host0', 'up'],
      ]) {
        const r = await node.exec(argv);
        if (r.exitCode !== 0) throw new Error(`${role}: ${argv.join(' ')}: ${r.stderr}`);
      }
      nodes.push({ ...node, role, address, root: overlay.root });
    }
    // Bridge ports take a moment to forward (no STP: forwarding at once, but the veths come up async).
    for (let i = 0; i < 50; i++) {
      const links = await ip(['-n', netns, '-o', 'link', 'show', 'master', BRIDGE]);
      if (links.split('\n').filter((l) => l.includes('state UP')).length >= roles.length) break;
      await sleep(100);
    }
    return { netns, subnet, nodes, close };
  } catch (err) {
    await close();
    throw err;
  }
}
