/**
 * A minor (or patch) upgrade of a rootless cluster, node by node, as kubeadm's own procedure with
 * what a rootless node adds: every check before the first change (the step, the installed
 * kubeadm and kubelet, the feature gates, every image of the target pulled through the node's
 * signature policy), kubeadm run as the node account inside its namespace, kubelet restarted
 * there (u7s-kubelet applies the rootless settings to the configuration kubeadm rewrote), the
 * node drained and uncordoned around it, and root's admin kubeconfig copied again after kubeadm
 * renewed the certificates.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { translator } from '../../lib/i18n.ts';
import { CommandError } from '../../lib/command.ts';
import { capture, lastLines } from '../../lib/proc.ts';
import { hostCgroupProbe } from './cgroups.ts';
import { inNamespace, kubeconfigs, pullIntoNode } from './deploy-run.ts';
import { imagesForRole } from './image-pull.ts';
import type { NodeOps } from './node-ops.ts';
import { startUnits } from './node-service.ts';
import { KUBERNETES_DIR, SYSTEM_PROGRAMS } from './paths.ts';
import { poll } from './poll.ts';
import {
  atVersion,
  clusterGates,
  clusterVersion,
  gateChanges,
  installedProblems,
  kubeadmUpgradeFlags,
  parseClusterConfiguration,
  stepProblem,
  withoutGates,
} from './upgrade.ts';
import { parseKubeVersion, type KubeVersion } from './values.ts';

const t = translator('podsec-k8s');
const say = (line: string) => process.stderr.write(`${line}\n`);

const ADMIN_CONF = join(KUBERNETES_DIR, 'admin.conf');
const KUBELET_CONF = join(KUBERNETES_DIR, 'kubelet.conf');
const API_SERVER_MANIFEST = join(KUBERNETES_DIR, 'manifests', 'kube-apiserver.yaml');
/** How long a drain may wait for its evictions (PodDisruptionBudgets included). */
const DRAIN_TIMEOUT = '600s';
const NODE_READY_TIMEOUT_MS = 5 * 60_000;

type Doc = Record<string, unknown>;

interface Node {
  ops: NodeOps;
  /** admin.conf on a control plane, kubelet.conf on a worker. */
  kubeconfig: string;
  controlPlane: boolean;
}

function nodeOf(ops: NodeOps): Node {
  const controlPlane = existsSync(join(ops.root, API_SERVER_MANIFEST)) && existsSync(join(ops.root, ADMIN_CONF));
  return { ops, controlPlane, kubeconfig: controlPlane ? ADMIN_CONF : KUBELET_CONF };
}

const runKubectl = (node: Node, args: string[], timeoutMs: number) =>
  node.ops.run([SYSTEM_PROGRAMS.kubectl, '--kubeconfig', node.kubeconfig, ...args], timeoutMs);

/** kubectl with the node's kubeconfig; its output, or a CommandError. */
async function kubectl(node: Node, args: string[], timeoutMs = 120_000): Promise<string> {
  const r = await runKubectl(node, args, timeoutMs);
  if (r.code !== 0) throw new CommandError(t('kubectl {command} failed: {reason}', { command: args.slice(0, 2).join(' '), reason: lastLines(r.stderr, 3) }));
  return r.stdout;
}

async function readCluster(node: Node): Promise<Doc> {
  const text = await kubectl(node, ['-n', 'kube-system', 'get', 'configmap', 'kubeadm-config', '-o', 'jsonpath={.data.ClusterConfiguration}']);
  try {
    return parseClusterConfiguration(text);
  } catch (error) {
    throw new CommandError((error as Error).message);
  }
}

/** The node's name as the cluster knows it: its kubelet's identity (system:node:NAME). */
async function nodeName(node: Node): Promise<string> {
  const kubelet: Node = { ...node, kubeconfig: KUBELET_CONF };
  const user = (await kubectl(kubelet, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'])).trim();
  if (!user.startsWith('system:node:')) throw new CommandError(t('{file} is not a node identity ({user})', { file: KUBELET_CONF, user }));
  return user.slice('system:node:'.length);
}

async function installed(ops: NodeOps): Promise<{ kubeadm?: string; kubelet?: string }> {
  const version = async (argv: string[]) => {
    const r = await ops.run(argv, 30_000);
    return r.code === 0 ? r.stdout.trim() : undefined;
  };
  return { kubeadm: await version([SYSTEM_PROGRAMS.kubeadm, 'version', '-o', 'short']), kubelet: await version([SYSTEM_PROGRAMS.kubelet, '--version']) };
}

/** The images kubeadm of the installed version lists for the cluster's configuration at `version` (its image repository and tags). */
async function targetImages(cluster: Doc, version: KubeVersion): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'podsec-u7s-upgrade-'));
  try {
    const file = join(dir, 'cluster.yaml');
    writeFileSync(file, atVersion(cluster, version), { mode: 0o600 });
    const r = await capture(SYSTEM_PROGRAMS.kubeadm, ['config', 'images', 'list', '--config', file], { timeoutMs: 60_000, cwd: '/' });
    if (r.code !== 0) throw new CommandError(t('kubeadm config images list failed: {reason}', { reason: lastLines(r.stderr, 3) }));
    return r.stdout
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Checked {
  cluster: Doc;
  target: KubeVersion;
  /** The node's kubelet as the cluster reports it now. */
  running: KubeVersion;
  name: string;
  dropGates: string[];
  images: string[];
}

/**
 * Everything an upgrade of this node to `wanted` needs, checked without changing anything; every
 * refusal named at once. `wanted` undefined: the cluster's version (a node after the control plane).
 */
async function check(node: Node, wanted: string | undefined): Promise<Checked> {
  const cluster = await readCluster(node);
  const current = clusterVersion(cluster);
  const name = await nodeName(node);
  const reported = (await kubectl(node, ['get', 'node', name, '-o', 'jsonpath={.status.nodeInfo.kubeletVersion}'])).trim();
  const running = parseKubeVersion(reported);
  if (!running) throw new CommandError(t('node {node} reports no kubelet version ({version})', { node: name, version: reported }));
  const problems: string[] = [];
  const target = wanted === undefined ? current : parseKubeVersion(wanted);
  if (!target) throw new CommandError(t('{version} is not a Kubernetes version v1.MINOR.PATCH', { version: JSON.stringify(wanted) }), 2);
  if (wanted !== undefined) {
    const step = stepProblem(current, target);
    if (step) problems.push(step);
  } else if (running.text === target.text) {
    problems.push(t('node {node} already runs {version}, the version of the cluster', { node: name, version: target.text }));
  } else {
    const step = stepProblem(running, target);
    if (step) problems.push(step);
  }
  problems.push(...installedProblems(target, await installed(node.ops)));
  const gates = gateChanges(clusterGates(cluster), target.minor);
  problems.push(...gates.refuse);
  if (problems.length)
    throw new CommandError(
      [
        t.n('{count} problem stops the upgrade; nothing was changed:', '{count} problems stop the upgrade; nothing was changed:', problems.length),
        ...problems,
      ].join('\n  - '),
    );
  const all = await targetImages(withoutGates(cluster, gates.drop), target);
  return { cluster, target, running, name, dropGates: gates.drop, images: imagesForRole(node.controlPlane ? 'control-plane' : 'worker', all, []) };
}

/** The images of the target, pulled through the node's signature policy: an unsigned one stops the upgrade before any change. */
async function pullTarget(node: Node, checked: Checked): Promise<void> {
  say(t('Pulling the images of {version} into the node, checked against its signature policy', { version: checked.target.text }));
  try {
    await pullIntoNode(node.ops.account, checked.images);
  } catch (error) {
    throw new CommandError(t('{reason}; nothing was changed', { reason: (error as Error).message }));
  }
}

/** A pod as the kubelet's own /pods lists it: its UID, its source and its Ready condition. */
interface KubeletPod {
  metadata?: { uid?: string; annotations?: Record<string, string> };
  status?: { conditions?: { type?: string; status?: string }[] };
}

/**
 * The static pods the node's kubelet runs now, by its own list (through the API server's node proxy):
 * their UIDs are a hash of the pod as this kubelet reads it, so a kubelet of another minor may
 * recreate them all; undefined while the kubelet does not answer.
 */
async function staticPods(node: Node, name: string): Promise<{ uids: string[]; ready: boolean } | undefined> {
  const r = await runKubectl(node, ['get', '--raw', `/api/v1/nodes/${name}/proxy/pods`], 30_000);
  if (r.code !== 0) return undefined;
  let items: KubeletPod[];
  try {
    items = (JSON.parse(r.stdout) as { items?: KubeletPod[] }).items ?? [];
  } catch {
    return undefined;
  }
  const statics = items.filter((pod) => pod.metadata?.annotations?.['kubernetes.io/config.source'] === 'file');
  const ready = (pod: KubeletPod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  return { uids: statics.map((pod) => pod.metadata?.uid ?? '').sort(), ready: statics.length > 0 && statics.every(ready) };
}

/**
 * Restarts the node's kubelet and waits for it to report Ready at the target version; on a control
 * plane also for its static pods (API server, etcd, ...) to be Ready as the new kubelet runs them,
 * since it recreates them when their hash changed between minors and the API server is gone meanwhile.
 */
async function restartKubelet(node: Node, checked: Checked): Promise<void> {
  const before = node.controlPlane ? await staticPods(node, checked.name) : undefined;
  say(t('Restarting kubelet of {user} in the node namespace', { user: node.ops.account.name }));
  await startUnits(node.ops.account, ['kubelet.service'], 'restart');
  const jsonpath = '{.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type=="Ready")].status}';
  const deadline = Date.now() + NODE_READY_TIMEOUT_MS;
  const ready = await poll(
    async () => {
      const r = await runKubectl(node, ['get', 'node', checked.name, '-o', `jsonpath=${jsonpath}`], 30_000);
      return r.code === 0 && r.stdout.trim() === `${checked.target.text} True` ? true : undefined;
    },
    NODE_READY_TIMEOUT_MS,
    2000,
  );
  const facts = { node: checked.name, version: checked.target.text, seconds: NODE_READY_TIMEOUT_MS / 1000, uid: node.ops.account.uid };
  if (!ready)
    throw new CommandError(t('node {node} did not report Ready with kubelet {version} within {seconds} s; see journalctl _UID={uid} -t kubelet', facts));
  if (!node.controlPlane) return;
  const after = await poll(
    async () => {
      const pods = await staticPods(node, checked.name);
      return pods?.ready ? pods : undefined;
    },
    Math.max(0, deadline - Date.now()),
    2000,
  );
  if (!after)
    throw new CommandError(
      t('the static pods of node {node} were not Ready under kubelet {version} within {seconds} s; see journalctl _UID={uid} -t kubelet', facts),
    );
  if (before && before.uids.join() !== after.uids.join())
    say(
      t('kubelet {version} recreated the static pods of {node} (their hash changed); they are Ready again', {
        version: checked.target.text,
        node: checked.name,
      }),
    );
}

async function kubeadmUpgrade(node: Node, checked: Checked, args: string[]): Promise<void> {
  say(t('Running kubeadm {command} in the node namespace', { command: args.slice(0, 2).join(' ') }));
  const flags = kubeadmUpgradeFlags(checked.target, hostCgroupProbe.isCgroup2('/sys/fs/cgroup'));
  if (flags.length)
    say(t('cgroup v1 host: kubelet runs with failCgroupV1: false, so kubeadm is told to skip its cgroup v1 check ({flags})', { flags: flags.join(' ') }));
  const code = await inNamespace(node.ops.account, [SYSTEM_PROGRAMS.kubeadm, ...args, ...flags]);
  if (code !== 0)
    throw new CommandError(
      t('kubeadm {command} failed (exit status {code}); the node stays cordoned: see journalctl _UID={uid}, then uncordon it', {
        command: args.slice(0, 2).join(' '),
        code,
        uid: node.ops.account.uid,
      }),
    );
}

const drain = (node: Node, name: string) =>
  kubectl(node, ['drain', name, '--ignore-daemonsets', '--delete-emptydir-data', `--timeout=${DRAIN_TIMEOUT}`], 15 * 60_000).then(() => undefined);
const uncordon = (node: Node, name: string) => kubectl(node, ['uncordon', name]).then(() => undefined);

function planText(checked: Checked, node: Node): string {
  const lines = [
    t('Cluster: {current}; target: {target}; this node ({node}): kubelet {running}', {
      current: clusterVersion(checked.cluster).text,
      target: checked.target.text,
      node: checked.name,
      running: checked.running.text,
    }),
    t('Images of the target this node runs (pulled through the signature policy before any change):'),
    ...checked.images.map((image) => `  ${image}`),
  ];
  if (checked.dropGates.length)
    lines.push(t('kubeadm feature gates taken out of the cluster configuration (fixed in the target): {gates}', { gates: checked.dropGates.join(', ') }));
  lines.push(node.controlPlane ? t('Steps: drain this node, kubeadm upgrade, restart kubelet, uncordon.') : t('Steps: kubeadm upgrade node, restart kubelet.'));
  return `${lines.join('\n')}\n`;
}

/** `plan [VERSION]`: what apply would do on this control plane, or why it would refuse (exit status 1). Changes nothing. */
async function upgradePlan(ops: NodeOps, wanted: string | undefined): Promise<number> {
  const node = nodeOf(ops);
  if (!node.controlPlane)
    throw new CommandError(t('plan and apply run on a control-plane node (no {file} here); on this node run: podsec-u7s-upgrade node', { file: ADMIN_CONF }));
  const target = wanted ?? (await installed(ops)).kubeadm;
  process.stdout.write(planText(await check(node, target), node));
  return 0;
}

/** `apply VERSION` on the first control plane: the cluster's control plane, then this node's kubelet. */
async function upgradeApply(ops: NodeOps, wanted: string): Promise<number> {
  const node = nodeOf(ops);
  if (!node.controlPlane)
    throw new CommandError(t('plan and apply run on a control-plane node (no {file} here); on this node run: podsec-u7s-upgrade node', { file: ADMIN_CONF }));
  const checked = await check(node, wanted);
  process.stderr.write(planText(checked, node));
  await pullTarget(node, checked);
  if (checked.dropGates.length) {
    const config = atVersion(withoutGates(checked.cluster, checked.dropGates), clusterVersion(checked.cluster));
    await kubectl(node, [
      '-n',
      'kube-system',
      'patch',
      'configmap',
      'kubeadm-config',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ data: { ClusterConfiguration: config } }),
    ]);
  }
  say(t('Draining {node}', { node: checked.name }));
  await drain(node, checked.name);
  await kubeadmUpgrade(node, checked, ['upgrade', 'apply', checked.target.text, '--yes']);
  await kubeconfigs({ root: ops.root, account: ops.account });
  await restartKubelet(node, checked);
  await uncordon(node, checked.name);
  say(
    t(
      'The control plane and {node} run {version}. Then each other node, control planes first: on a control plane ' +
        'kubectl drain NODE --ignore-daemonsets --delete-emptydir-data; on the node, the {minor} packages of kubeadm and kubelet, ' +
        'then podsec-u7s-upgrade node; then kubectl uncordon NODE.',
      { node: checked.name, version: checked.target.text, minor: `v${checked.target.major}.${checked.target.minor}` },
    ),
  );
  return 0;
}

/** `node` on every other node, after apply: kubeadm upgrade node and kubelet; a control plane drains and uncordons itself. */
async function upgradeNode(ops: NodeOps): Promise<number> {
  const node = nodeOf(ops);
  const checked = await check(node, undefined);
  process.stderr.write(planText(checked, node));
  await pullTarget(node, checked);
  if (node.controlPlane) {
    say(t('Draining {node}', { node: checked.name }));
    await drain(node, checked.name);
  }
  await kubeadmUpgrade(node, checked, ['upgrade', 'node']);
  if (node.controlPlane) await kubeconfigs({ root: ops.root, account: ops.account });
  await restartKubelet(node, checked);
  if (node.controlPlane) await uncordon(node, checked.name);
  else say(t('{node} runs {version}; uncordon it on a control plane: kubectl uncordon {node}', { node: checked.name, version: checked.target.text }));
  return 0;
}

/** plan|apply|node with their arguments, for podsec-u7s-upgrade and for `kubeadm upgrade ...` through the kubeadm wrapper. */
export function upgradeCommand(positionals: string[], ops: () => NodeOps): Promise<number> {
  const [command, ...args] = positionals;
  const extra = command === 'node' ? args : args.slice(1);
  if (extra.length) throw new CommandError(t('unexpected arguments: {args}', { args: extra.join(' ') }), 2);
  if (command === 'plan') return upgradePlan(ops(), args[0]);
  if (command === 'apply') {
    if (args[0] === undefined) throw new CommandError(t('apply needs the target version, for example v1.35.4'), 2);
    return upgradeApply(ops(), args[0]);
  }
  if (command === 'node') return upgradeNode(ops());
  throw new CommandError(t('unknown command {command}: use plan, apply or node', { command: JSON.stringify(command ?? '') }), 2);
}
