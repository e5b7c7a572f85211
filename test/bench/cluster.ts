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
 * The rootful baseline is the least change that runs in an nspawn node of these hosts, each a
 * limit the rootless node meets too, where its crun or kubelet skips what it may not do:
 * - the cgroup hierarchies are read-only: crun runs with --cgroup-manager=disabled, and kubelet
 *   gets the no-QoS settings the rootless node picks (u7s-kubelet's ROOTLESS_KUBELET_SETTINGS);
 * - root lacks CAP_SYS_RESOURCE (the host's root does too) and a few capabilities nspawn drops:
 *   a shim before crun raises negative OOM scores to 0 and drops capabilities root does not have;
 * - kubelet wants three kernel values it may not write from a container (vm.overcommit_memory=1,
 *   kernel.panic=10, kernel.panic_on_oops=1): the node sees files with them bound over /proc/sys,
 *   the host's kernel keeps its own;
 * - no /dev/kmsg: an empty file (kubelet's OOM watcher reads nothing; the rootless one has none).
 * The shim costs one `node` start per container created or run, on the baseline's side.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import YAML from 'yaml';
import { deepMerge, kubeletMinor, ROOTLESS_KUBELET_SETTINGS } from '../../bin/u7s/lib/kubelet-config.ts';
import { K8S_TOOLS_VERSIONS } from '../../scripts/k8s-tools/versions.ts';
import { renderFlannel } from '../../bin/u7s/lib/flannel.ts';
import { down, initFirst, kubectlArgs, liveState, up, waitReady } from '../../scripts/cluster/cluster.ts';
import { mustExec, nodeExec } from '../../scripts/cluster/machines.ts';
import type { ClusterState, NodeState } from '../../scripts/cluster/state.ts';
import { sleep } from '../../scripts/image/cache.ts';
import { median } from './median.ts';

const RUNS = Number(process.env.PODSEC_BENCH_CLUSTER_RUNS || 2);
/** After Ready: how long the node settles before its memory is read, and how often it is read. */
const SETTLE_MS = 60_000;
const MEMORY_SAMPLES = 3;
const SAMPLE_GAP_MS = 10_000;

const BENCH_DIR = '/etc/podsec-bench';
const CRIO_SOCKET = 'unix:///run/crio/crio.sock';
const KUBELET_CONFIG = '/var/lib/kubelet/config.yaml';
const RENDERED_INIT = 'etc/podsec/u7s/config/rendered/init.yaml';
const PACKAGED_FLANNEL_CNI = 'etc/podsec/u7s/config/flannel/cni_net.d/10-flannel.conflist';
const FLANNEL_MANIFEST = 'etc/podsec/u7s/manifests/kube-flannel.yml';
/** Linux capabilities by bit number (linux/capability.h). */
const CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
];
/** The values kubelet sets at start unless they are already there (its setupKernelTunables). */
const KUBELET_TUNABLES: Record<string, string> = { 'vm/overcommit_memory': '1', 'kernel/panic': '10', 'kernel/panic_on_oops': '1' };

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

/** The wrapper's own documents, as a root kubelet on this host runs them. */
function rootfulDocuments(renderedInit: string): string {
  const docs = YAML.parseAllDocuments(renderedInit).map((d) => d.toJS() as Record<string, unknown>);
  return docs
    .map((doc) => {
      if (doc.kind !== 'KubeletConfiguration') return doc;
      const merged = deepMerge(doc, ROOTLESS_KUBELET_SETTINGS(undefined, { cgroups: 'none', minor: kubeletMinor(K8S_TOOLS_VERSIONS.kubernetes.version) }));
      const { KubeletInUserNamespace: _, ...gates } = (merged.featureGates ?? {}) as Record<string, boolean>;
      return { ...merged, featureGates: gates };
    })
    .map((doc) => YAML.stringify(doc))
    .join('---\n');
}

/**
 * Run before crun: the OCI bundle fitted to what root may do in a node of this host, as the
 * rootless crun skips what it may not do. Negative OOM scores (CRI-O's infra containers, kubelet's
 * critical pods) are raised to 0 and capabilities outside the node's bounding set (a privileged
 * container asks for all) are dropped: the host's root lacks CAP_SYS_RESOURCE, nspawn drops a few more.
 */
const FIT_BUNDLE = `import { readFileSync, writeFileSync } from 'node:fs';
const NAMES = ${JSON.stringify(CAPABILITIES)};
const args = process.argv.slice(2);
const at = args.findIndex((a) => a === '--bundle' || a === '-b');
const bundle = at >= 0 ? args[at + 1] : args.find((a) => a.startsWith('--bundle='))?.slice(9);
if (bundle) {
  const file = bundle + '/config.json';
  const spec = JSON.parse(readFileSync(file, 'utf8'));
  const bounding = BigInt('0x' + /^CapBnd:\\s+(\\w+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
  const allowed = new Set(NAMES.filter((_, bit) => (bounding >> BigInt(bit)) & 1n).map((n) => 'CAP_' + n));
  const p = spec.process ?? {};
  if (p.oomScoreAdj < 0) p.oomScoreAdj = 0;
  for (const set of Object.keys(p.capabilities ?? {})) p.capabilities[set] = p.capabilities[set].filter((c) => allowed.has(c));
  writeFileSync(file, JSON.stringify(spec));
}
`;

/** What the rootful baseline needs on the node besides the packages: written once. */
async function prepareRootful(state: ClusterState, renderedInit: string): Promise<void> {
  const node = state.nodes[0]!;
  const root = (path: string) => join(node.root, path);
  mkdirSync(root(`${BENCH_DIR}/crio.conf.d`), { recursive: true });
  writeFileSync(root(`${BENCH_DIR}/kubeadm.yaml`), rootfulDocuments(renderedInit));
  const flannel = renderFlannel(readFileSync(root(FLANNEL_MANIFEST), 'utf8'), { podCidr: '10.244.0.0/16', repository: `registry.local/${state.platform}` });
  writeFileSync(root(`${BENCH_DIR}/kube-flannel.yml`), flannel);
  // Only `create` and `run` take a bundle; every other crun call (state, kill, delete, …) goes straight through.
  const shim =
    `#!/bin/sh\ncase " $* " in *" create "*|*" run "*) /usr/bin/node ${BENCH_DIR}/fit-bundle.mjs "$@" || exit ;; esac` +
    `\nexec /usr/bin/crun --cgroup-manager=disabled "$@"\n`;
  writeFileSync(root(`${BENCH_DIR}/crun`), shim, { mode: 0o755 });
  writeFileSync(root(`${BENCH_DIR}/fit-bundle.mjs`), FIT_BUNDLE);
  const storage = '/var/lib/u7s-admin/.local/share/usernetes/rootful-bench';
  writeFileSync(
    root(`${BENCH_DIR}/crio.conf`),
    [
      '[crio]',
      `root = "${storage}/storage"`,
      'runroot = "/run/containers/storage"',
      'storage_driver = "overlay"',
      '[crio.api]',
      'listen = "/run/crio/crio.sock"',
      '[crio.runtime]',
      'cgroup_manager = "cgroupfs"',
      'default_runtime = "crun"',
      'pinns_path = "/usr/bin/pinns"',
      'drop_infra_ctr = false',
      '[crio.runtime.runtimes.crun]',
      `runtime_path = "${BENCH_DIR}/crun"`,
      'runtime_type = "oci"',
      'runtime_root = "/run/crun"',
      'monitor_cgroup = "pod"',
      '[crio.image]',
      'signature_policy = "/etc/containers/policy.json"',
      `pause_image = "registry.local/${state.platform}/pause:3.10.1"`,
      '[crio.network]',
      'network_dir = "/etc/cni/net.d/"',
      'plugin_dirs = ["/opt/cni/bin/"]',
      '',
    ].join('\n'),
  );
  writeFileSync(
    root('etc/systemd/system/podsec-bench-crio.service'),
    `[Unit]\nDescription=CRI-O as root (podsec benchmark baseline)\n\n[Service]` +
      `\nExecStart=/usr/bin/crio --config ${BENCH_DIR}/crio.conf --config-dir ${BENCH_DIR}/crio.conf.d` +
      `\nRestart=on-failure\n`,
  );
  writeFileSync(
    root('etc/systemd/system/kubelet.service'),
    '[Unit]\nDescription=kubelet as root (podsec benchmark baseline)\nAfter=podsec-bench-crio.service\n\n[Service]' +
      '\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n' +
      // kubeadm drops an empty list when it writes the file (kubelet would then enforce "pods"); u7s-kubelet puts it back the same way.
      `ExecStartPre=-/bin/sh -c "grep -q '^enforceNodeAllocatable:' ${KUBELET_CONFIG} || echo 'enforceNodeAllocatable: []' >> ${KUBELET_CONFIG}"\n` +
      `ExecStart=/usr/bin/kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf` +
      ` --config=${KUBELET_CONFIG} $KUBELET_KUBEADM_ARGS\nRestart=always\nRestartSec=2\n`,
  );
  // The node's standard plugins and flannel's network, as the rootless node has them in its namespace.
  mkdirSync(root('opt/cni/bin'), { recursive: true });
  for (const plugin of readdirSync(root('usr/lib/cni')))
    if (!existsSync(root(`opt/cni/bin/${plugin}`))) symlinkSync(`/usr/lib/cni/${plugin}`, root(`opt/cni/bin/${plugin}`));
  writeFileSync(root('etc/cni/net.d/10-flannel.conflist'), readFileSync(root(PACKAGED_FLANNEL_CNI)));
  const binds = Object.entries(KUBELET_TUNABLES)
    .map(([path, value]) => {
      const file = `${BENCH_DIR}/sysctl-${path.replace(/\//g, '.')}`;
      return `printf '%s\\n' ${value} > ${file} && { grep -q ' /proc/sys/${path} ' /proc/self/mountinfo || mount --bind ${file} /proc/sys/${path}; }`;
    })
    .join(' && ');
  await mustExec(node, ['sh', '-ec', `${binds} && : > /dev/kmsg && mkdir -p -m 700 ${storage} && systemctl daemon-reload`]);
  await startRootfulCrio(node);
  await mustExec(node, ['kubeadm', 'config', 'images', 'pull', '--config', `${BENCH_DIR}/kubeadm.yaml`], { timeoutMs: 600_000 });
  for (const image of ['flannel:v0.26.7', 'flannel-cni-plugin:v1.6.2-flannel1'])
    await mustExec(node, ['crictl', '--runtime-endpoint', CRIO_SOCKET, 'pull', `registry.local/${state.platform}/${image}`], { timeoutMs: 300_000 });
  await mustExec(node, ['systemctl', 'stop', 'podsec-bench-crio.service']);
}

/** CRI-O started as root, and answering (bounded). */
async function startRootfulCrio(node: NodeState): Promise<void> {
  await mustExec(node, ['systemctl', 'start', 'podsec-bench-crio.service']);
  for (let waited = 0; (await nodeExec(node, ['crictl', '--runtime-endpoint', CRIO_SOCKET, 'version'])).exitCode !== 0; waited += 200) {
    if (waited > 60_000) throw new Error(`${node.name}: the rootful CRI-O did not answer within 60 s`);
    await sleep(200);
  }
}

async function rootfulInit(node: NodeState): Promise<void> {
  await startRootfulCrio(node);
  await mustExec(node, ['kubeadm', 'init', '--config', `${BENCH_DIR}/kubeadm.yaml`, '--ignore-preflight-errors=all'], { timeoutMs: 900_000 });
  await mustExec(node, ['sh', '-ec', 'mkdir -p /root/.kube && cp /etc/kubernetes/admin.conf /root/.kube/config']);
  await mustExec(node, kubectlArgs('apply', '-f', `${BENCH_DIR}/kube-flannel.yml`));
}

async function rootfulReset(node: NodeState): Promise<void> {
  await mustExec(node, ['kubeadm', 'reset', '--force', '--cri-socket', CRIO_SOCKET], { timeoutMs: 600_000 });
  await mustExec(node, ['systemctl', 'stop', 'kubelet.service', 'podsec-bench-crio.service']);
  await nodeExec(node, [
    'sh',
    '-c',
    'ip link del cni0; ip link del flannel.1; for t in nat filter mangle; do iptables -t $t -F; iptables -t $t -X; done; rm -rf /run/flannel /var/lib/cni',
  ]);
}

async function runSession(): Promise<{ rootless: Sample[]; rootful: Sample[] }> {
  if (await liveState(log)) throw new Error('a cluster is up; the benchmark makes its own: npm run cluster -- down first');
  const state = await up({ nodes: 1, controlPlanes: 1, log });
  const node = state.nodes[0]!;
  const rootless: Sample[] = [];
  const rootful: Sample[] = [];
  try {
    // The wrapper's documents of the init `up` ran (a reset removes them).
    const renderedInit = readFileSync(join(node.root, RENDERED_INIT), 'utf8');
    await rootlessReset(node);
    await prepareRootful(state, renderedInit);
    for (let i = 0; i < RUNS; i++) {
      log(`cluster bench: run ${i + 1}/${RUNS}, rootless`);
      rootless.push(await measure(state, 'rootless', async () => void (await initFirst(state, log))));
      await rootlessReset(node);
      log(`cluster bench: run ${i + 1}/${RUNS}, rootful`);
      rootful.push(await measure(state, 'rootful', () => rootfulInit(node)));
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
