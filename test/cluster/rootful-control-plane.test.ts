// test-runner: exclusive
// test-runner: k8s-tools — npm test builds the components of npm run k8s-tools first
/**
 * "RootFullLess", the other way round (`npm run cluster -- up --nodes 2 --rootful 1`): node 1 is a
 * rootful control plane made by `kubeadm init` as root with kubeadm's own defaults; node 2 is a
 * rootless worker joined by `podsec-u7s-kubeadm join` with the line kubeadm printed. The wrapper
 * asks the cluster first and refuses (exit 3) with the commands that make it rootless-ready;
 * `up` runs them on node 1 as printed, as an operator would, and joins again. Checked: the refusal
 * came and named kube-proxy's conntrack settings only (a worker), the cluster's settings are the
 * rootless ones afterwards, both nodes Ready with kube-proxy and flannel, each kubelet run by whom
 * it should, and pod traffic both ways.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { CLUSTER_PLATFORM, kubectlArgs } from '../../scripts/cluster/cluster.ts';
import { mustExec } from '../../scripts/cluster/machines.ts';
import type { ClusterState, NodeState } from '../../scripts/cluster/state.ts';
import { assertRootfulLessPair, clusterHooks, podTrafficEveryWay, signedWorkload } from '../support/cluster-workloads.ts';
import { NODE_TOOLS, runGated } from '../support/image-env.ts';

let state: ClusterState | undefined;
const times: Record<string, number> = {};
const WEB = `registry.local/${CLUSTER_PLATFORM}/web:1`;

const rootful = (): NodeState => state!.nodes[0]!;
const rootless = (): NodeState => state!.nodes[1]!;
const mustKubectl = (...args: string[]) => mustExec(rootful(), kubectlArgs(...args), { timeoutMs: 120_000 });

clusterHooks(test, { nodes: 2, controlPlanes: 1, rootful: [1] }, times, async (up, work) => {
  state = up;
  await signedWorkload(rootful(), work, 'web', `${CLUSTER_PLATFORM}/web:1`);
});

test("the wrapper refused kubeadm's defaults with the commands, and they made the cluster's settings the rootless ones", async () => {
  const fixes = state!.joinFixes ?? [];
  assert.is(fixes.length, 2, fixes.join('\n'));
  assert.match(fixes[0]!, /^kubectl -n kube-system get configmap kube-proxy -o yaml \| sed .*maxPerCore.* \| kubectl replace -f -$/);
  assert.is(fixes[1], 'kubectl -n kube-system rollout restart daemonset kube-proxy');
  const config = YAML.parse(await mustKubectl('-n', 'kube-system', 'get', 'configmap', 'kube-proxy', '-o', 'jsonpath={.data.config\\.conf}'));
  assert.equal(config.conntrack, { ...config.conntrack, maxPerCore: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' });
  // A worker's join leaves etcd's directory as kubeadm made it.
  assert.match(
    await mustKubectl('-n', 'kube-system', 'get', 'configmap', 'kubeadm-config', '-o', 'jsonpath={.data.ClusterConfiguration}'),
    /dataDir: \/var\/lib\/etcd\n/,
  );
});

test('a rootless worker joined a rootful control plane: both Ready, flannel and kube-proxy on each, each kubelet run by whom it should', async () => {
  await assertRootfulLessPair(rootful(), rootful(), rootless());
});

test('pod traffic both ways between the rootful control plane and the rootless worker, and a Service from each', async () => {
  await podTrafficEveryWay(rootful(), state!.nodes, WEB);
});

runGated(test, 'rootful control plane', [...NODE_TOOLS, 'ip', 'podman', 'skopeo', 'busybox', 'xz', 'tar', 'go', 'gcc', 'curl']);
