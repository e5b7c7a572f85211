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
import { assertRootfulLessPair, clusterHooks, DROP, dropImages, podTrafficEveryWay, signedWorkload } from '../support/cluster-workloads.ts';
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
  await assertRootfulLessPair(rootless(), rootful(), rootless());
  // The cluster's kube-proxy settings are the rootless ones, unedited.
  assert.match(await mustKubectl('-n', 'kube-system', 'get', 'configmap', 'kube-proxy', '-o', 'jsonpath={.data.config\\.conf}'), /maxPerCore: 0/);
});

test('pod traffic both ways between the rootless and the rootful node, and a Service from each', async () => {
  await podTrafficEveryWay(rootless(), state!.nodes, WEB);
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
