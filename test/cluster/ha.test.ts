// test-runner: exclusive
// test-runner: k8s-tools — npm test builds the components of npm run k8s-tools first
/**
 * "HAProxies (keepalived) – Masters – Workers" for real (`npm run cluster -- up --nodes 4
 * --control-planes 3 --load-balancers 2`): two load balancer hosts, each with haproxy and
 * keepalived configured by podsec-u7s-loadbalancer, in front of three rootless control planes,
 * keepalived holding one address on one of them; node 1 inits with that address as its
 * controlPlaneEndpoint, nodes 2 and 3 join with `--control-plane --certificate-key` as kubeadm
 * printed it, node 4 joins as a worker. haproxy stopped on the address's holder: keepalived moves
 * the address and the API answers through the other host. Stopping node 1's machine: the API still
 * answers and the workload keeps running; booting it again: Ready, and etcd has its three healthy
 * members. (One load balancer, `--load-balancers 1`, is the same hosts without keepalived.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { CLUSTER_PLATFORM, kubectlArgs, untilAddressHeld, waitReady } from '../../scripts/cluster/cluster.ts';
import { mustExec, nodeExec, startClusterNode } from '../../scripts/cluster/machines.ts';
import { writeState, type ClusterState, type NodeState } from '../../scripts/cluster/state.ts';
import { clusterHooks, signedWorkload, until } from '../support/cluster-workloads.ts';
import { stopwatch } from '../support/exec.ts';
import { NODE_TOOLS, runGated } from '../support/image-env.ts';
import { stopMachine } from '../support/nspawn.ts';

let state: ClusterState | undefined;
const times: Record<string, number> = {};
const timed = stopwatch(times);
const WEB = `${CLUSTER_PLATFORM}/web:1`;
const log = (line: string) => process.stderr.write(`${line}\n`);

const node = (index: number): NodeState => state!.nodes[index - 1]!;
/** kubectl with the admin kubeconfig on `on` (its server is the load balancer's address). */
const kubectlOn = (on: NodeState, ...args: string[]) => nodeExec(on, kubectlArgs(...args), { timeoutMs: 60_000 });

clusterHooks(test, { nodes: 4, controlPlanes: 3, loadBalancers: 2 }, times, async (up, work) => {
  state = up;
  await signedWorkload(node(1), work, 'web', WEB);
});

/** `etcdctl endpoint health --cluster` in the etcd pod on `on`: a line per member, healthy or not. */
async function etcdMembers(on: NodeState): Promise<string> {
  const pki = '/etc/kubernetes/pki/etcd';
  const r = await kubectlOn(
    on,
    '-n',
    'kube-system',
    'exec',
    `etcd-${on.name}`,
    '--',
    'etcdctl',
    '--endpoints=https://127.0.0.1:2379',
    `--cacert=${pki}/ca.crt`,
    `--cert=${pki}/healthcheck-client.crt`,
    `--key=${pki}/healthcheck-client.key`,
    'endpoint',
    'health',
    '--cluster',
  );
  return r.stdout + r.stderr;
}

test('three control planes behind the load balancer, one worker: all Ready; every kubeconfig names the load balancer; etcd has three members', async () => {
  const lb = state!.loadBalancer!.address;
  const nodes = await mustExec(node(1), kubectlArgs('get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}:{.metadata.labels}{"\\n"}{end}'));
  for (const n of state!.nodes) {
    const line = nodes.split('\n').find((l) => l.startsWith(`${n.name}:`)) ?? '';
    assert.is(line.includes('node-role.kubernetes.io/control-plane'), n.role === 'control-plane', `${n.name}: ${line}`);
  }
  const clusterConfig = YAML.parse(
    await mustExec(node(1), kubectlArgs('-n', 'kube-system', 'get', 'configmap', 'kubeadm-config', '-o', 'jsonpath={.data.ClusterConfiguration}')),
  ) as { controlPlaneEndpoint: string };
  assert.is(clusterConfig.controlPlaneEndpoint, lb);
  for (const n of state!.nodes) {
    const conf = n.role === 'control-plane' ? '/etc/kubernetes/admin.conf' : '/etc/kubernetes/kubelet.conf';
    const server = await mustExec(n, ['sh', '-c', `grep -m1 'server:' ${conf}`]);
    assert.match(server, `https://${lb}`, `${n.name} ${conf}: ${server}`);
  }
  await until('etcd: three healthy members', 120, async () => {
    const health = await etcdMembers(node(1));
    return (health.match(/is healthy/g) ?? []).length === 3 || health;
  });
});

test("haproxy stopped on the address's holder: keepalived moves the address to the other load balancer; the API answers through it", async () => {
  const [address] = state!.loadBalancer!.address.split(':');
  const holder = await untilAddressHeld(state!, address!);
  const host = state!.loadBalancer!.hosts.find((h) => h.netns === holder)!;
  // Only haproxy (keepalived runs on): the check of the generated file must notice. The host's
  // programs live in a PID namespace whose first process is the launcher's child.
  const init = readFileSync(`/proc/${host.pid}/task/${host.pid}/children`, 'utf8').trim().split(' ')[0]!;
  const killed = await execa('nsenter', ['-t', init, '-p', '-m', '--', 'pkill', '-x', 'haproxy'], { reject: false });
  assert.is(killed.exitCode, 0, killed.stderr);
  const taker = await timed('address moved', () => untilAddressHeld(state!, address!, 60_000, holder));
  assert.is.not(taker, holder);
  await until('the API answers through the moved address', 180, async () => {
    const r = await kubectlOn(node(2), 'get', 'nodes', '-o', 'name');
    return (r.exitCode === 0 && r.stdout.includes('u7s-node4')) || r.stderr.trim();
  });
});

test("node 1's machine stopped: the API answers through the load balancer, the workload keeps running; booted again: Ready, etcd healthy", async () => {
  const worker = node(4);
  await mustExec(
    node(1),
    kubectlArgs('create', 'deployment', 'web', `--image=registry.local/${WEB}`, '--', '/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc'),
  );
  await mustExec(node(1), kubectlArgs('rollout', 'status', 'deployment/web', '--timeout=300s'), { timeoutMs: 320_000 });
  const pod = (await mustExec(node(1), kubectlArgs('get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}'))).trim();
  const before = (await mustExec(node(1), kubectlArgs('get', 'pod', pod, '-o', 'jsonpath={.status.podIP}'))).trim();

  await timed('stop node 1', () => stopMachine(node(1)));
  // From another control plane, through the load balancer (node 1's API server is gone).
  await until('the API answers through the load balancer without node 1', 180, async () => {
    const r = await kubectlOn(node(2), 'get', 'nodes', '-o', 'name');
    return (r.exitCode === 0 && r.stdout.includes('u7s-node4')) || r.stderr.trim();
  });
  const running = await kubectlOn(node(2), 'get', 'pod', pod, '-o', 'jsonpath={.status.phase} {.status.podIP}');
  assert.is(running.stdout.trim(), `Running ${before}`, running.stderr);
  // The workload answers on the worker, and the API can still reach it (exec through node 2's API server).
  const request = `printf 'GET /variant HTTP/1.0\\r\\n\\r\\n' | /bin/busybox nc -w 5 127.0.0.1 8080`;
  const answered = await kubectlOn(node(2), 'exec', pod, '--', '/bin/sh', '-c', request);
  assert.is(answered.stdout.trim().split('\n').at(-1), 'web', answered.stderr);
  assert.is((await nodeExec(worker, ['pgrep', '-u', 'u7s-admin', '-x', 'kubelet'])).exitCode, 0, 'the worker lost its kubelet');

  // etcd lost a member and kept its majority.
  await until("etcd without node 1's member: two healthy", 120, async () => {
    const health = await etcdMembers(node(2));
    return ((health.match(/is healthy/g) ?? []).length === 2 && /is unhealthy|failed|deadline/.test(health)) || health;
  });

  const booted = Date.now();
  state!.nodes[0] = await timed('boot node 1 again', () => startClusterNode(node(1)));
  writeState(state!);
  // Ready on a heartbeat its kubelet sent after the boot (not the status left from before the stop).
  await timed('node 1 Ready again', () =>
    until('node 1 Ready with a heartbeat after its boot', 900, async () => {
      const r = await kubectlOn(
        node(2),
        'get',
        'node',
        'u7s-node1',
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}',
      );
      const [ready, beat] = r.stdout.trim().split(' ');
      return (ready === 'True' && Date.parse(beat ?? '') >= Math.floor(booted / 1000) * 1000) || r.stdout + r.stderr;
    }),
  );
  await timed('all Ready', () => waitReady(state!, log, 900_000));
  await until('etcd: three healthy members again', 300, async () => {
    const health = await etcdMembers(node(1));
    return (health.match(/is healthy/g) ?? []).length === 3 || health;
  });
  await mustExec(node(1), kubectlArgs('delete', 'deployment', 'web'));
});

runGated(test, 'HA cluster', [
  ...NODE_TOOLS,
  'ip',
  'podman',
  'skopeo',
  'busybox',
  'xz',
  'tar',
  'go',
  'gcc',
  'curl',
  'haproxy',
  'keepalived',
  'unshare',
  'nsenter',
]);
