/**
 * `npm run cluster -- up|down|status|kubeconfig|exec`: a local rootless cluster of podsec-k8s
 * nodes (Usernetes' `make up`, for developers, CI and anyone trying podsec-k8s). Node 1 is the
 * podsec master (registry.local, the signature server, the image maker who signs the cluster's
 * images) and the first control plane; `podsec-u7s-kubeadm init` deploys it, and every other node
 * joins with the command init printed.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import YAML from 'yaml';
import { DEFAULT_APISERVER_BIND_PORT as APISERVER_PORT } from '../../bin/u7s/lib/kubeadm-fields.ts';
import { EXIT_CLUSTER_NOT_READY } from '../../bin/u7s/lib/join-check.ts';
import { build } from '../build.ts';
import { isAlive, sleep } from '../image/cache.ts';
import { defaultCacheDir } from '../image/index.ts';
import { ensureRootfs } from '../image/rootfs.ts';
import { ensureEtcdutl, ensureK8sTools } from '../k8s-tools/build.ts';
import { K8S_TOOLS_VERSIONS } from '../k8s-tools/versions.ts';
import model from '../model/index.ts';
import { REPO_ROOT } from '../paths.ts';
import {
  addSideHost,
  bootClusterNode,
  createNetwork,
  freeLoopbackPort,
  mustExec,
  NETNS,
  netnsExec,
  nodeExec,
  removeNetwork,
  startDaemon,
  startHostDaemon,
  stopClusterNode,
  stopProcess,
} from './machines.ts';
import { defaultRootfulDocuments, prepareRootful, rootfulInit, rootfulJoin, vxlanChecksumsInSoftware } from './rootful.ts';
import { clusterDir, readState, removeState, writeState, type ClusterState, type NodeState } from './state.ts';
import { adoptTrust, fillUpstream, setUpMaster, signClusterImages, startUpstream } from './supply.ts';

type Log = (line: string) => void;

/**
 * The image path of the cluster's images: registry.local/<platform>/… (upstream retired its
 * k8s-<platform> paths on 11.11.2024; podsec-k8s-save-oci refuses them).
 */
export const CLUSTER_PLATFORM = 'p11';
const INIT_TIMEOUT_MS = 30 * 60_000;
const READY_TIMEOUT_MS = 15 * 60_000;
const POLL_MS = 5_000;

export interface UpOptions {
  nodes: number;
  controlPlanes: number;
  /**
   * Load balancer hosts in front of the control planes (needed for more than one): haproxy configured
   * by podsec-u7s-loadbalancer, and with two or more keepalived moving one address between them.
   */
  loadBalancers?: number;
  kubernetesVersion?: string;
  /** The nodes (1..N) that run rootful: the same packages, CRI-O and kubelet as root, kubeadm run directly (RootFullLess). */
  rootful?: number[];
  /** The RPMs to install (default: built into the checkout's dist/). */
  rpms?: string[];
  log: Log;
}

export const kubectlArgs = (...args: string[]) => ['kubectl', '--kubeconfig', '/root/.kube/config', ...args];

/** A cluster being made or whose machines still run; a stale state (all of it gone) is cleaned up first. */
export async function liveState(log: Log): Promise<ClusterState | undefined> {
  const state = readState();
  if (!state) return undefined;
  const running = [state.upPid, state.upstream?.pid ?? 0, ...state.nodes.map((n) => n.pid)].some((pid) => pid > 0 && isAlive(pid));
  if (running) return state;
  log('cluster: removing what is left of a cluster whose nodes are gone');
  await down(log);
  return undefined;
}

export async function up(options: UpOptions): Promise<ClusterState> {
  const { log } = options;
  if (options.nodes < 1 || options.nodes > 9) throw new Error('--nodes: 1 to 9');
  if (options.rootful?.some((i) => !Number.isInteger(i) || i < 1 || i > options.nodes)) throw new Error('--rootful: node numbers 1 to --nodes');
  if (options.controlPlanes < 1 || options.controlPlanes > options.nodes) throw new Error('--control-planes: 1 to --nodes');
  const loadBalancers = options.loadBalancers ?? 0;
  if (loadBalancers < 0 || loadBalancers > MAX_LOAD_BALANCERS) throw new Error(`--load-balancers: 0 to ${MAX_LOAD_BALANCERS}`);
  if (options.controlPlanes > 1 && !loadBalancers)
    throw new Error('--control-planes above 1 needs --load-balancers 1 or more: the control planes share one endpoint');
  if (await liveState(log)) throw new Error('a cluster is up: npm run cluster -- down first');

  const built = K8S_TOOLS_VERSIONS.kubernetes.version;
  const version = options.kubernetesVersion ?? built;
  if (version !== built) throw new Error(`--kubernetes-version ${version}: only ${built} is built (scripts/k8s-tools/versions.ts)`);
  const tools = await ensureK8sTools({ log });
  const etcdutl = (await ensureEtcdutl({ log })).path;
  const rpms = options.rpms ?? (await buildRpms(log));
  const image = await ensureRootfs({ model, rpms, cacheDir: defaultCacheDir(), log });

  const work = mkdtempSync('/var/tmp/podsec-cluster-');
  const network = await createNetwork();
  const state: ClusterState = {
    format: 1,
    upPid: process.pid,
    ...network,
    netns: NETNS,
    work,
    platform: CLUSTER_PLATFORM,
    kubernetesVersion: version,
    nodes: [],
  };
  writeState(state);
  try {
    state.upstream = startUpstream(state);
    writeState(state);
    await fillUpstream(state, tools, log);
    for (let index = 1; index <= options.nodes; index++) {
      log(`cluster: booting node ${index}`);
      const role = index <= options.controlPlanes ? 'control-plane' : 'worker';
      const node = await bootClusterNode({ index, role, ...network, image: image.path, tools, etcdutl, work });
      state.nodes.push(options.rootful?.includes(index) ? { ...node, rootful: true } : node);
      writeState(state);
    }
    const master = state.nodes[0]!;
    const trust = await setUpMaster(master, state.platform, log);
    Object.assign(state, { makerKey: trust.makerKey, trustFingerprint: trust.fingerprint });
    writeState(state);
    await signClusterImages(master, state, { dir: tools.dir, version }, trust, log);
    for (const node of state.nodes.slice(1)) await adoptTrust(node, master, trust.fingerprint);
    for (const node of state.nodes.filter((n) => n.rootful)) await prepareRootful(node, state.platform);

    if (loadBalancers) {
      state.loadBalancer = { address: '', hosts: [] };
      await startLoadBalancers(state, loadBalancers, log);
    }
    const joins = await initFirst(state, log);
    for (const node of state.nodes.slice(1)) await joinNode(state, node, node.role === 'control-plane' ? joins.controlPlane : joins.worker, log);
    if (options.nodes === 1) await mustExec(master, kubectlArgs('taint', 'nodes', '--all', 'node-role.kubernetes.io/control-plane-'));
    await waitReady(state, log);
    for (const node of state.nodes.filter((n) => n.rootful)) await vxlanChecksumsInSoftware(node);
    await startApiProxy(state);
    await writeKubeconfig(state);
    writeState(state);
    return state;
  } catch (error) {
    log(`cluster: up failed; the nodes are left running for a look (npm run cluster -- exec 1 -- journalctl …), npm run cluster -- down removes them`);
    throw error;
  }
}

async function buildRpms(log: Log): Promise<string[]> {
  const dist = await build({ branch: 'p11', outDir: join(REPO_ROOT, 'dist'), model, log });
  if (dist.rpmSkipped) throw new Error(dist.rpmSkipped);
  return dist.rpms;
}

const wrapperEnv = (state: ClusterState) => ['env', `U7S_PLATFORM=${state.platform}`];

/** The load balancers' shared address (the one haproxy's, or keepalived's virtual one); their hosts follow it. */
const LOAD_BALANCER_HOST = 200;
const MAX_LOAD_BALANCERS = 3;
const VRRP_ROUTER_ID = 51;

/**
 * Load balancer hosts beside the nodes, before init (kubeadm reaches the API through them), with
 * the files podsec-u7s-loadbalancer writes on the master as an admin would make them for those
 * hosts. Each host runs its programs under a PID namespace of its own, so that keepalived's check
 * sees only its own haproxy; the first one is keepalived's MASTER.
 */
async function startLoadBalancers(state: ClusterState, count: number, log: Log): Promise<void> {
  const lb = state.loadBalancer!;
  const master = state.nodes[0]!;
  const servers = state.nodes.filter((n) => n.role === 'control-plane').flatMap((n) => ['--master', `${n.address}:${APISERVER_PORT}`]);
  const shared = `${state.subnet}.${LOAD_BALANCER_HOST}`;
  lb.address = `${shared}:${APISERVER_PORT}`;
  await mustExec(master, ['podsec-u7s-loadbalancer', 'haproxy', ...servers, '--bind', `*:${APISERVER_PORT}`, '--output', '/root/haproxy.cfg']);
  const haproxyConfig = join(state.work, 'haproxy.cfg');
  copyFileSync(join(master.root, 'root/haproxy.cfg'), haproxyConfig);
  for (let k = 1; k <= count; k++) {
    const name = `lb${k}`;
    const address = count === 1 ? shared : `${shared.replace(/\d+$/, '')}${LOAD_BALANCER_HOST + k}`;
    const netns = await addSideHost(name, address);
    let run = `exec haproxy -db -f ${haproxyConfig}`;
    if (count > 1) {
      const role = k === 1 ? 'MASTER' : 'BACKUP';
      const file = `/root/keepalived-${name}.conf`;
      await mustExec(master, [
        'podsec-u7s-loadbalancer',
        'keepalived',
        ...['--vip', `${shared}/24`, '--interface', 'eth0', '--state', role, '--priority', String(102 - k), '--router-id', String(VRRP_ROUTER_ID)],
        ...['--output', file],
      ]);
      const config = join(state.work, `keepalived-${name}.conf`);
      copyFileSync(join(master.root, file), config);
      const pids = join(state.work, name);
      run = `haproxy -D -f ${haproxyConfig} && exec keepalived --dont-fork --log-console -f ${config} -p ${pids}-keepalived.pid -r ${pids}-vrrp.pid`;
    }
    const programs = count > 1 ? 'haproxy and keepalived' : 'haproxy';
    log(`cluster: load balancer ${name} on ${address}: ${programs} in front of ${servers.filter((m) => m !== '--master').join(' ')}`);
    const argv = ['unshare', '--pid', '--fork', '--kill-child', '--mount-proc', '--', 'sh', '-c', run];
    lb.hosts.push({ ...startDaemon(argv, join(state.work, `${name}.log`), address, netns), netns });
    writeState(state);
  }
  if (count > 1) await untilAddressHeld(state, shared);
}

/** Which load balancer host holds `address` now (keepalived's MASTER), bounded. */
export async function untilAddressHeld(state: ClusterState, address: string, timeoutMs = 60_000, except?: string): Promise<string> {
  for (let waited = 0; waited <= timeoutMs; waited += 500) {
    for (const host of state.loadBalancer?.hosts ?? []) {
      if (host.netns === except) continue;
      const r = await netnsExec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'], 10_000, host.netns);
      if (r.stdout.includes(` ${address}/24 `)) return host.netns;
    }
    await sleep(500);
  }
  throw new Error(`no load balancer${except ? ` but ${except}` : ''} took ${address} within ${timeoutMs / 1000} s`);
}

interface JoinCommands {
  worker: string[];
  /** With --control-plane --certificate-key (kubeadm prints it when the certificates were uploaded). */
  controlPlane: string[];
}

/**
 * kubeadm init on node 1 (behind the load balancer when there is one): through the wrapper, or on
 * a rootful node by root with kubeadm's defaults; the join commands it printed.
 */
export async function initFirst(state: ClusterState, log: Log): Promise<JoinCommands> {
  const master = state.nodes[0]!;
  const endpoint = state.loadBalancer ? ['--control-plane-endpoint', state.loadBalancer.address] : [];
  let out: string;
  if (master.rootful) {
    log(`cluster: ${master.name}: kubeadm init as root ${endpoint.join(' ')}`.trimEnd());
    const plan = await mustExec(master, [...wrapperEnv(state), 'LANG=C', 'podsec-u7s-kubeadm', '--plan', 'init', ...endpoint]);
    out = await rootfulInit(master, state.platform, defaultRootfulDocuments(plan));
  } else {
    log(`cluster: ${master.name}: podsec-u7s-kubeadm init ${endpoint.join(' ')}`.trimEnd());
    out = await mustExec(master, [...wrapperEnv(state), 'podsec-u7s-kubeadm', 'init', ...endpoint], { timeoutMs: INIT_TIMEOUT_MS });
  }
  writeFileSync(join(state.work, 'init.log'), out);
  const controlPlane = state.nodes.some((n, i) => i > 0 && n.role === 'control-plane');
  return { worker: parseJoinCommand(out), controlPlane: controlPlane ? parseJoinCommand(out, 'control-plane') : [] };
}

/**
 * `kubeadm join host:port --token T \ --discovery-token-ca-cert-hash H [--control-plane --certificate-key K]`
 * as printed by kubeadm (continued lines joined).
 */
export function parseJoinCommand(output: string, kind: 'worker' | 'control-plane' = 'worker'): string[] {
  const text = output.replace(/\\\s*\n\s*/g, ' ');
  const lines = text.split('\n').filter((l) => /^\s*kubeadm join /.test(l) && l.includes('--control-plane') === (kind === 'control-plane'));
  const line = lines.at(-1);
  if (!line) throw new Error(`kubeadm init printed no ${kind} join command`);
  return line.trim().split(/\s+/).slice(1);
}

/** `podsec-u7s-kubeadm join` on `node` (`kubeadm join` by root on a rootful node); `env`: more NAME=VALUE settings for the wrapper. */
export async function joinNode(state: ClusterState, node: NodeState, joinCommand: string[], log: Log, env: string[] = []): Promise<void> {
  const argv = node.rootful ? ['kubeadm', ...joinCommand] : [...env, 'podsec-u7s-kubeadm', ...joinCommand];
  log(`cluster: ${node.name}: ${argv.join(' ').replace(/(--token|--certificate-key) \S+/g, '$1 …')}`);
  if (node.rootful) return rootfulJoin(node, joinCommand);
  const joined = await nodeExec(node, [...wrapperEnv(state), ...argv], { timeoutMs: INIT_TIMEOUT_MS });
  if (joined.exitCode === 0) return;
  const master = state.nodes[0]!;
  const fixes = joined.exitCode === EXIT_CLUSTER_NOT_READY && master.rootful ? printedFixes(joined.stderr) : [];
  if (!fixes.length) throw new Error(`${node.name}: ${argv.join(' ')} failed (${joined.exitCode}):\n${joined.stderr}\n${joined.stdout}`.trimEnd());
  // A rootful control plane made with kubeadm's defaults: what an operator does with the refusal.
  log(`cluster: ${node.name}: the wrapper refused the rootful cluster's settings; on ${master.name}, as printed:\n  ${fixes.join('\n  ')}`);
  for (const fix of fixes) await mustExec(master, ['env', 'KUBECONFIG=/etc/kubernetes/admin.conf', 'sh', '-ec', fix]);
  (state.joinFixes ??= []).push(...fixes);
  writeState(state);
  await mustExec(node, [...wrapperEnv(state), ...argv], { timeoutMs: INIT_TIMEOUT_MS });
}

/** The commands podsec-u7s-kubeadm's refusal of a cluster prints, one per indented `kubectl` line. */
const printedFixes = (refusal: string): string[] =>
  refusal
    .split('\n')
    .filter((line) => /^ {2}kubectl /.test(line))
    .map((line) => line.trim());

interface PodList {
  items: { metadata: { namespace: string; name: string }; status: { phase: string; containerStatuses?: { ready: boolean }[] } }[];
}

/** Every node Ready and every pod Running with its containers ready, bounded. */
export async function waitReady(state: ClusterState, log: Log, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const master = state.nodes[0]!;
  let last = '';
  for (let waited = 0; waited <= timeoutMs; waited += POLL_MS) {
    const nodes = await nodeExec(
      master,
      kubectlArgs('get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}'),
    );
    const pods = await nodeExec(master, kubectlArgs('get', 'pods', '-A', '-o', 'json'));
    if (nodes.exitCode === 0 && pods.exitCode === 0) {
      const ready = nodes.stdout
        .trim()
        .split(/\s+/)
        .filter((n) => n.endsWith('=True')).length;
      const list = (JSON.parse(pods.stdout) as PodList).items;
      const waiting = list.filter((p) => p.status.phase !== 'Running' || !(p.status.containerStatuses ?? []).every((c) => c.ready));
      const notRunning = waiting.map((p) => `${p.metadata.namespace}/${p.metadata.name} (${p.status.phase})`).join(', ');
      last = `${ready}/${state.nodes.length} nodes Ready; not running: ${notRunning || 'none'}`;
      if (ready === state.nodes.length && list.length > 0 && waiting.length === 0) {
        log(`cluster: ${last}`);
        return;
      }
    } else last = (nodes.stderr || pods.stderr).trim();
    if (waited % 30_000 === 0) log(`cluster: ${last}`);
    await sleep(POLL_MS);
  }
  throw new Error(`the cluster was not ready within ${timeoutMs / 1000} s: ${last}`);
}

/**
 * The apiserver of node 1 on the host's loopback: socat in the cluster's namespace listens on a
 * unix socket (file system paths cross network namespaces) and connects to node 1; socat on the
 * host listens on 127.0.0.1 and connects to that socket. Nothing listens on another address.
 */
async function startApiProxy(state: ClusterState): Promise<void> {
  const socket = join(clusterDir(), 'apiserver.sock');
  rmSync(socket, { force: true });
  const inside = startDaemon(
    ['socat', `UNIX-LISTEN:${socket},fork,mode=600`, `TCP:${state.loadBalancer?.address ?? `${state.nodes[0]!.address}:${APISERVER_PORT}`}`],
    join(state.work, 'api-proxy.log'),
    socket,
  );
  for (let waited = 0; !existsSync(socket); waited += 100) {
    if (waited > 10_000) throw new Error(`the apiserver forwarder did not create ${socket}`);
    await sleep(100);
  }
  const port = await freeLoopbackPort();
  const outside = startHostDaemon(['socat', `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${socket}`], join(state.work, 'api-proxy.log'));
  state.apiProxy = { pids: [inside.pid, outside], port, socket };
}

/** The admin kubeconfig of node 1, pointed at the host's end of the apiserver forwarder. */
async function writeKubeconfig(state: ClusterState): Promise<void> {
  const master = state.nodes[0]!;
  const config = YAML.parse(readFileSync(join(master.root, 'root/.kube/config'), 'utf8')) as { clusters: { cluster: { server: string } }[] };
  for (const c of config.clusters) c.cluster.server = `https://127.0.0.1:${state.apiProxy!.port}`;
  writeFileSync(kubeconfigPath(state), YAML.stringify(config), { mode: 0o600 });
}

export const kubeconfigPath = (state: ClusterState) => join(state.work, 'admin.conf');

export async function down(log: Log): Promise<void> {
  const state = readState();
  if (!state) return;
  for (const node of [...state.nodes].reverse()) {
    log(`cluster: stopping ${node.name}`);
    await stopClusterNode(node).catch((e: Error) => log(`cluster: ${node.name}: ${e.message}`));
  }
  for (const service of [...(state.loadBalancer?.hosts ?? []), state.upstream]) if (service) await stopProcess(service.pid);
  for (const pid of state.apiProxy?.pids ?? []) await stopProcess(pid);
  await removeNetwork();
  if (state.work.startsWith('/var/tmp/podsec-cluster-') && existsSync(state.work))
    await execa('rm', ['-rf', '--one-file-system', '--', state.work], { reject: false });
  removeState();
}
