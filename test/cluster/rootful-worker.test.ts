// test-runner: exclusive
// test-runner: k8s-tools — npm test builds the components of npm run k8s-tools first
/**
 * "RootFullLess", one way round (`npm run cluster -- up --nodes 2 --rootful 2`): node 1 is a
 * rootless control plane deployed by `podsec-u7s-kubeadm init`; node 2 is a rootful worker — the
 * same packages and binaries, CRI-O and kubelet run by its root (scripts/cluster/rootful.ts) —
 * joined with the join command init printed, by `kubeadm join` as root. The cluster's settings
 * need no edit for it: kube-proxy's conntrack values of a rootless cluster (0: leave the sysctls
 * alone) suit a rootful node too. Checked: both Ready with flannel and kube-proxy; each kubelet
 * runs as whom it should; flannel's VXLAN carries pod traffic both ways between the rootless
 * node's namespace and the rootful node; the rootful node pulls only signed images.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLUSTER_PLATFORM, kubectlArgs } from '../../scripts/cluster/cluster.ts';
import { mustExec, nodeExec } from '../../scripts/cluster/machines.ts';
import type { ClusterState, NodeState } from '../../scripts/cluster/state.ts';
import { CRIO_SOCKET } from '../../scripts/cluster/rootful.ts';
import { MAKER, nodeRunner } from '../../scripts/cluster/supply.ts';
import { clusterHooks, DROP, dropImages, fetchVariant, podIp, podOn, signedWorkload, until } from '../support/cluster-workloads.ts';
import { pushUnsigned } from '../support/image-nspawn.ts';
import { NODE_TOOLS, runGated } from '../support/image-env.ts';

let state: ClusterState | undefined;
const times: Record<string, number> = {};
const WEB = `registry.local/${CLUSTER_PLATFORM}/web:1`;
const UNSIGNED = `${CLUSTER_PLATFORM}/unsigned:1`;

const rootless = (): NodeState => state!.nodes[0]!;
const rootful = (): NodeState => state!.nodes[1]!;
const mustKubectl = (...args: string[]) => mustExec(rootless(), kubectlArgs(...args), { timeoutMs: 120_000 });

clusterHooks(test, { nodes: 2, controlPlanes: 1, rootful: [2] }, times, async (up, work) => {
  state = up;
  await signedWorkload(rootless(), work, 'web', `${CLUSTER_PLATFORM}/web:1`);
  await dropImages(rootless(), work, [['unsigned', UNSIGNED]]);
});

test('a rootful worker joined a rootless control plane: both Ready, flannel and kube-proxy on each, each kubelet run by whom it should', async () => {
  const ready = await mustKubectl('get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}');
  assert.equal(ready.trim().split(' ').sort(), ['u7s-node1=True', 'u7s-node2=True']);
  for (const [namespace, daemonSet] of [
    ['kube-flannel', 'kube-flannel-ds'],
    ['kube-system', 'kube-proxy'],
  ] as const)
    assert.is(await mustKubectl('-n', namespace, 'get', 'daemonset', daemonSet, '-o', 'jsonpath={.status.numberReady}'), '2', `${namespace}/${daemonSet}`);
  assert.is((await nodeExec(rootless(), ['pgrep', '-u', 'u7s-admin', '-x', 'kubelet'])).exitCode, 0, 'node 1: no kubelet of u7s-admin');
  assert.is((await nodeExec(rootless(), ['pgrep', '-u', 'root', '-x', 'kubelet'])).exitCode, 1, 'node 1: a kubelet runs as root');
  assert.is((await nodeExec(rootful(), ['pgrep', '-u', 'root', '-x', 'kubelet'])).exitCode, 0, 'node 2: no kubelet of root');
  assert.is((await nodeExec(rootful(), ['pgrep', '-u', 'u7s-admin'])).exitCode, 1, 'node 2: u7s-admin runs something');
  // The cluster's kube-proxy settings are the rootless ones, unedited.
  assert.match(await mustKubectl('-n', 'kube-system', 'get', 'configmap', 'kube-proxy', '-o', 'jsonpath={.data.config\\.conf}'), /maxPerCore: 0/);
});

test('pod traffic both ways between the rootless and the rootful node, and a Service from each', async () => {
  for (const node of state!.nodes) {
    await podOn(rootless(), `web-${node.index}`, node, WEB, ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc']);
    await podOn(rootless(), `client-${node.index}`, node, WEB, ['/bin/busybox', 'sleep', '3600']);
  }
  await mustKubectl('expose', 'pod', 'web-2', '--name=web', '--port=80', '--target-port=8080');
  await mustKubectl('wait', '--for=condition=Ready', '--timeout=300s', 'pod/web-1', 'pod/web-2', 'pod/client-1', 'pod/client-2');
  const clusterIp = (await mustKubectl('get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}')).trim();
  const [web1, web2] = [await podIp(rootless(), 'web-1'), await podIp(rootless(), 'web-2')];
  assert.is.not(web1.split('.').slice(0, 3).join('.'), web2.split('.').slice(0, 3).join('.'), `${web1} and ${web2} share a subnet`);
  await until('rootless to rootful, pod to pod', 120, () => fetchVariant(rootless(), 'client-1', web2, 8080, 'web'));
  await until('rootful to rootless, pod to pod', 120, () => fetchVariant(rootless(), 'client-2', web1, 8080, 'web'));
  for (const node of state!.nodes) await until(`${node.name}: the Service`, 120, () => fetchVariant(rootless(), `client-${node.index}`, clusterIp, 80, 'web'));
});

test("the rootful node's CRI-O checks signatures too: the signed image pulls, one pushed unsigned is refused", async () => {
  const crictlPull = (image: string) => nodeExec(rootful(), ['crictl', '--runtime-endpoint', CRIO_SOCKET, 'pull', image], { timeoutMs: 300_000 });
  const pushed = await pushUnsigned(nodeRunner(rootless()), MAKER, `${DROP}/unsigned/amd64`, UNSIGNED);
  assert.is(pushed.exitCode, 0, pushed.stderr);
  const signed = await crictlPull(WEB);
  assert.is(signed.exitCode, 0, signed.stderr);
  const unsigned = await crictlPull(`registry.local/${UNSIGNED}`);
  assert.is.not(unsigned.exitCode, 0);
  assert.match(unsigned.stderr, /signature/i);
});

runGated(test, 'rootful worker', [...NODE_TOOLS, 'ip', 'podman', 'skopeo', 'busybox', 'xz', 'tar', 'go', 'gcc', 'curl']);
