/**
 * test:cluster — the real flow on a real ALT node, where kubeadm, kubelet, CRI-O and kubectl are
 * installed: kubeadm init through the wrapper, the node Ready, a pod from a signed image Running
 * (and, when given, an unsigned image refused), a worker joined over ssh, then reset. It changes
 * the host, so it runs only when asked (U7S_CLUSTER_TEST=yes); anywhere else every step skips
 * and says why.
 *
 *   U7S_CLUSTER_TEST=yes                    run at all (as root, on the node to deploy)
 *   U7S_CLUSTER_SIGNED_IMAGE=ref            an image the node's policy.json accepts (required)
 *   U7S_CLUSTER_UNSIGNED_IMAGE=ref          an image it must refuse (optional)
 *   U7S_CLUSTER_WORKER=root@host            a second node with podsec-k8s to join (optional)
 *   U7S_CLUSTER_KEEP=yes                    leave the cluster up afterwards
 * plus the wrapper's own U7S_* variables (registry, version, platform).
 */
import { existsSync, readFileSync } from 'node:fs';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { run } from '../support/exec.ts';

const BINARIES = ['/usr/bin/kubeadm', '/usr/bin/kubelet', '/usr/bin/crio', '/usr/bin/kubectl', '/usr/bin/podsec-u7s-kubeadm'];

function skipReason(): string | undefined {
  if (process.env.U7S_CLUSTER_TEST !== 'yes') return 'U7S_CLUSTER_TEST=yes not set (the suite deploys Kubernetes on this host)';
  const missing = BINARIES.filter((b) => !existsSync(b));
  if (missing.length) return `not a Kubernetes node: missing ${missing.join(', ')} (kubernetes1.XX-kubeadm/-kubelet/-crio/-client and podsec-k8s)`;
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  if (!/^ID="?altlinux"?$/m.test(osRelease)) return 'not an ALT node (/etc/os-release ID is not altlinux)';
  if (process.getuid?.() !== 0) return 'must run as root';
  if (!existsSync('/run/systemd/system')) return 'systemd is not PID 1';
  if (!process.env.U7S_CLUSTER_SIGNED_IMAGE) return 'U7S_CLUSTER_SIGNED_IMAGE (an image the signature policy accepts) is not set';
  return undefined;
}

const reason = skipReason();
const test = reason
  ? (((name: string) => {
      process.stdout.write(`skip: ${name} (${reason})\n`);
      base.skip(`${name} [${reason}]`, () => {});
    }) as unknown as typeof base)
  : base;

const kubectl = (args: string[], timeoutMs = 60_000) => run('/usr/bin/kubectl', ['--kubeconfig', '/root/.kube/config', ...args], { timeoutMs });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, seconds: number, probe: () => Promise<boolean>) {
  for (let i = 0; i < seconds / 5; i++) {
    if (await probe()) return;
    await sleep(5000);
  }
  throw new Error(`${what}: not within ${seconds} s`);
}

test('preflight says the node is ready', async () => {
  const r = await run('/usr/bin/podsec-u7s-preflight', []);
  assert.is(r.exitCode, 0, r.stdout + r.stderr);
});

test('kubeadm init through the wrapper; the node becomes Ready', async () => {
  const r = await run('/usr/bin/podsec-u7s-kubeadm', ['init'], { timeoutMs: 30 * 60_000 });
  assert.is(r.exitCode, 0, r.stdout + r.stderr);
  await until('node Ready', 600, async () =>
    (await kubectl(['get', 'nodes', '-o', 'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}'])).stdout.includes('True'),
  );
});

test('a pod from a signed image runs; an unsigned image is refused by the signature policy', async () => {
  await kubectl(['taint', 'nodes', '--all', 'node-role.kubernetes.io/control-plane-']);
  const signed = await kubectl(['run', 'u7s-signed', `--image=${process.env.U7S_CLUSTER_SIGNED_IMAGE}`, '--restart=Never', '--command', '--', 'sleep', '3600']);
  assert.is(signed.exitCode, 0, signed.stderr);
  await until('signed pod Running', 300, async () => (await kubectl(['get', 'pod', 'u7s-signed', '-o', 'jsonpath={.status.phase}'])).stdout === 'Running');
  if (process.env.U7S_CLUSTER_UNSIGNED_IMAGE) {
    await kubectl(['run', 'u7s-unsigned', `--image=${process.env.U7S_CLUSTER_UNSIGNED_IMAGE}`, '--restart=Never']);
    await until('unsigned image refused', 300, async () => /signature|policy/i.test((await kubectl(['describe', 'pod', 'u7s-unsigned'])).stdout));
  }
});

test('a worker joins (U7S_CLUSTER_WORKER) and becomes Ready', async () => {
  const worker = process.env.U7S_CLUSTER_WORKER;
  if (!worker) {
    process.stdout.write('skip: worker join (U7S_CLUSTER_WORKER not set)\n');
    return;
  }
  const command = await run('/usr/bin/podsec-u7s-kubeadm', ['token', 'create', '--print-join-command']);
  assert.is(command.exitCode, 0, command.stderr);
  const args = command.stdout.trim().split(/\s+/).slice(1); // drop "kubeadm"
  const joined = await run('ssh', [worker, '--', '/usr/bin/podsec-u7s-kubeadm', ...args], { timeoutMs: 30 * 60_000 });
  assert.is(joined.exitCode, 0, joined.stdout + joined.stderr);
  await until(
    'two nodes Ready',
    600,
    async () =>
      ((await kubectl(['get', 'nodes', '-o', 'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}'])).stdout.match(/True/g) ?? []).length >= 2,
  );
});

test('reset through the wrapper', async () => {
  if (process.env.U7S_CLUSTER_KEEP === 'yes') return;
  const r = await run('/usr/bin/podsec-u7s-kubeadm', ['reset', '-f'], { timeoutMs: 10 * 60_000 });
  assert.is(r.exitCode, 0, r.stdout + r.stderr);
});

base.run();
