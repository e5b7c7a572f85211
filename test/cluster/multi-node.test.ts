// test-runner: exclusive
// test-runner: k8s-tools — npm test builds the components of npm run k8s-tools first
/**
 * "Master – Workers" for real (`npm run cluster -- up --nodes 3`): node 1 (the podsec master)
 * inits through `podsec-u7s-kubeadm init`, nodes 2 and 3 join as workers with the join command the
 * wrapper printed, used as printed. Every node is rootless (u7s-admin's user namespace) and pulls
 * only signed images from the master's registry.local. Checked here: all Ready and every pod
 * Running; flannel's VXLAN between the rootless nodes carries pod-to-pod and Service traffic, and
 * coredns answers from every node; a worker reset and joined again with a join command made after
 * the first token is gone, pulling an extra image given in U7S_ARCHIMAGES; a NodePort Service
 * answering on every node's address from outside, with no manual port publishing; "Masters –
 * Workers + ingress": the packaged ingress manifest applied as the README says, its controller
 * (Traefik, built from its Go module, in a signed image) routing a host name to a Service through
 * the NodePort every node publishes; a package upgrade (rpm -U to a bumped release) on a running
 * worker that restarts nothing, and an erase that stops the node.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLUSTER_PLATFORM, joinNode, kubectlArgs, parseJoinCommand, waitReady } from '../../scripts/cluster/cluster.ts';
import { mustExec, netnsExec, nodeExec } from '../../scripts/cluster/machines.ts';
import type { ClusterState, NodeState } from '../../scripts/cluster/state.ts';
import { clusterHooks, fetchVariant, podIp as podIpOf, podOn as podOnNode, signedWorkload, until } from '../support/cluster-workloads.ts';
import { stopwatch } from '../support/exec.ts';
import { NODE_TOOLS, runGated } from '../support/image-env.ts';
import { buildBumpedRelease } from '../support/image-rpm.ts';
import { ensureIngressController, lookupIngressController } from '../../scripts/k8s-tools/build.ts';
import { TRAEFIK_VERSION } from '../../bin/u7s/lib/kubeadm-fields.ts';
import { INGRESS_NAMESPACE, INGRESS_NODE_PORT } from '../../policies/u7s/manifests/ingress-traefik.ts';

let state: ClusterState | undefined;
const times: Record<string, number> = {};
const timed = stopwatch(times);
const WEB = `${CLUSTER_PLATFORM}/web:1`;
const log = (line: string) => process.stderr.write(`${line}\n`);
const NSENTER_U7S = '/usr/libexec/podsec/u7s/bin/nsenter_u7s';

const master = (): NodeState => state!.nodes[0]!;
const workers = (): NodeState[] => state!.nodes.slice(1);
const kubectl = (...args: string[]) => nodeExec(master(), kubectlArgs(...args), { timeoutMs: 120_000 });
const mustKubectl = (...args: string[]) => mustExec(master(), kubectlArgs(...args), { timeoutMs: 120_000 });

clusterHooks(test, { nodes: 3, controlPlanes: 1 }, times, async (up, work) => {
  state = up;
  await signedWorkload(master(), work, 'web', WEB);
  const controller = (await lookupIngressController()) ?? (await ensureIngressController());
  await signedWorkload(master(), work, 'traefik', `${CLUSTER_PLATFORM}/traefik:${TRAEFIK_VERSION}`, { traefik: controller.path });
});

interface NodeList {
  items: { metadata: { name: string; labels: Record<string, string> }; status: { conditions: { type: string; status: string }[] } }[];
}

test('Master – Workers: node 1 is the control plane, nodes 2 and 3 joined as workers; all Ready, flannel and kube-proxy on each', async () => {
  const nodes = (JSON.parse(await mustKubectl('get', 'nodes', '-o', 'json')) as NodeList).items;
  assert.equal(nodes.map((n) => n.metadata.name).sort(), ['u7s-node1', 'u7s-node2', 'u7s-node3']);
  for (const n of nodes) {
    assert.ok(
      n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
      `${n.metadata.name} not Ready`,
    );
    const controlPlane = 'node-role.kubernetes.io/control-plane' in n.metadata.labels;
    assert.is(controlPlane, n.metadata.name === 'u7s-node1', `${n.metadata.name}: control-plane label ${controlPlane}`);
  }
  const daemonSets = [
    ['kube-flannel', 'kube-flannel-ds'],
    ['kube-system', 'kube-proxy'],
  ] as const;
  for (const [namespace, daemonSet] of daemonSets) {
    const ready = await mustKubectl('-n', namespace, 'get', 'daemonset', daemonSet, '-o', 'jsonpath={.status.numberReady}');
    assert.is(ready, '3', `${namespace}/${daemonSet}: ${ready} ready`);
  }
  // Rootless on the workers too: kubelet runs as u7s-admin, no Kubernetes process as the host's root.
  for (const node of workers()) {
    assert.is((await nodeExec(node, ['pgrep', '-u', 'u7s-admin', '-x', 'kubelet'])).exitCode, 0, `${node.name}: no kubelet of u7s-admin`);
    assert.is((await nodeExec(node, ['pgrep', '-u', 'root', '-x', 'kubelet'])).exitCode, 1, `${node.name}: a kubelet runs as root`);
  }
});

const podOn = (name: string, node: NodeState, argv: string[]) => podOnNode(master(), name, node, `registry.local/${WEB}`, argv);
const podIp = (name: string) => podIpOf(master(), name);

test('flannel across rootless nodes: pod to pod between the workers, a Service ClusterIP, and coredns from every node', async () => {
  const [node2, node3] = workers() as [NodeState, NodeState];
  await podOn('web', node2, ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc']);
  for (const node of state!.nodes) await podOn(`client-${node.index}`, node, ['/bin/busybox', 'sleep', '3600']);
  await mustKubectl('expose', 'pod', 'web', '--port=80', '--target-port=8080');
  await timed('pods Running', () =>
    mustKubectl('wait', '--for=condition=Ready', '--timeout=300s', 'pod/web', ...state!.nodes.map((n) => `pod/client-${n.index}`)),
  );
  const webIp = await podIp('web');
  const clusterIp = (await mustKubectl('get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}')).trim();
  const clientIp = await podIp(`client-${node3.index}`);
  // Each node has its own pod subnet (flannel's lease): the two pods are on different nodes' networks.
  assert.is.not(webIp.split('.').slice(0, 3).join('.'), clientIp.split('.').slice(0, 3).join('.'), `${webIp} and ${clientIp} share a subnet`);

  const fetch = (client: string, host: string, port: number) => fetchVariant(master(), client, host, port, 'web');
  await until('pod to pod across the workers', 120, () => fetch(`client-${node3.index}`, webIp, 8080));
  for (const node of state!.nodes) {
    const client = `client-${node.index}`;
    await until(`${node.name}: the Service by its ClusterIP`, 120, () => fetch(client, clusterIp, 80));
    await until(`${node.name}: coredns resolves the Service`, 120, async () => {
      const r = await kubectl('exec', client, '--', '/bin/busybox', 'nslookup', 'web.default.svc.cluster.local');
      return r.stdout.includes(clusterIp) || r.stdout + r.stderr;
    });
    await until(`${node.name}: the Service by its name`, 60, () => fetch(client, 'web', 80));
  }
  // The traffic between the nodes is flannel's VXLAN, from inside each node's namespace over the slirp4netns device.
  for (const node of state!.nodes) {
    const link = await mustExec(node, ['runuser', '-u', 'u7s-admin', '--', NSENTER_U7S, 'ip', '-d', 'link', 'show', 'flannel.1']);
    assert.match(link, new RegExp(`vxlan id 1 local ${node.address.replaceAll('.', '\\.')} dev tap0 .*dstport 8472`), `${node.name}: ${link}`);
  }
});

test("Services from outside: a NodePort answers on every node's address from the host with no manual add-ports, and closes when deleted", async () => {
  await mustKubectl('expose', 'pod', 'web', '--name=web-outside', '--type=NodePort', '--port=80', '--target-port=8080');
  const nodePort = Number(await mustKubectl('get', 'service', 'web-outside', '-o', 'jsonpath={.spec.ports[0].nodePort}'));
  assert.ok(nodePort >= 30000 && nodePort <= 32767, `nodePort ${nodePort}`);
  // From the cluster's network namespace: outside every node, as another host on the nodes' network.
  const get = (address: string) => netnsExec(['curl', '-s', '--max-time', '5', `http://${address}:${nodePort}/variant`], 30_000);
  for (const node of state!.nodes) {
    await until(`${node.name}:${nodePort} answers`, 120, async () => {
      const r = await get(node.address);
      return r.stdout.trim() === 'web' || `curl ${r.exitCode}: ${r.stderr}`;
    });
  }
  await mustKubectl('delete', 'service', 'web-outside');
  for (const node of state!.nodes) {
    await until(`${node.name}:${nodePort} closed`, 120, async () => {
      const r = await get(node.address);
      // 7: connection refused (nothing listens on the host port any more).
      return r.exitCode === 7 || `curl ${r.exitCode}: ${r.stdout.trim()}`;
    });
  }
  for (const name of ['web', ...state!.nodes.map((n) => `client-${n.index}`)]) await mustKubectl('delete', 'pod', name, '--wait=false');
  await mustKubectl('delete', 'service', 'web');
});

test('Masters – Workers + ingress: the packaged manifest as the README applies it; a host name routed to a Service through every node', async () => {
  // What the README has an operator type on the master: the site's platform into the packaged manifest.
  const withManifest = (...verb: string[]) => [
    'sh',
    '-c',
    `sed 's|<platform>|${CLUSTER_PLATFORM}|' /etc/podsec/u7s/manifests/ingress-traefik.yaml | ${kubectlArgs(...verb, '-f', '-').join(' ')}`,
  ];
  await mustExec(master(), withManifest('apply'), { timeoutMs: 120_000 });
  await timed('ingress controller ready', () => mustKubectl('-n', INGRESS_NAMESPACE, 'rollout', 'status', 'deployment/traefik', '--timeout=300s'));
  await mustKubectl('create', 'deployment', 'shop', `--image=registry.local/${WEB}`, '--', '/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc');
  await mustKubectl('expose', 'deployment', 'shop', '--port=80', '--target-port=8080');
  await mustKubectl('create', 'ingress', 'shop', '--class=traefik', '--rule=shop.podsec.test/*=shop:80');
  await mustKubectl('rollout', 'status', 'deployment/shop', '--timeout=300s');
  /** The body and the HTTP status of GET /variant on the ingress port of `address` for the name `host`. */
  const get = async (address: string, host: string) => {
    const url = `http://${address}:${INGRESS_NODE_PORT}/variant`;
    const r = await netnsExec(['curl', '-s', '-w', '\\n%{http_code}', '--max-time', '5', '-H', `Host: ${host}`, url], 30_000);
    const lines = r.stdout.trim().split('\n');
    return { body: lines.slice(0, -1).join('\n').trim(), status: lines.at(-1)!, failure: `curl ${r.exitCode}: ${r.stdout.trim()} ${r.stderr}` };
  };
  try {
    for (const node of state!.nodes) {
      await until(`${node.name}:${INGRESS_NODE_PORT} routes shop.podsec.test`, 180, async () => {
        const r = await get(node.address, 'shop.podsec.test');
        return (r.status === '200' && r.body === 'web') || r.failure;
      });
      // A name no Ingress routes: the controller answers, the Service is not reached.
      const other = await get(node.address, 'other.podsec.test');
      assert.is(other.status, '404', `${node.name}: ${other.failure}`);
    }
    // Hardened as its manifest says: not root, nothing writable, no capabilities, under the restricted Pod Security level.
    const pod = JSON.parse(await mustKubectl('-n', INGRESS_NAMESPACE, 'get', 'pods', '-o', 'json')) as {
      items: { spec: { securityContext: { runAsUser: number } } }[];
    };
    assert.ok(
      pod.items.length >= 1 && pod.items.every((p) => p.spec.securityContext.runAsUser === 65532),
      JSON.stringify(pod.items.map((p) => p.spec.securityContext)),
    );
  } finally {
    await kubectl('delete', 'ingress', 'shop');
    await kubectl('delete', 'service', 'shop');
    await kubectl('delete', 'deployment', 'shop', '--wait=false');
  }
  await mustExec(master(), withManifest('delete', '--wait=false'), { timeoutMs: 120_000 });
});

interface TokenList {
  token: string;
}

test('a worker reset and joined again with a join command made after the first token is gone', async () => {
  const node3 = workers()[1]!;
  const crictl = (...args: string[]) => [
    'runuser',
    '-u',
    'u7s-admin',
    '--',
    NSENTER_U7S,
    'crictl',
    '--runtime-endpoint',
    'unix:///run/crio/crio.sock',
    ...args,
  ];
  // The workload image goes from node 3's store (its pod of the earlier tests is being deleted): the join must bring it back.
  await until('the web image removed from node 3', 120, async () => {
    const r = await nodeExec(node3, crictl('rmi', `registry.local/${WEB}`));
    return r.exitCode === 0 || /not found|no such image/i.test(r.stderr) || r.stderr.trim();
  });
  const reset = await nodeExec(node3, ['podsec-u7s-kubeadm', 'reset', '--force'], { timeoutMs: 600_000 });
  assert.is(reset.exitCode, 0, reset.stderr + reset.stdout);
  await mustKubectl('delete', 'node', node3.name);
  // The token init printed, gone as it is once its TTL has passed (the bootstrap token's secret deleted).
  const tokens = (await mustExec(master(), ['podsec-u7s-kubeadm', 'token', 'list', '-o', 'json']))
    .split(/\n(?=\{)/)
    .filter((t) => t.trim())
    .map((t) => (JSON.parse(t) as TokenList).token);
  assert.ok(tokens.length >= 1, 'no bootstrap token after init');
  for (const token of tokens) await mustExec(master(), ['podsec-u7s-kubeadm', 'token', 'delete', token]);
  assert.is((await mustExec(master(), ['podsec-u7s-kubeadm', 'token', 'list'])).trim(), '');

  const printed = await mustExec(master(), ['podsec-u7s-kubeadm', 'token', 'create', '--print-join-command']);
  const joinCommand = parseJoinCommand(printed);
  assert.not.ok(tokens.includes(joinCommand[joinCommand.indexOf('--token') + 1]!), 'the new join command reuses a deleted token');
  // With an extra image for the node's own workloads (upstream's U7S_ARCHIMAGES), pulled with the node's images through the signature check.
  await timed('join again', () => joinNode(state!, node3, joinCommand, log, [`U7S_ARCHIMAGES=${WEB}`]));
  const images = await mustExec(node3, crictl('images', '-o', 'json'));
  const tags = (JSON.parse(images) as { images: { repoTags: string[] }[] }).images.flatMap((i) => i.repoTags);
  assert.ok(tags.includes(`registry.local/${WEB}`), `U7S_ARCHIMAGES not pulled: ${tags.join(' ')}`);
  await timed('rejoined to Ready', () => waitReady(state!, log, 600_000));
});

test('a package upgrade on a running worker does not restart it: pods keep running, edits survive; erasing the package stops the node cleanly', async () => {
  const node3 = workers()[1]!;
  const pidOf = async (argv: string[]) => (await mustExec(node3, argv)).trim();
  const nodePids = async () => ({
    service: await pidOf(['systemctl', 'show', '-p', 'MainPID', '--value', 'u7s.service']),
    kubelet: await pidOf(['pgrep', '-u', 'u7s-admin', '-x', 'kubelet']),
    crio: await pidOf(['pgrep', '-u', 'u7s-admin', '-x', 'crio']),
  });
  await podOn('steady', node3, ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc']);
  await mustKubectl('wait', '--for=condition=Ready', '--timeout=300s', 'pod/steady');
  const containerOf = async () =>
    (await mustKubectl('get', 'pod', 'steady', '-o', 'jsonpath={.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}')).trim();
  const [before, containerBefore] = [await nodePids(), await containerOf()];
  const edited = '/etc/podsec/u7s/config/kubeadm-configs/KubeletConfiguration.yaml';
  await mustExec(node3, ['sh', '-c', 'echo "# a site edit" >> "$0"', edited]);

  const work = mkdtempSync('/var/tmp/podsec-cluster-upgrade-');
  try {
    const bumped = await timed('bumped release built', () => buildBumpedRelease(work));
    const installed = (await mustExec(node3, ['rpm', '-qa', '--qf', '%{NAME}\\n', 'podsec*'])).trim().split('\n').sort();
    assert.ok(installed.includes('podsec-k8s'), installed.join(' '));
    const stage = join(node3.root, 'var/tmp/podsec-upgrade');
    mkdirSync(stage, { recursive: true });
    const upgrades = bumped.rpms.filter((rpm) => installed.some((name) => basename(rpm).startsWith(`${name}-${bumped.version}-`)));
    assert.is(upgrades.length, installed.length, upgrades.join(' '));
    for (const rpm of upgrades) copyFileSync(rpm, join(stage, basename(rpm)));
    // --nodeps: the Debian stand-in provides no ALT names (the e2e upgrade test checks the dependencies).
    await timed('rpm -U on the running node', () =>
      mustExec(node3, ['rpm', '-U', '--nodeps', ...upgrades.map((rpm) => `/var/tmp/podsec-upgrade/${basename(rpm)}`)], { timeoutMs: 300_000 }),
    );
    assert.match(await mustExec(node3, ['rpm', '-q', 'podsec-k8s']), `podsec-k8s-${bumped.version}-${bumped.release}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  assert.equal(await nodePids(), before, 'the upgrade restarted the node (u7s.service, kubelet or CRI-O)');
  assert.is(await containerOf(), containerBefore, 'the pod was restarted');
  assert.match(await mustExec(node3, ['tail', '-n', '1', edited]), '# a site edit');
  await waitReady(state!, log, 120_000);
  assert.is(await fetchVariant(master(), 'steady', '127.0.0.1', 8080, 'web'), true, 'the pod does not serve after the upgrade');

  const erased = await nodeExec(node3, ['rpm', '-e', '--nodeps', 'podsec-k8s'], { timeoutMs: 600_000 });
  assert.is(erased.exitCode, 0, erased.stderr);
  assert.is((await nodeExec(node3, ['systemctl', 'is-active', 'u7s.service'])).stdout.trim(), 'inactive');
  // Neither the node's programs nor its pods' (these run as u7s-admin's subordinate ids).
  await until(`${node3.name}: nothing of the node runs`, 120, async () => {
    const left = await nodeExec(node3, ['pgrep', '-a', '-x', 'rootlesskit|slirp4netns|crio|conmon|kubelet|kube-proxy|flanneld|httpd|pause']);
    return left.exitCode === 1 || left.stdout.trim();
  });
  await mustKubectl('delete', 'pod', 'steady', '--wait=false', '--force', '--grace-period=0');
});

runGated(test, 'multi-node cluster', [...NODE_TOOLS, 'ip', 'podman', 'skopeo', 'busybox', 'xz', 'tar', 'go', 'gcc', 'curl']);
