/**
 * What rootlessness costs between nodes, measured on a cluster `npm run cluster -- up --nodes 3`
 * makes for the run (and removes after it):
 *   pod-network   TCP throughput from a pod on worker 3 to a pod on worker 2 (flannel's VXLAN from
 *                 inside each node's namespace, through slirp4netns and rootlesskit's port driver)
 *                 / from node 3 to node 2 over the same bridge, outside the namespaces; the same
 *                 program both ways (netbench/, a static Go binary, in a signed image for the pods)
 *   cluster-join  worker 3's `podsec-u7s-kubeadm join` until the node is Ready / `kubeadm join` by
 *                 the same node's root until Ready (scripts/cluster/rootful.ts), same join command
 * Runs alternate; every join starts from a reset node that was deleted from the cluster.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { CLUSTER_PLATFORM, down, joinNode, kubectlArgs, liveState, up } from '../../scripts/cluster/cluster.ts';
import { mustExec, nodeExec } from '../../scripts/cluster/machines.ts';
import { prepareRootful, rootfulReset } from '../../scripts/cluster/rootful.ts';
import type { ClusterState, NodeState } from '../../scripts/cluster/state.ts';
import { ensureBuild } from '../support/build.ts';
import { signedWorkload, until } from '../support/cluster-workloads.ts';
import { median } from './median.ts';

const RUNS = Number(process.env.PODSEC_BENCH_CLUSTER_RUNS || 2);
const BYTES = 512 * 1024 * 1024;
const PORT = 5201;
const IMAGE = `registry.local/${CLUSTER_PLATFORM}/netbench:1`;
const log = (line: string) => process.stderr.write(`${line}\n`);

/** MB/s from netbench serve's "BYTES SECONDS". */
function rate(output: string): number {
  const [bytes, seconds] = output.trim().split('\n').at(-1)!.split(' ').map(Number);
  if (bytes !== BYTES || !(seconds! > 0)) throw new Error(`netbench: ${output}`);
  return bytes / seconds! / 1e6;
}

async function podThroughput(master: NodeState, receiverIp: string): Promise<number> {
  const kubectl = (...args: string[]) => nodeExec(master, kubectlArgs(...args), { timeoutMs: 600_000 });
  const served = kubectl('exec', 'netbench-recv', '--', '/bin/netbench', 'serve', String(PORT));
  const sent = await kubectl('exec', 'netbench-send', '--', '/bin/netbench', 'send', `${receiverIp}:${PORT}`, String(BYTES));
  const received = await served;
  if (sent.exitCode !== 0 || received.exitCode !== 0) throw new Error(`pod netbench: ${sent.stderr}${received.stderr}`);
  return rate(received.stdout);
}

/** The same program in the nodes' own network namespaces (nsenter -n: the host's file is run). */
async function hostThroughput(program: string, from: NodeState, to: NodeState): Promise<number> {
  const inNode = (node: NodeState, args: string[]) => execa('nsenter', ['-t', String(node.leader), '-n', '--', program, ...args], { timeout: 600_000 });
  const served = inNode(to, ['serve', String(PORT)]);
  await inNode(from, ['send', `${to.address}:${PORT}`, String(BYTES)]);
  return rate((await served).stdout);
}

/** A pod running netbench's image on `node`, idle until exec'd into. */
async function benchPod(master: NodeState, name: string, node: NodeState): Promise<string> {
  const overrides = JSON.stringify({ spec: { nodeName: node.name } });
  await mustExec(master, kubectlArgs('run', name, `--image=${IMAGE}`, `--overrides=${overrides}`, '--command', '--', '/bin/busybox', 'sleep', '86400'));
  await mustExec(master, kubectlArgs('wait', '--for=condition=Ready', `pod/${name}`, '--timeout=300s'), { timeoutMs: 320_000 });
  return (await mustExec(master, kubectlArgs('get', 'pod', name, '-o', 'jsonpath={.status.podIP}'))).trim();
}

/** Seconds from `join` until `node` is Ready. */
async function timedJoin(state: ClusterState, node: NodeState, join: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await join();
  await until(`${node.name} Ready`, 600, async () => {
    const r = await nodeExec(state.nodes[0]!, kubectlArgs('get', 'node', node.name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'));
    return r.stdout.trim() === 'True' || r.stdout + r.stderr;
  });
  return (performance.now() - t0) / 1000;
}

interface Samples {
  podMBs: number[];
  hostMBs: number[];
  rootlessJoin: number[];
  rootfulJoin: number[];
}

async function runSession(): Promise<Samples> {
  if (await liveState(log)) throw new Error('a cluster is up; the benchmark makes its own: npm run cluster -- down first');
  const work = mkdtempSync('/var/tmp/podsec-bench-network-');
  const samples: Samples = { podMBs: [], hostMBs: [], rootlessJoin: [], rootfulJoin: [] };
  try {
    const program = join(work, 'bin', 'netbench');
    await execa('go', ['build', '-C', join(import.meta.dirname, 'netbench'), '-trimpath', '-o', program, '.'], { env: { ...process.env, CGO_ENABLED: '0' } });
    const state = await up({ nodes: 3, controlPlanes: 1, rpms: (await ensureBuild('p11')).rpms, log });
    const [master, two, three] = state.nodes as [NodeState, NodeState, NodeState];
    await signedWorkload(master, work, 'netbench', `${CLUSTER_PLATFORM}/netbench:1`, { netbench: program });
    const receiver = await benchPod(master, 'netbench-recv', two);
    await benchPod(master, 'netbench-send', three);
    for (let i = 0; i < RUNS; i++) {
      samples.podMBs.push(await podThroughput(master, receiver));
      samples.hostMBs.push(await hostThroughput(program, three, two));
      log(`network bench: run ${i + 1}/${RUNS}: pod ${samples.podMBs.at(-1)!.toFixed(0)} MB/s, node ${samples.hostMBs.at(-1)!.toFixed(0)} MB/s`);
    }
    await mustExec(master, kubectlArgs('delete', 'pod', 'netbench-recv', 'netbench-send', '--wait=false'));

    const joinCommand = (await mustExec(master, ['podsec-u7s-kubeadm', 'token', 'create', '--print-join-command'])).trim().split(/\s+/).slice(1);
    const leave = async (reset: () => Promise<unknown>) => {
      await reset();
      await mustExec(master, kubectlArgs('delete', 'node', three.name));
    };
    const rootlessReset = () => mustExec(three, ['podsec-u7s-kubeadm', 'reset', '--force'], { timeoutMs: 600_000 });
    await leave(rootlessReset);
    await prepareRootful(three, state.platform);
    for (let i = 0; i < RUNS; i++) {
      samples.rootlessJoin.push(await timedJoin(state, three, () => joinNode(state, three, joinCommand, log)));
      await leave(rootlessReset);
      samples.rootfulJoin.push(await timedJoin(state, { ...three, rootful: true }, () => joinNode(state, { ...three, rootful: true }, joinCommand, log)));
      await leave(() => rootfulReset(three));
      log(`network bench: join ${i + 1}/${RUNS}: rootless ${samples.rootlessJoin.at(-1)!.toFixed(1)} s, rootful ${samples.rootfulJoin.at(-1)!.toFixed(1)} s`);
    }
    return samples;
  } finally {
    await down(log);
    rmSync(work, { recursive: true, force: true });
  }
}

let session: Promise<Samples> | undefined;
const shared = () => (session ??= runSession());

async function podNetwork(): Promise<string> {
  const { podMBs, hostMBs } = await shared();
  const [pod, host] = [median(podMBs), median(hostMBs)];
  return (
    `pod-network: pod to pod across rootless nodes ${pod.toFixed(0)} MB/s / node to node over the same bridge ${host.toFixed(0)} MB/s` +
    ` = ${(pod / host).toFixed(3)}x (median of ${RUNS}, ${BYTES / 2 ** 20} MiB each)`
  );
}

async function clusterJoin(): Promise<string> {
  const { rootlessJoin, rootfulJoin } = await shared();
  const [a, b] = [median(rootlessJoin), median(rootfulJoin)];
  return (
    `cluster-join: podsec-u7s-kubeadm join to Ready ${a.toFixed(1)} s / rootful kubeadm join to Ready ${b.toFixed(1)} s` +
    ` = ${(a / b).toFixed(2)}x (median of ${RUNS})`
  );
}

export const benchmarks = { 'pod-network': podNetwork, 'cluster-join': clusterJoin };
