/**
 * The cluster's machines: a network namespace of our own with a bridge, and nodes booted by
 * systemd-nspawn (the node image with our RPMs) on it, each from its own overlay of the image,
 * with the real Kubernetes components installed at ALT's paths. Nothing reaches the host's
 * networks: the namespace's only interfaces are its bridge and the nodes' veths, and the bridge's
 * address (the nodes' default gateway, which Kubernetes needs to pick a node address) routes
 * nowhere.
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, closeSync, copyFileSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { bootNode, execInMachine, stopMachine } from '../../test/support/nspawn.ts';
import { mountOverlay, type RunResult } from '../../test/support/rootfs.ts';
import { isAlive, sleep } from '../image/cache.ts';
import type { K8sTools } from '../k8s-tools/build.ts';
import type { NodeRole, NodeState, ServiceState } from './state.ts';

export const NETNS = 'podsec-cluster';
const BRIDGE = 'u7sbr0';
/** RFC 5737 documentation networks (never routed), in order of preference. */
const SUBNET_CANDIDATES = ['198.51.100', '203.0.113', '192.0.2'];
/** The bridge's address in the namespace (the nodes' gateway) and the upstream registry's. */
const GATEWAY_HOST = 254;

/** What each node gets from the k8s-tools cache, at the paths ALT's packages install them (and etcdutl, built alone). */
const NODE_BINARIES = ['kubeadm', 'kubelet', 'kubectl', 'crio', 'pinns', 'crictl', 'crun', 'etcdctl'] as const;

async function ip(args: string[]): Promise<string> {
  const r = await execa('ip', args, { reject: false, stdin: 'ignore', timeout: 10_000 });
  if (r.exitCode !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** The first candidate /24 that no host interface has an address in. */
async function pickSubnet(): Promise<string> {
  const host = await ip(['-o', '-4', 'addr', 'show']);
  const free = SUBNET_CANDIDATES.find((p) => !host.includes(` ${p}.`));
  if (!free) throw new Error(`every cluster subnet (${SUBNET_CANDIDATES.join(', ')}) is in use on this host`);
  return free;
}

export async function createNetwork(): Promise<{ subnet: string; gateway: string }> {
  const subnet = await pickSubnet();
  const gateway = `${subnet}.${GATEWAY_HOST}`;
  await ip(['netns', 'add', NETNS]);
  try {
    await ip(['-n', NETNS, 'link', 'set', 'lo', 'up']);
    await ip(['-n', NETNS, 'link', 'add', BRIDGE, 'type', 'bridge']);
    await ip(['-n', NETNS, 'addr', 'add', `${gateway}/24`, 'dev', BRIDGE]);
    await ip(['-n', NETNS, 'link', 'set', BRIDGE, 'up']);
  } catch (error) {
    await ip(['netns', 'del', NETNS]).catch(() => {});
    throw error;
  }
  return { subnet, gateway };
}

/**
 * A host beside the nodes that is not a node (a load balancer): a network namespace of its own,
 * `<cluster namespace>-<name>`, whose eth0 is a veth on the bridge with `address`. Its name.
 */
export async function addSideHost(name: string, address: string): Promise<string> {
  const netns = `${NETNS}-${name}`;
  const port = `u7s${name}`.slice(0, 15);
  await ip(['netns', 'add', netns]);
  await ip(['-n', NETNS, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
  await ip(['-n', NETNS, 'link', 'set', port, 'master', BRIDGE, 'up']);
  await ip(['-n', netns, 'link', 'set', 'lo', 'up']);
  await ip(['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
  await ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
  return netns;
}

/** The cluster's namespace and every side host's. */
export async function removeNetwork(): Promise<void> {
  const names = (await ip(['netns', 'list']).catch(() => '')).split('\n').map((line) => line.split(' ')[0]!);
  for (const netns of names.filter((n) => n.startsWith(`${NETNS}-`))) await ip(['netns', 'del', netns]).catch(() => {});
  await ip(['netns', 'del', NETNS]).catch(() => {});
}

const inNetns = (argv: string[], netns = NETNS) => ['ip', 'netns', 'exec', netns, ...argv];

/** A command in the cluster's namespace (not in a node), or in a side host's. */
export async function netnsExec(argv: string[], timeoutMs = 60_000, netns = NETNS): Promise<RunResult> {
  const [command, ...args] = inNetns(argv, netns);
  const r = await execa(command!, args, { reject: false, stdin: 'ignore', timeout: timeoutMs });
  return { stdout: r.stdout, stderr: r.timedOut ? `timed out after ${timeoutMs / 1000} s\n${r.stderr}` : r.stderr, exitCode: r.exitCode ?? -1 };
}

/** A daemon on the host, detached (it outlives `up`), output appended to `log`; its PID. */
export function startHostDaemon(argv: string[], log: string): number {
  const fd = openSync(log, 'a', 0o600);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`cannot start ${argv[0]}`);
  child.unref();
  return child.pid;
}

/** A daemon in the cluster's namespace or a side host's (startHostDaemon there). */
export function startDaemon(argv: string[], log: string, address: string, netns = NETNS): ServiceState {
  return { pid: startHostDaemon(inNetns(argv, netns), log), address, log };
}

/** A TCP port free on 127.0.0.1 right now. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function stopProcess(pid: number, timeoutMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < timeoutMs && isAlive(pid); waited += 100) await sleep(100);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** The real components into a node's tree, before it boots. */
function installComponents(root: string, tools: K8sTools, etcdutl: string): void {
  const binaries: [string, string][] = [...NODE_BINARIES.map((name) => [name, tools.bin(name)] as [string, string]), ['etcdutl', etcdutl]];
  for (const [name, source] of binaries) {
    const target = join(root, 'usr/bin', name);
    copyFileSync(source, target);
    chmodSync(target, 0o755);
  }
}

/**
 * u7s-admin's data directory (CRI-O's storage, kubelet's and the pods' directories) on the
 * host's disk, as on a real node: overlayfs cannot stack on the overlay the node's root is.
 */
const USERNETES_DATA = '/var/lib/u7s-admin/.local/share/usernetes';

function nodeDataDir(root: string, work: string, name: string): string {
  const [, , uid, gid] =
    readFileSync(join(root, 'etc/passwd'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('u7s-admin:'))
      ?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error('the node image has no u7s-admin account (is podsec-k8s installed?)');
  const dir = join(work, `${name}-usernetes`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chownSync(dir, Number(uid), Number(gid));
  return dir;
}

const bootOptions = (name: string, log: string, data: string) => ({
  name,
  binds: [`${data}:${USERNETES_DATA}`],
  network: { kind: 'bridge' as const, netns: NETNS, bridge: BRIDGE },
  // crun gives each container its own session keyring (nspawn's default filter denies it).
  allowSystemCalls: ['@keyring'],
  detachedLog: log,
  bootTimeoutMs: 120_000,
});

interface BootRequest {
  index: number;
  role: NodeRole;
  subnet: string;
  gateway: string;
  image: string;
  tools: K8sTools;
  etcdutl: string;
  work: string;
}

/** Boots one node (detached) and gives it its address and default route on the bridge. */
export async function bootClusterNode(request: BootRequest): Promise<NodeState> {
  const { index, role, subnet, gateway } = request;
  const overlay = await mountOverlay(request.image, `podsec-cluster-n${index}-`);
  const name = `u7s-node${index}`;
  const log = join(request.work, `${name}.log`);
  try {
    installComponents(overlay.root, request.tools, request.etcdutl);
    const address = `${subnet}.${index}`;
    await persistentAddress(overlay.root, address, gateway);
    writeFileSync(join(overlay.root, 'etc/hostname'), `${name}\n`);
    // Every real host has it (kube-proxy mounts it); the stand-in image has no kernel.
    mkdirSync(join(overlay.root, 'usr/lib/modules'), { recursive: true });
    // What udev gives a real host, which the node has no udev to do: slirp4netns (as u7s-admin) opens the tun device.
    writeFileSync(join(overlay.root, 'etc/tmpfiles.d/podsec-cluster-tun.conf'), 'z /dev/net/tun 0666 root root -\n');
    // Every real system has one (minbase has none); podsec-create-policy adds registry.local to it.
    writeFileSync(join(overlay.root, 'etc/hosts'), `127.0.0.1 localhost\n127.0.1.1 ${name}\n`);
    const data = nodeDataDir(overlay.root, request.work, name);
    const node = await bootNode(overlay.root, bootOptions(name, log, data));
    await waitForAddress({ name, leader: node.leader }, address).catch(async (error) => {
      await node.stop();
      throw error;
    });
    return {
      index,
      name,
      role,
      address,
      overlay: overlay.root.replace(/\/root$/, ''),
      root: overlay.root,
      data,
      log,
      pid: node.pid,
      leader: node.leader,
      cgroups: node.cgroups,
    };
  } catch (error) {
    await overlay.remove();
    throw error;
  }
}

/**
 * The node's address and default route, kept across reboots as on a real host: systemd-networkd
 * configures host0 (the nspawn veth) at every boot.
 */
async function persistentAddress(root: string, address: string, gateway: string): Promise<void> {
  const dir = join(root, 'etc/systemd/network');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, '10-host0.network'),
    `[Match]\nName=host0\n\n[Network]\nAddress=${address}/24\nGateway=${gateway}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n`,
  );
  const r = await execa('systemctl', [`--root=${root}`, 'enable', 'systemd-networkd.service'], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new Error(`systemctl --root enable systemd-networkd: ${r.stderr}`);
}

/** Bounded wait until networkd has put the address on host0. */
async function waitForAddress(node: Pick<NodeState, 'leader' | 'name'>, address: string, timeoutMs = 30_000): Promise<void> {
  for (let waited = 0; waited < timeoutMs; waited += 200) {
    const r = await nodeExec(node, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'host0']);
    if (r.stdout.includes(` ${address}/24 `)) return;
    await sleep(200);
  }
  const seen = await nodeExec(node, ['sh', '-c', 'ip -o addr; systemctl status --no-pager systemd-networkd 2>&1 | tail -5; networkctl --no-pager 2>&1']);
  throw new Error(`${node.name}: host0 has no ${address} after ${timeoutMs / 1000} s:\n${seen.stdout}${seen.stderr}`);
}

/** The node's machine stopped (its systemd shuts down) and booted again on the same tree: a reboot. */
export async function rebootClusterNode(node: NodeState): Promise<NodeState> {
  await stopMachine(node);
  return startClusterNode(node);
}

/** A node whose machine was stopped (a power cut, stopMachine), booted again on the same tree. */
export async function startClusterNode(node: NodeState): Promise<NodeState> {
  const booted = await bootNode(node.root, bootOptions(node.name, node.log, node.data));
  const started = { ...node, pid: booted.pid, leader: booted.leader, cgroups: booted.cgroups };
  await waitForAddress(started, node.address);
  return started;
}

export async function stopClusterNode(node: NodeState): Promise<void> {
  await stopMachine(node);
  const { failed } = await execa('umount', [node.root], { reject: false });
  if (failed) await execa('umount', ['-l', node.root], { reject: false });
  await execa('rm', ['-rf', '--one-file-system', '--', node.overlay], { reject: false });
}

export const nodeExec = (node: Pick<NodeState, 'leader' | 'name'>, argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> =>
  execInMachine(node.leader, argv, opts);

/** A command that must succeed; its stdout. */
export async function mustExec(node: Pick<NodeState, 'leader' | 'name'>, argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
  const r = await nodeExec(node, argv, opts);
  if (r.exitCode !== 0) throw new Error(`${node.name}: ${argv.join(' ')} failed (${r.exitCode}):\n${r.stderr}\n${r.stdout}`.trimEnd());
  return r.stdout;
}
