/**
 * The cost of rootlessness on one node, measured on a cluster `npm run cluster -- up --nodes 1`
 * makes for the run (and removes after it):
 *   cluster-init    `podsec-u7s-kubeadm init` until the node is Ready and every pod Running
 *                   / `kubeadm init` by the node's root, same binaries, images and documents
 *   cluster-memory  resident memory (VmRSS summed) of what each node runs at idle
 *                   / the same for the rootful node
 * Both share one session: rootless and rootful runs alternate on the same node, each started from
 * a reset node with the images already in its store (the rootless store keeps them across a
 * reset; the rootful one is filled once before the first run).
 *
 * The rootful baseline is scripts/cluster/rootful.ts: the same packages and binaries, CRI-O and
 * kubelet run by the node's root, with the least change these hosts need.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { IMAGE_TAGS } from '../../scripts/k8s-tools/versions.ts';
import { down, initFirst, kubectlArgs, liveState, up, waitReady } from '../../scripts/cluster/cluster.ts';
import { mustExec } from '../../scripts/cluster/machines.ts';
import { CRIO_SOCKET, prepareRootful, ROOTFUL_DIR, rootfulDocuments, rootfulInit, rootfulReset } from '../../scripts/cluster/rootful.ts';
import type { ClusterState, NodeState } from '../../scripts/cluster/state.ts';
import { sleep } from '../../scripts/image/cache.ts';
import { median } from './median.ts';

const RUNS = Number(process.env.PODSEC_BENCH_CLUSTER_RUNS || 2);
/** After Ready: how long the node settles before its memory is read, and how often it is read. */
const SETTLE_MS = 60_000;
const MEMORY_SAMPLES = 3;
const SAMPLE_GAP_MS = 10_000;

const RENDERED_INIT = 'etc/podsec/u7s/config/rendered/init.yaml';

interface Sample {
  initMs: number;
  rssKiB: number;
}

type Log = (line: string) => void;
const log: Log = (line) => process.stderr.write(`${line}\n`);

interface ProcessInfo {
  name: string;
  /** VmRSS in KiB (0 for kernel threads). */
  rssKiB: number;
}

/** The node's processes (its PID 1 and every descendant, in whatever namespace) by PID. */
function nodeProcesses(node: NodeState): Map<number, ProcessInfo> {
  const parent = new Map<number, number>();
  const info = new Map<number, ProcessInfo>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      parent.set(Number(entry), Number(/^PPid:\s+(\d+)$/m.exec(status)?.[1] ?? 0));
      info.set(Number(entry), { name: /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?', rssKiB: Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) });
    } catch {
      // gone meanwhile
    }
  }
  const inNode = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 4096; p = parent.get(p) ?? 0, hops++) if (p === node.leader) return true;
    return false;
  };
  return new Map([...info].filter(([pid]) => inNode(pid)));
}

/** The resident memory of what started after `before` was taken, at idle: a median of samples. */
async function idleMemory(node: NodeState, before: Set<number>, label: string): Promise<number> {
  await sleep(SETTLE_MS);
  const sums: number[] = [];
  for (let i = 0; i < MEMORY_SAMPLES; i++) {
    if (i) await sleep(SAMPLE_GAP_MS);
    const started = [...nodeProcesses(node)].filter(([pid]) => !before.has(pid)).map(([, p]) => p);
    sums.push(started.reduce((sum, p) => sum + p.rssKiB, 0));
    if (i === 0) log(`cluster bench: ${label} at idle, MiB by program: ${byProgram(started)}`);
  }
  return median(sums);
}

function byProgram(processes: ProcessInfo[]): string {
  const totals = new Map<string, number>();
  for (const { name, rssKiB } of processes) totals.set(name, (totals.get(name) ?? 0) + rssKiB);
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .map(([name, kib]) => `${name} ${(kib / 1024).toFixed(0)}`)
    .join(', ');
}

async function measure(state: ClusterState, label: string, start: () => Promise<void>): Promise<Sample> {
  const node = state.nodes[0]!;
  const before = new Set(nodeProcesses(node).keys());
  const t0 = performance.now();
  await start();
  await mustExec(node, kubectlArgs('taint', 'nodes', '--all', 'node-role.kubernetes.io/control-plane-'));
  await waitReady(state, log);
  const initMs = performance.now() - t0;
  return { initMs, rssKiB: await idleMemory(node, before, label) };
}

const rootlessReset = (node: NodeState) => mustExec(node, ['podsec-u7s-kubeadm', 'reset', '--force'], { timeoutMs: 600_000 });

/** The rootful node, and its images in store, once. */
async function prepareRootfulInit(state: ClusterState, documents: string): Promise<void> {
  const node = state.nodes[0]!;
  await prepareRootful(node, state.platform);
  writeFileSync(join(node.root, ROOTFUL_DIR, 'kubeadm.yaml'), documents);
  await mustExec(node, ['kubeadm', 'config', 'images', 'pull', '--config', `${ROOTFUL_DIR}/kubeadm.yaml`], { timeoutMs: 600_000 });
  for (const image of [`flannel:${IMAGE_TAGS.flannel}`, `flannel-cni-plugin:${IMAGE_TAGS.flannelCniPlugin}`])
    await mustExec(node, ['crictl', '--runtime-endpoint', CRIO_SOCKET, 'pull', `registry.local/${state.platform}/${image}`], { timeoutMs: 300_000 });
  await mustExec(node, ['systemctl', 'stop', 'podsec-rootful-crio.service']);
}

async function runSession(): Promise<{ rootless: Sample[]; rootful: Sample[] }> {
  if (await liveState(log)) throw new Error('a cluster is up; the benchmark makes its own: npm run cluster -- down first');
  const state = await up({ nodes: 1, controlPlanes: 1, log });
  const node = state.nodes[0]!;
  const rootless: Sample[] = [];
  const rootful: Sample[] = [];
  try {
    // The wrapper's documents of the init `up` ran (a reset removes them).
    const documents = rootfulDocuments(readFileSync(join(node.root, RENDERED_INIT), 'utf8'));
    await rootlessReset(node);
    await prepareRootfulInit(state, documents);
    for (let i = 0; i < RUNS; i++) {
      log(`cluster bench: run ${i + 1}/${RUNS}, rootless`);
      rootless.push(await measure(state, 'rootless', async () => void (await initFirst(state, log))));
      await rootlessReset(node);
      log(`cluster bench: run ${i + 1}/${RUNS}, rootful`);
      rootful.push(await measure(state, 'rootful', async () => void (await rootfulInit(node, state.platform, documents))));
      await rootfulReset(node);
    }
  } finally {
    await down(log);
  }
  return { rootless, rootful };
}

let session: ReturnType<typeof runSession> | undefined;
const shared = () => (session ??= runSession());

const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;

async function clusterInit(): Promise<string> {
  const { rootless, rootful } = await shared();
  const a = median(rootless.map((s) => s.initMs)) / 1000;
  const b = median(rootful.map((s) => s.initMs)) / 1000;
  return (
    `cluster-init: podsec-u7s-kubeadm init to Ready ${a.toFixed(1)} s` +
    ` / rootful kubeadm init to Ready ${b.toFixed(1)} s = ${ratio(a, b)} (median of ${RUNS})`
  );
}

async function clusterMemory(): Promise<string> {
  const { rootless, rootful } = await shared();
  const a = median(rootless.map((s) => s.rssKiB)) / 1024;
  const b = median(rootful.map((s) => s.rssKiB)) / 1024;
  return `cluster-memory: rootless node at idle ${a.toFixed(0)} MiB / rootful node ${b.toFixed(0)} MiB = ${ratio(a, b)} (RSS summed, median of ${RUNS})`;
}

export const benchmarks = { 'cluster-init': clusterInit, 'cluster-memory': clusterMemory };
