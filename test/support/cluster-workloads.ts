/**
 * The cluster tier's frame and workloads: a cluster brought up before a test file and removed
 * after it; busybox images made on the host as podsec-save-oci archives, dropped on the master,
 * and pushed and signed there by the cluster's image maker (the flow a node operator follows);
 * a bounded poll.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as assert from 'uvu/assert';
import { CLUSTER_PLATFORM, down, kubectlArgs, up, type UpOptions } from '../../scripts/cluster/cluster.ts';
import { mustExec, nodeExec } from '../../scripts/cluster/machines.ts';
import { readState, type ClusterState, type NodeState } from '../../scripts/cluster/state.ts';
import { CLUSTER_ARCHIVE_LEVEL, loadAndSignAsMaker } from '../../scripts/cluster/supply.ts';
import { fileSha256, pruneEntries, sleep } from '../../scripts/image/cache.ts';
import { ensureBuild } from './build.ts';
import { stopwatch } from './exec.ts';
import { hookError } from './image-env.ts';
import { buildImage, imageStore, removeTree, saveArchive } from './oci-fixtures.ts';
import type { RunResult } from './rootfs.ts';
import { runCommand } from './trust-fixtures.ts';

/** Where the archives go on the master: `<dir>.tar.xz` and its unpacked layout `<dir>/`. */
export const DROP = '/var/tmp/podsec-cluster-test';

/**
 * Archives of workload images that carry programs of their own (the ingress controller's 180 MB),
 * kept across runs under a key of what goes into the image.
 */
const WORKLOAD_ARCHIVES = '/var/cache/podsec/cluster-archives';

/** podsec-save-oci of a busybox image with `programs` into `<work>/<dir>/amd64.tar.xz`, or the same image's archive of an earlier run. */
async function workloadArchive(work: string, dir: string, name: string, programs?: Record<string, string>): Promise<string> {
  const out = join(work, dir, 'amd64.tar.xz');
  const key = createHash('sha256').update(JSON.stringify([name, dir]));
  for (const [program, path] of Object.entries(programs ?? {}).sort()) key.update(`${program}:${await fileSha256(path)}`);
  const cached = programs && join(WORKLOAD_ARCHIVES, `workload-${dir}-${key.digest('hex').slice(0, 16)}.tar.xz`);
  if (cached && existsSync(cached)) {
    await fs.mkdir(join(work, dir), { recursive: true });
    await fs.copyFile(cached, out);
    return out;
  }
  const store = imageStore(work);
  await buildImage(store, name, dir, programs);
  const saved = await saveArchive(store, join(work, dir), 'amd64', [name], 1_200_000, CLUSTER_ARCHIVE_LEVEL);
  if (saved.exitCode !== 0) throw new Error(`podsec-save-oci ${name}: ${saved.stderr}`);
  if (cached) {
    await fs.mkdir(WORKLOAD_ARCHIVES, { recursive: true });
    await fs.copyFile(out, `${cached}.tmp-${process.pid}`);
    await fs.rename(`${cached}.tmp-${process.pid}`, cached);
    await pruneEntries(WORKLOAD_ARCHIVES, `workload-${dir}-`, 2, [basename(cached)]);
  }
  return out;
}

/**
 * Each [dir, image name, more programs] as a busybox image saved by podsec-save-oci under DROP on
 * the master, readable by everyone.
 */
export async function dropImages(master: NodeState, work: string, images: readonly (readonly [string, string, Record<string, string>?])[]): Promise<void> {
  const drop = join(master.root, DROP);
  for (const [dir, name, programs] of images) {
    const archive = await workloadArchive(work, dir, name, programs);
    await fs.mkdir(join(drop, dir), { recursive: true });
    const unpacked = await runCommand('tar', ['-xJf', archive, '-C', join(drop, dir)]);
    if (unpacked.exitCode !== 0) throw new Error(`tar: ${unpacked.stderr}`);
    await fs.copyFile(archive, join(drop, `${dir}.tar.xz`));
  }
  await runCommand('chmod', ['-R', 'a+rX', drop]);
}

/** podsec-load-sign-oci of DROP/<dir>.tar.xz as the cluster's image maker on the master. */
export const loadAndSign = (master: NodeState, dir: string): Promise<RunResult> =>
  loadAndSignAsMaker(master, `${DROP}/${dir}.tar.xz`, readState()!.makerKey!, CLUSTER_PLATFORM, 600_000);

/** Bounded poll of `probe` every 2 s; the last answer in the error. */
export async function until(what: string, seconds: number, probe: () => Promise<string | true>): Promise<void> {
  let last = '';
  for (let waited = 0; waited <= seconds * 1000; waited += 2000) {
    const answer = await probe();
    if (answer === true) return;
    last = answer;
    await sleep(2000);
  }
  throw new Error(`${what}: not within ${seconds} s (last: ${last})`);
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/**
 * Before the file's tests: `npm run cluster -- up` with `options` and our RPMs, then `prepare`
 * with the cluster and a scratch directory (workloads, images). After them: `down` (unless
 * PODSEC_CLUSTER_KEEP=yes), the scratch directory removed, and the timings printed.
 */
export function clusterHooks(
  suite: { before(hook: () => Promise<void>): void; after(hook: () => Promise<void>): void },
  options: Omit<UpOptions, 'rpms' | 'log'>,
  times: Record<string, number>,
  prepare: (state: ClusterState, work: string) => Promise<void>,
): void {
  const timed = stopwatch(times);
  let work = '';
  suite.before(async () => {
    try {
      const built = await ensureBuild('p11');
      work = mkdtempSync('/var/tmp/podsec-cluster-test-');
      const state = await timed('up', () => up({ ...options, rpms: built.rpms, log }));
      await prepare(state, work);
    } catch (err) {
      hookError(err);
    }
  });
  suite.after(async () => {
    if (process.env.PODSEC_CLUSTER_KEEP !== 'yes') await down(log);
    if (work) removeTree(work);
    console.log('  timings (ms):', times);
  });
}

/** A busybox image dropped on the master and signed by the cluster's image maker. */
export async function signedWorkload(master: NodeState, work: string, dir: string, name: string, programs?: Record<string, string>): Promise<void> {
  await dropImages(master, work, [[dir, name, programs]]);
  const loaded = await loadAndSign(master, dir);
  if (loaded.exitCode !== 0) throw new Error(`podsec-load-sign-oci: ${loaded.stderr}${loaded.stdout}`);
}

/** A pod of `image` on `node` (placed by name, tolerating the control plane's taint), running `argv`. */
export async function podOn(master: NodeState, name: string, node: NodeState, image: string, argv: string[]): Promise<void> {
  const overrides = {
    spec: { nodeName: node.name, tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }] },
  };
  await mustExec(
    master,
    kubectlArgs('run', name, `--image=${image}`, '--restart=Never', `--overrides=${JSON.stringify(overrides)}`, '--command', '--', ...argv),
  );
}

export const podIp = async (master: NodeState, name: string) =>
  (await mustExec(master, kubectlArgs('get', 'pod', name, '-o', 'jsonpath={.status.podIP}'))).trim();

/**
 * From inside pod `client`, GET /variant of a busybox httpd serving the image's /etc at host:port:
 * true when the answer is `variant`, else what came back. busybox's nc: its static wget crashes in
 * getaddrinfo without the libc's NSS modules.
 */
export async function fetchVariant(master: NodeState, client: string, host: string, port: number, variant: string): Promise<string | true> {
  const request = `printf 'GET /variant HTTP/1.0\\r\\n\\r\\n' | /bin/busybox nc -w 5 "$1" "$2"`;
  const r = await nodeExec(master, kubectlArgs('exec', client, '--', '/bin/sh', '-c', request, 'sh', host, String(port)), { timeoutMs: 120_000 });
  return r.stdout.trim().split('\n').at(-1) === variant || (r.stdout + r.stderr).trim().slice(-300);
}

/**
 * Pod traffic between every pair of `nodes` (a busybox httpd and a client pod on each, the client
 * of one node fetching the other's httpd pod by its IP), and a ClusterIP Service of the last
 * node's httpd from every node's client. The nodes' pods must get subnets of their own.
 */
export async function podTrafficEveryWay(master: NodeState, nodes: NodeState[], image: string, seconds = 120): Promise<void> {
  for (const node of nodes) {
    await podOn(master, `web-${node.index}`, node, image, ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc']);
    await podOn(master, `client-${node.index}`, node, image, ['/bin/busybox', 'sleep', '3600']);
  }
  const last = nodes.at(-1)!;
  await mustExec(master, kubectlArgs('expose', 'pod', `web-${last.index}`, '--name=web', '--port=80', '--target-port=8080'));
  const pods = nodes.flatMap((n) => [`pod/web-${n.index}`, `pod/client-${n.index}`]);
  await mustExec(master, kubectlArgs('wait', '--for=condition=Ready', '--timeout=300s', ...pods), { timeoutMs: 320_000 });
  const clusterIp = (await mustExec(master, kubectlArgs('get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}'))).trim();
  const ips = new Map<number, string>();
  for (const node of nodes) ips.set(node.index, await podIp(master, `web-${node.index}`));
  const subnets = new Set([...ips.values()].map((ip) => ip.split('.').slice(0, 3).join('.')));
  if (subnets.size !== nodes.length) throw new Error(`the nodes' pods share subnets: ${[...ips.values()].join(' ')}`);
  for (const from of nodes) {
    for (const to of nodes.filter((n) => n !== from))
      await until(`${from.name} to ${to.name}, pod to pod`, seconds, () => fetchVariant(master, `client-${from.index}`, ips.get(to.index)!, 8080, 'web'));
    await until(`${from.name}: the Service`, seconds, () => fetchVariant(master, `client-${from.index}`, clusterIp, 80, 'web'));
  }
}

/**
 * A RootFullLess pair after up: both nodes Ready, flannel and kube-proxy ready on each, the rootful
 * node's kubelet run by root and nothing by u7s-admin, the rootless node's kubelet by u7s-admin.
 */
export async function assertRootfulLessPair(master: NodeState, rootful: NodeState, rootless: NodeState): Promise<void> {
  const kubectl = (...args: string[]) => mustExec(master, kubectlArgs(...args), { timeoutMs: 120_000 });
  const ready = await kubectl('get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}');
  assert.equal(ready.trim().split(' ').sort(), [`${rootful.name}=True`, `${rootless.name}=True`].sort());
  for (const [namespace, daemonSet] of [
    ['kube-flannel', 'kube-flannel-ds'],
    ['kube-system', 'kube-proxy'],
  ] as const)
    assert.is(await kubectl('-n', namespace, 'get', 'daemonset', daemonSet, '-o', 'jsonpath={.status.numberReady}'), '2', `${namespace}/${daemonSet}`);
  const runs = async (node: NodeState, ...pgrep: string[]) => (await nodeExec(node, ['pgrep', ...pgrep])).exitCode === 0;
  assert.ok(await runs(rootful, '-u', 'root', '-x', 'kubelet'), `${rootful.name}: no kubelet of root`);
  assert.not.ok(await runs(rootful, '-u', 'u7s-admin'), `${rootful.name}: u7s-admin runs something`);
  assert.ok(await runs(rootless, '-u', 'u7s-admin', '-x', 'kubelet'), `${rootless.name}: no kubelet of u7s-admin`);
  assert.not.ok(await runs(rootless, '-u', 'root', '-x', 'kubelet'), `${rootless.name}: a kubelet runs as root`);
}
