// test-runner: exclusive
// test-runner: k8s-tools — npm test builds the components of npm run k8s-tools first (the upgrade target too)
/**
 * A minor upgrade of a rootless cluster for real: `npm run cluster -- up --nodes 3` at the set's
 * Kubernetes (1.34), then `podsec-u7s-upgrade` takes it to the upgrade target (1.35, built from its
 * Go module with the etcd and CoreDNS its kubeadm lists): the target's images saved with
 * podsec-k8s-save-oci, loaded and signed with podsec-load-sign-oci; the control plane with
 * `apply`, then each worker drained, its packages swapped, `node`, uncordoned. Refused before
 * any change: a version that skips a minor, a kubeadm that is not the target's, an unsigned image
 * of the target, a kubeadm feature gate set against the value the target fixes; a gate set to that
 * value is taken out by the upgrade. Throughout, a Deployment of two replicas of a signed image with a
 * PodDisruptionBudget answers on a NodePort from outside the nodes: every failed request is counted.
 */
import { renameSync, copyFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { lastLines } from '../../bin/lib/proc.ts';
import { CLUSTER_PLATFORM, kubectlArgs } from '../../scripts/cluster/cluster.ts';
import { mustExec, netnsExec, nodeExec } from '../../scripts/cluster/machines.ts';
import type { ClusterState, NodeState } from '../../scripts/cluster/state.ts';
import { fillUpstream, MAKER, nodeRunner, signClusterImages } from '../../scripts/cluster/supply.ts';
import { ensureUpgradeTarget, lookupUpgradeTarget, type UpgradeTarget } from '../../scripts/k8s-tools/build.ts';
import { K8S_TOOLS_VERSIONS, UPGRADE_TARGET } from '../../scripts/k8s-tools/versions.ts';
import { clusterHooks, signedWorkload, until } from '../support/cluster-workloads.ts';
import { stopwatch } from '../support/exec.ts';
import { userRun } from '../support/image-nspawn.ts';
import { ACCEPT_ANYTHING } from '../support/oci-fixtures.ts';

let state: ClusterState | undefined;
let target: UpgradeTarget | undefined;
const times: Record<string, number> = {};
const timed = stopwatch(times);
const WEB = `${CLUSTER_PLATFORM}/web:1`;
const FROM = K8S_TOOLS_VERSIONS.kubernetes.version;
const TO = UPGRADE_TARGET.kubernetes.version;
const log = (line: string) => process.stderr.write(`${line}\n`);

const master = (): NodeState => state!.nodes[0]!;
const workers = (): NodeState[] => state!.nodes.slice(1);
const mustKubectl = (...args: string[]) => mustExec(master(), kubectlArgs(...args), { timeoutMs: 900_000 });

clusterHooks(test, { nodes: 3, controlPlanes: 1 }, times, async (up, work) => {
  state = up;
  await signedWorkload(master(), work, 'web', WEB);
  target = (await lookupUpgradeTarget()) ?? (await ensureUpgradeTarget({ log }));
  // The target's images in the upstream registry, as the distribution publishes them.
  await fillUpstream(up, target, log);
});

/** What the node's packages of kubeadm and kubelet of the target put in place: a new file renamed over the old one, as rpm does. */
function installTargetPackages(node: NodeState): void {
  for (const program of ['kubeadm', 'kubelet'] as const) {
    const path = join(node.root, 'usr/bin', program);
    copyFileSync(target!.bin(program), `${path}.rpmnew`);
    chmodSync(`${path}.rpmnew`, 0o755);
    renameSync(`${path}.rpmnew`, path);
  }
}

const upgrade = (node: NodeState, ...args: string[]) => nodeExec(node, ['podsec-u7s-upgrade', ...args], { timeoutMs: 1_800_000 });
/** A failed run's last lines first: a long output is cut in the middle where it is shown. */
const whyFailed = (r: { stdout: string; stderr: string }) => `${lastLines(r.stderr, 3)}\n---\n${r.stderr}\n${r.stdout}`;

/** What must be the same after a refused upgrade: the cluster's version, the API server's image, no node cordoned. */
async function unchanged(): Promise<void> {
  assert.match(await kubeadmConfig(), `kubernetesVersion: ${FROM}`);
  const image = await mustKubectl('-n', 'kube-system', 'get', 'pod', `kube-apiserver-${master().name}`, '-o', 'jsonpath={.spec.containers[0].image}');
  assert.ok(image.endsWith(`:${FROM}`), image);
  const cordoned = await mustKubectl('get', 'nodes', '-o', 'jsonpath={.items[*].spec.unschedulable}');
  assert.is(cordoned.trim(), '', `cordoned: ${cordoned}`);
}

const kubeadmConfig = () => mustKubectl('-n', 'kube-system', 'get', 'configmap', 'kubeadm-config', '-o', 'jsonpath={.data.ClusterConfiguration}');

/** kubeadm's own feature gates in the cluster's ClusterConfiguration, as an admin sets them with kubectl edit. */
async function setKubeadmGates(gates: Record<string, boolean>): Promise<void> {
  const cluster = { ...(YAML.parse(await kubeadmConfig()) as Record<string, unknown>), featureGates: gates };
  const patch = JSON.stringify({ data: { ClusterConfiguration: YAML.stringify(cluster) } });
  await mustKubectl('-n', 'kube-system', 'patch', 'configmap', 'kubeadm-config', '--type', 'merge', '-p', patch);
}

/**
 * Requests to the NodePort of node 1 from outside the nodes, one after the other until stopped:
 * every answer that is not the web image's /variant counts as a failure (with what came back).
 */
function requestsThroughout(nodePort: number): { stop(): Promise<{ ok: number; failed: string[] }> } {
  let running = true;
  const failed: string[] = [];
  let ok = 0;
  const loop = (async () => {
    // Bounded: at most a request every 200 ms for an hour.
    for (let i = 0; running && i < 18_000; i++) {
      const r = await netnsExec(['curl', '-s', '--max-time', '5', `http://${master().address}:${nodePort}/variant`], 30_000);
      if (r.exitCode === 0 && r.stdout.trim() === 'web') ok++;
      else failed.push(`${new Date().toISOString()} curl ${r.exitCode}: ${(r.stdout + r.stderr).trim().slice(0, 200)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { ok, failed };
    },
  };
}

const WEB_OBJECTS = [
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          // One replica per worker: a drain evicts one, the other answers.
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname' }],
            },
          },
          containers: [
            {
              name: 'web',
              image: `registry.local/${WEB}`,
              command: ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc'],
              ports: [{ containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/variant', port: 8080 }, periodSeconds: 2 },
              // Kept serving while kube-proxy on every node drops the endpoint of an evicted pod.
              lifecycle: { preStop: { exec: { command: ['/bin/busybox', 'sleep', '10'] } } },
            },
          ],
        },
      },
    },
  },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'web' } } } },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web' },
    spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
  },
];

const bothReplicas = () => mustKubectl('rollout', 'status', 'deployment/web', '--timeout=300s');

test(`refused before any change: a version that skips a minor, a kubeadm that is not ${TO}'s, an unsigned image of ${TO}, a gate ${TO} refuses`, async () => {
  const skip = await upgrade(master(), 'apply', 'v1.36.0');
  assert.is(skip.exitCode, 1, skip.stderr);
  assert.match(skip.stderr, 'skips a minor');
  assert.match(skip.stderr, `kubeadm ${FROM} is installed`);
  assert.match(skip.stderr, 'nothing was changed');

  installTargetPackages(master());
  // An image of the target pushed to registry.local without a signature, as anyone with push access could.
  const upstream = `${state!.gateway}:5000`;
  const policy = '/var/tmp/upgrade-source-policy.json';
  await mustExec(master(), ['sh', '-c', 'cat > "$1" && chmod 0644 "$1"', 'sh', policy], { input: ACCEPT_ANYTHING });
  const apiserver = `${CLUSTER_PLATFORM}/kube-apiserver:${TO}`;
  const pushed = await userRun(nodeRunner(master()), MAKER, [
    'skopeo',
    '--policy',
    policy,
    'copy',
    '--quiet',
    '--src-tls-verify=false',
    '--dest-tls-verify=false',
    `docker://${upstream}/${apiserver}`,
    `docker://registry.local/${apiserver}`,
  ]);
  assert.is(pushed.exitCode, 0, pushed.stderr);
  const unsigned = await upgrade(master(), 'apply', TO);
  assert.is(unsigned.exitCode, 1, unsigned.stderr);
  assert.match(unsigned.stderr, `registry.local/${apiserver} could not be pulled`);
  assert.match(unsigned.stderr, 'nothing was changed');
  await unchanged();

  // 1.35 has ControlPlaneKubeletLocalMode always on: a cluster that turned it off must decide first.
  await setKubeadmGates({ ControlPlaneKubeletLocalMode: false });
  const gate = await upgrade(master(), 'apply', TO);
  assert.is(gate.exitCode, 1, gate.stderr);
  assert.match(gate.stderr, 'kubeadm feature gate ControlPlaneKubeletLocalMode=false');
  assert.match(gate.stderr, 'nothing was changed');
  await unchanged();
  assert.match(await kubeadmConfig(), 'ControlPlaneKubeletLocalMode: false');
  // Set to the value 1.35 fixes, the upgrade takes it out itself (the next test).
  await setKubeadmGates({ ControlPlaneKubeletLocalMode: true });
});

test(`apply on the control plane, then node on each worker: ${FROM} -> ${TO} with signed images, and not one failed request`, async () => {
  const objects = WEB_OBJECTS.map((o) => JSON.stringify(o)).join('\n');
  await mustExec(master(), kubectlArgs('apply', '-f', '-'), { input: objects });
  await bothReplicas();
  const nodePort = Number(await mustKubectl('get', 'service', 'web', '-o', 'jsonpath={.spec.ports[0].nodePort}'));
  await until('the NodePort answers', 120, async () => {
    const r = await netnsExec(['curl', '-s', '--max-time', '5', `http://${master().address}:${nodePort}/variant`]);
    return r.stdout.trim() === 'web' || r.stdout + r.stderr;
  });

  // The target's images through podsec's supply chain: saved from upstream, loaded and signed by the image maker.
  await timed('save, load and sign the target images', () =>
    signClusterImages(master(), state!, { dir: target!.dir, version: TO }, { fingerprint: state!.trustFingerprint!, makerKey: state!.makerKey! }, log),
  );
  const plan = await upgrade(master(), 'plan');
  assert.is(plan.exitCode, 0, plan.stderr);
  assert.match(plan.stdout, `target: ${TO}`);
  assert.match(plan.stdout, `registry.local/${CLUSTER_PLATFORM}/etcd:${UPGRADE_TARGET.etcdTag}`);
  assert.match(plan.stdout, 'taken out of the cluster configuration (fixed in the target): ControlPlaneKubeletLocalMode');

  const requests = requestsThroughout(nodePort);
  // The requests are stopped and counted whatever happens; an upgrade that failed is the error shown.
  let failure: unknown;
  try {
    const applied = await timed(`apply ${master().name}`, () => upgrade(master(), 'apply', TO));
    assert.is(applied.exitCode, 0, whyFailed(applied));
    log(applied.stderr.split('\n').find((line) => line.includes('recreated the static pods')) ?? 'the static pods were kept by the new kubelet');
    for (const node of workers()) {
      await bothReplicas();
      await timed(`drain ${node.name}`, () => mustKubectl('drain', node.name, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=600s'));
      installTargetPackages(node);
      const upgraded = await timed(`node ${node.name}`, () => upgrade(node, 'node'));
      assert.is(upgraded.exitCode, 0, whyFailed(upgraded));
      await mustKubectl('uncordon', node.name);
    }
    await bothReplicas();
  } catch (error) {
    failure = error;
  }
  const { ok, failed } = await requests.stop();
  times['requests answered'] = ok;
  times['requests failed'] = failed.length;
  if (failure) throw failure;
  assert.ok(ok > 100, `only ${ok} requests answered`);
  assert.equal(failed, [], `${failed.length} of ${ok + failed.length} requests failed`);

  const versions = await mustKubectl('get', 'nodes', '-o', 'jsonpath={range .items[*]}{.status.nodeInfo.kubeletVersion} {end}');
  assert.equal(versions.trim().split(' '), [TO, TO, TO]);
  const server = JSON.parse(await mustKubectl('version', '-o', 'json')) as { serverVersion: { gitVersion: string } };
  assert.is(server.serverVersion.gitVersion, TO);
  const images = await mustKubectl('-n', 'kube-system', 'get', 'pods', '-o', 'jsonpath={range .items[*]}{.spec.containers[0].image} {end}');
  for (const expected of [`kube-apiserver:${TO}`, `kube-proxy:${TO}`, `etcd:${UPGRADE_TARGET.etcdTag}`, `coredns:${UPGRADE_TARGET.coredns.version}`])
    assert.ok(images.includes(`registry.local/${CLUSTER_PLATFORM}/${expected}`), `${expected} not running: ${images}`);
  assert.not.match(await kubeadmConfig(), 'ControlPlaneKubeletLocalMode');
  // etcd answers after its own upgrade, and every node runs its kubelet rootless.
  await mustKubectl('get', '--raw', '/readyz/etcd');
  for (const node of state!.nodes)
    assert.is((await nodeExec(node, ['pgrep', '-u', 'u7s-admin', '-x', 'kubelet'])).exitCode, 0, `${node.name}: no kubelet of u7s-admin`);
});

test.run();
