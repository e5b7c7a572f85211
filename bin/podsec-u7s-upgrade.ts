/**
 * podsec-u7s-upgrade plan|apply|node: a patch or one-minor upgrade of a rootless cluster, with
 * kubeadm and kubelet run as u7s-admin inside the node namespace (bin/u7s/lib/upgrade-run.ts).
 */
import { runCommand, type CommandSpec } from './lib/command.ts';
import { translator } from './lib/i18n.ts';

const t = translator('podsec-k8s');

const spec: CommandSpec = {
  name: 'podsec-u7s-upgrade',
  summary: 'Upgrade a rootless Kubernetes cluster by one minor or patch version, node by node (kubeadm upgrade inside the node namespace).',
  usage: ['plan [VERSION]', 'apply VERSION', 'node'],
  options: {},
  positionals: true,
  description: [
    'First the packages of kubeadm and kubelet of the target version on the node, and the images of that version saved, loaded and ' +
      'signed into the registry with podsec-k8s-save-oci and podsec-load-sign-oci. Then, on one control plane, apply VERSION; on every ' +
      'other node, control planes first, node.',
    'Before it changes anything, each command checks: the target is the next minor or a later patch of the cluster (kubeadm upgrades ' +
      'one minor at a time), the installed kubeadm and kubelet are the target version, the kubeadm feature gates of the cluster are ' +
      'ones the target accepts, and every image of the target this node runs is pulled into its CRI-O store through the node signature ' +
      'policy. Any refusal is named and nothing is changed.',
    'Feature gates the target kubeadm fixes at the value the cluster sets (ControlPlaneKubeletLocalMode=true from 1.35, ' +
      'NodeLocalCRISocket=true from 1.36) are taken out of the cluster configuration; set to the other value, they stop the upgrade.',
    'apply drains this node, runs kubeadm upgrade apply VERSION as u7s-admin in the node namespace (the control-plane static pods, ' +
      'etcd, kube-proxy and CoreDNS; kubeadm renews the certificates), copies admin.conf again to /root/.kube/config, restarts kubelet ' +
      'in the namespace, waits until the node reports Ready with the new kubelet, and uncordons it.',
    'node runs kubeadm upgrade node and restarts kubelet; a control plane drains and uncordons itself, a worker is drained before ' +
      '(kubectl drain NODE --ignore-daemonsets --delete-emptydir-data on a control plane) and uncordoned after.',
    'plan shows the versions, the images and the steps of apply on this control plane, or why apply would refuse.',
    'kubeadm upgrade plan, apply and node through the kubeadm wrapper (podsec-u7s-kubeadm) run this command (kubeadm --yes is implied).',
  ],
  files: {
    '/etc/kubernetes/admin.conf': 'the cluster administrator credentials kubectl uses on a control plane',
    '/etc/kubernetes/kubelet.conf': "the node's own credentials, used on a worker",
    '/root/.kube/config': "root's copy of admin.conf, refreshed after apply",
  },
  exitCodes: { 1: 'a check refused the upgrade (nothing changed), or kubeadm, kubectl or kubelet failed', 2: 'invalid arguments' },
  usageExitCode: 2,
  examples: {
    'podsec-u7s-upgrade plan': 'the versions, images and steps of an upgrade to the installed kubeadm',
    'podsec-u7s-upgrade apply v1.35.4': 'upgrade the control plane and this node',
    'podsec-u7s-upgrade node': 'upgrade another node after apply',
  },
  seeAlso: ['podsec-u7s-kubeadm(1)', 'podsec-k8s-save-oci(1)', 'podsec-load-sign-oci(1)', 'kubeadm(1)'],
};

// The modules of the upgrade (child processes, YAML, kubectl) are imported when a command runs: --help starts with little more than node.
runCommand(spec, t, async ({ positionals, root }) => {
  const { upgradeCommand } = await import('./u7s/lib/upgrade-run.ts');
  const { nodeOps } = await import('./u7s/lib/node-ops.ts');
  return upgradeCommand(positionals, () => nodeOps(root));
});
