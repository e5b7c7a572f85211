/**
 * A rootful node beside the rootless ones (the seed's "RootFullLess" layout, and the baseline of
 * the cluster benchmarks): the same packages and binaries, with CRI-O and kubelet run by the
 * node's root as plain system services and kubeadm run directly, as on a rootful ALT node.
 *
 * It is the least change that runs in an nspawn node of these hosts, each a limit the rootless
 * node meets too, where its crun or kubelet skips what it may not do:
 * - the cgroup hierarchies are read-only: crun runs with --cgroup-manager=disabled, and kubelet
 *   gets the no-QoS settings the rootless node picks (u7s-kubelet's ROOTLESS_KUBELET_SETTINGS);
 * - root lacks CAP_SYS_RESOURCE (the host's root does too) and a few capabilities nspawn drops:
 *   a shim before crun raises negative OOM scores to 0 and drops capabilities root does not have;
 * - kubelet wants three kernel values it may not write from a container (vm.overcommit_memory=1,
 *   kernel.panic=10, kernel.panic_on_oops=1): the node sees files with them bound over /proc/sys,
 *   the host's kernel keeps its own;
 * - no /dev/kmsg: an empty file (kubelet's OOM watcher reads nothing; the rootless one has none).
 * The shim costs one `node` start per container created or run.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import YAML from 'yaml';
import { deepMerge, kubeletMinor, ROOTLESS_KUBELET_SETTINGS } from '../../bin/u7s/lib/kubelet-config.ts';
import { renderFlannel } from '../../bin/u7s/lib/flannel.ts';
import { U7S_CNI_FLANNEL, U7S_FLANNEL_MANIFEST, U7S_RENDERED_DIR } from '../../bin/u7s/lib/paths.ts';
import { sleep } from '../image/cache.ts';
import { IMAGE_TAGS, K8S_TOOLS_VERSIONS } from '../k8s-tools/versions.ts';
import { mustExec, nodeExec } from './machines.ts';
import type { NodeState } from './state.ts';

export const ROOTFUL_DIR = '/etc/podsec-rootful';
export const CRIO_SOCKET = 'unix:///run/crio/crio.sock';
const KUBELET_CONFIG = '/var/lib/kubelet/config.yaml';
const ROOTFUL_SYSCTL = '/etc/sysctl.d/90-podsec-rootful.conf';
const PACKAGED_FLANNEL_CNI = U7S_CNI_FLANNEL.slice(1);
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

/** What this host's root kubelet needs on top of a cluster's settings: no QoS cgroups, no user namespace gate. */
function rootfulKubeletSettings(): Record<string, unknown> {
  const settings = ROOTLESS_KUBELET_SETTINGS(undefined, { cgroups: 'none', minor: kubeletMinor(K8S_TOOLS_VERSIONS.kubernetes.version) });
  const { featureGates: _, ...rest } = settings;
  return rest;
}

/** The wrapper's own init documents, as a root kubelet on this host runs them. */
export function rootfulDocuments(renderedInit: string): string {
  const docs = YAML.parseAllDocuments(renderedInit).map((d) => d.toJS() as Record<string, unknown>);
  return docs
    .map((doc) => {
      if (doc.kind !== 'KubeletConfiguration') return doc;
      const merged = deepMerge(doc, rootfulKubeletSettings());
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

/**
 * What a rootful node needs besides the packages, written once: CRI-O and kubelet as root's
 * services (CRI-O's storage on the host's disk, under the directory bound into every node), the
 * crun shim, the standard CNI plugins and flannel's network where a root kubelet looks for them,
 * the kernel values; kubeadm's patch for the kubelet of a join. CRI-O is left running.
 */
export async function prepareRootful(node: NodeState, platform: string): Promise<void> {
  const root = (path: string) => join(node.root, path);
  mkdirSync(root(`${ROOTFUL_DIR}/crio.conf.d`), { recursive: true });
  mkdirSync(root(`${ROOTFUL_DIR}/patches`), { recursive: true });
  // kubeadm join takes the cluster's kubelet settings; this host's root kubelet needs these over them.
  const patch = { ...rootfulKubeletSettings(), featureGates: { KubeletInUserNamespace: null } };
  writeFileSync(root(`${ROOTFUL_DIR}/patches/kubeletconfiguration+merge.yaml`), YAML.stringify(patch));
  // Only `create` and `run` take a bundle; every other crun call (state, kill, delete, …) goes straight through.
  const shim =
    `#!/bin/sh\ncase " $* " in *" create "*|*" run "*) /usr/bin/node ${ROOTFUL_DIR}/fit-bundle.mjs "$@" || exit ;; esac` +
    `\nexec /usr/bin/crun --cgroup-manager=disabled "$@"\n`;
  writeFileSync(root(`${ROOTFUL_DIR}/crun`), shim, { mode: 0o755 });
  writeFileSync(root(`${ROOTFUL_DIR}/fit-bundle.mjs`), FIT_BUNDLE);
  const storage = '/var/lib/u7s-admin/.local/share/usernetes/rootful';
  writeFileSync(
    root(`${ROOTFUL_DIR}/crio.conf`),
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
      `runtime_path = "${ROOTFUL_DIR}/crun"`,
      'runtime_type = "oci"',
      'runtime_root = "/run/crun"',
      'monitor_cgroup = "pod"',
      '[crio.image]',
      'signature_policy = "/etc/containers/policy.json"',
      `pause_image = "registry.local/${platform}/pause:${IMAGE_TAGS.pause}"`,
      '[crio.network]',
      'network_dir = "/etc/cni/net.d/"',
      // flannel's network only (podman's bridge is in the same directory), waited for until flannel writes it.
      'cni_default_network = "cbr0"',
      'plugin_dirs = ["/opt/cni/bin/"]',
      '',
    ].join('\n'),
  );
  writeFileSync(
    root('etc/systemd/system/podsec-rootful-crio.service'),
    `[Unit]\nDescription=CRI-O as root (podsec rootful node)\n\n[Service]` +
      `\nExecStart=/usr/bin/crio --config ${ROOTFUL_DIR}/crio.conf --config-dir ${ROOTFUL_DIR}/crio.conf.d` +
      `\nRestart=on-failure\n`,
  );
  writeFileSync(
    root('etc/systemd/system/kubelet.service'),
    '[Unit]\nDescription=kubelet as root (podsec rootful node)\nAfter=podsec-rootful-crio.service\n\n[Service]' +
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
  mkdirSync(root('etc/cni/net.d'), { recursive: true });
  writeFileSync(root('etc/cni/net.d/10-flannel.conflist'), readFileSync(root(PACKAGED_FLANNEL_CNI)));
  const binds = Object.entries(KUBELET_TUNABLES)
    .map(([path, value]) => {
      const file = `${ROOTFUL_DIR}/sysctl-${path.replace(/\//g, '.')}`;
      return `printf '%s\\n' ${value} > ${file} && { grep -q ' /proc/sys/${path} ' /proc/self/mountinfo || mount --bind ${file} /proc/sys/${path}; }`;
    })
    .join(' && ');
  // What kubeadm's preflight asks of a rootful node's own network namespace (the rootless node's
  // u7s-rootlesskit sets the same in its namespace): forwarding, and bridged traffic through iptables.
  const sysctls =
    `echo net.ipv4.ip_forward=1 > ${ROOTFUL_SYSCTL}` +
    ` && { [ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || echo net.bridge.bridge-nf-call-iptables=1 >> ${ROOTFUL_SYSCTL}; }` +
    ` && sysctl -q -p ${ROOTFUL_SYSCTL}`;
  await mustExec(node, ['sh', '-ec', `${binds} && ${sysctls} && : > /dev/kmsg && mkdir -p -m 700 ${storage} && systemctl daemon-reload`]);
  await startRootfulCrio(node);
}

/** CRI-O started as root, and answering (bounded). */
async function startRootfulCrio(node: NodeState): Promise<void> {
  await mustExec(node, ['systemctl', 'start', 'podsec-rootful-crio.service']);
  for (let waited = 0; (await nodeExec(node, ['crictl', '--runtime-endpoint', CRIO_SOCKET, 'version'])).exitCode !== 0; waited += 200) {
    if (waited > 60_000) {
      const journal = await nodeExec(node, ['journalctl', '-u', 'podsec-rootful-crio.service', '-n', '30', '--no-pager', '-o', 'cat']);
      throw new Error(`${node.name}: the rootful CRI-O did not answer within 60 s; its journal:\n${journal.stdout}`);
    }
    await sleep(200);
  }
}

/**
 * The documents of a rootful control plane as an admin makes it with kubeadm's defaults: the
 * wrapper's init plan for this node without what makes a cluster rootless-ready (kube-proxy's
 * conntrack settings, etcd's directory), run by root on this host (rootfulDocuments).
 */
export function defaultRootfulDocuments(planOutput: string): string {
  const start = planOutput.indexOf(`# ${U7S_RENDERED_DIR}/init.yaml\n`);
  const end = planOutput.indexOf('\n# kubeadm command');
  if (start < 0 || end < start) throw new Error(`podsec-u7s-kubeadm --plan init printed no documents:\n${planOutput}`);
  const docs = YAML.parseAllDocuments(planOutput.slice(start, end))
    .map((d) => d.toJS() as Record<string, unknown>)
    .filter((doc) => doc && doc.kind !== 'KubeProxyConfiguration');
  for (const doc of docs) if (doc.kind === 'ClusterConfiguration') delete ((doc.etcd as Record<string, Record<string, unknown>>)?.local ?? {}).dataDir;
  return rootfulDocuments(docs.map((doc) => YAML.stringify(doc)).join('---\n'));
}

/** `kubeadm init` as root with `documents`, root's kubeconfig, and flannel as the wrapper deploys it. */
export async function rootfulInit(node: NodeState, platform: string, documents: string): Promise<string> {
  writeFileSync(join(node.root, ROOTFUL_DIR, 'kubeadm.yaml'), documents);
  const flannel = renderFlannel(readFileSync(join(node.root, U7S_FLANNEL_MANIFEST), 'utf8'), {
    podCidr: '10.244.0.0/16',
    repository: `registry.local/${platform}`,
  });
  writeFileSync(join(node.root, ROOTFUL_DIR, 'kube-flannel.yml'), flannel);
  await startRootfulCrio(node);
  const out = await mustExec(node, ['kubeadm', 'init', '--config', `${ROOTFUL_DIR}/kubeadm.yaml`, '--ignore-preflight-errors=all'], { timeoutMs: 900_000 });
  await mustExec(node, ['sh', '-ec', 'mkdir -p /root/.kube && cp /etc/kubernetes/admin.conf /root/.kube/config']);
  await mustExec(node, ['kubectl', '--kubeconfig', '/root/.kube/config', 'apply', '-f', `${ROOTFUL_DIR}/kube-flannel.yml`]);
  return out;
}

/** `kubeadm join` as root with the join command kubeadm printed, and this host's kubelet patch. */
export async function rootfulJoin(node: NodeState, joinCommand: string[]): Promise<void> {
  await startRootfulCrio(node);
  const args = [...joinCommand, '--cri-socket', CRIO_SOCKET, '--patches', `${ROOTFUL_DIR}/patches`, '--ignore-preflight-errors=all'];
  await mustExec(node, ['kubeadm', ...args], { timeoutMs: 900_000 });
}

/**
 * flannel's VXLAN device on a rootful node with the inner checksums computed before encapsulation
 * (`ethtool -K flannel.1 tx-checksum-ip-generic off`, the host's ethtool in the node's network).
 * Otherwise the kernel leaves them to the NIC, and over a veth (or between VMs of one hypervisor)
 * nothing computes them: a rootless node's rootlesskit reads the datagram in user space and passes
 * on inner TCP checksums that were never filled in, which its conntrack marks INVALID and
 * kube-proxy's rule drops (seen here: pod traffic between a rootful and a rootless node, both
 * ways, and only that). Run once flannel is ready on the node.
 */
export async function vxlanChecksumsInSoftware(node: NodeState): Promise<void> {
  const ethtool = ['nsenter', '-t', String(node.leader), '-n', 'ethtool', '-K', 'flannel.1', 'tx-checksum-ip-generic', 'off'];
  const r = await execa(ethtool[0]!, ethtool.slice(1), { reject: false, stdin: 'ignore', timeout: 30_000 });
  if (r.exitCode !== 0) throw new Error(`${node.name}: ${ethtool.join(' ')} failed (${r.exitCode}): ${r.stderr}`);
}

/** `kubeadm reset` as root, the services stopped, and what kubeadm leaves (flannel's devices, the rules) removed. */
export async function rootfulReset(node: NodeState): Promise<void> {
  await mustExec(node, ['kubeadm', 'reset', '--force', '--cri-socket', CRIO_SOCKET], { timeoutMs: 600_000 });
  await mustExec(node, ['systemctl', 'stop', 'kubelet.service', 'podsec-rootful-crio.service']);
  await nodeExec(node, [
    'sh',
    '-c',
    'ip link del cni0; ip link del flannel.1; for t in nat filter mangle; do iptables -t $t -F; iptables -t $t -X; done; rm -rf /run/flannel /var/lib/cni',
  ]);
}
