/**
 * podsec-u7s-certs check-expiration|renew: the certificates of a rootless node, with kubeadm run
 * as u7s-admin inside the node namespace (bin/u7s/lib/certs.ts).
 */
import { CommandError, runCommand, type CommandSpec } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { DEFAULT_CERT_WARN_DAYS, parseDays } from './u7s/lib/cert-expiry.ts';
import { checkExpiration, renew } from './u7s/lib/certs.ts';
import { nodeOps } from './u7s/lib/node-ops.ts';

const t = translator('podsec-k8s');

const spec: CommandSpec = {
  name: 'podsec-u7s-certs',
  summary: 'Check and renew the certificates of a rootless Kubernetes node (kubeadm certs inside the node namespace).',
  usage: ['check-expiration [--days N]', 'renew [--days N] [all|CERTIFICATE...]'],
  options: {
    days: { type: 'string', valueName: 'N', description: 'name the kubeconfigs outside /etc/kubernetes that expire within N days (default 30)' },
  },
  positionals: true,
  description: [
    'check-expiration runs kubeadm certs check-expiration as u7s-admin inside the node namespace (the certificates of ' +
      "/etc/kubernetes/pki and the kubeconfigs of /etc/kubernetes), then lists the client certificates of root's " +
      "/root/.kube/config and of the users' ~/.kube/config (written by podsec-k8s-rbac-create-kubeconfig) with their expiry dates.",
    'renew runs kubeadm certs renew (all unless certificates are named) there, restarts the control-plane static pods ' +
      '(their manifests are moved out of /etc/kubernetes/manifests until kubelet has stopped them, then back), copies ' +
      "admin.conf again to /root/.kube/config (checked as on init) and to ~u7s-admin/.kube/config, and names the users' " +
      'kubeconfigs expiring within --days with the podsec-k8s-rbac-create-kubeconfig command that issues them again: their ' +
      'certificates are signed through the API for five years and kubeadm does not renew them. The cluster CA is not renewed.',
    'kubeadm certs renew and kubeadm certs check-expiration through the kubeadm wrapper (podsec-u7s-kubeadm) run this command.',
  ],
  files: {
    '/etc/kubernetes/pki/': 'the certificates kubeadm renews (owned by u7s-admin)',
    '/etc/kubernetes/manifests/': 'the control-plane static pods restarted after a renewal',
    '/root/.kube/config': "root's copy of admin.conf, refreshed after a renewal",
    '~USER/.kube/config': "users' kubeconfigs, only read",
  },
  exitCodes: { 1: 'kubeadm failed, the namespace is not running, or the control plane did not stop', 2: 'invalid arguments' },
  usageExitCode: 2,
  examples: {
    'podsec-u7s-certs check-expiration': 'when the certificates of this node expire',
    'podsec-u7s-certs renew': 'renew all certificates kubeadm manages and restart the control plane',
    'kubeadm certs renew all': 'the same through the kubeadm wrapper',
  },
  seeAlso: ['podsec-u7s-kubeadm(1)', 'podsec-inotify-check-certs(1)', 'podsec-k8s-rbac-create-kubeconfig(1)', 'kubeadm(1)'],
};

runCommand(spec, t, async ({ values, positionals, root }) => {
  const [command, ...args] = positionals;
  const days = typeof values.days === 'string' ? parseDays(values.days) : DEFAULT_CERT_WARN_DAYS;
  if (days === undefined) throw new CommandError(t('--days must be a number of days from 0 to 3650'), 2);
  if (command === 'check-expiration') return checkExpiration(nodeOps(root), args, days);
  if (command === 'renew') return renew(nodeOps(root), args, days);
  throw new CommandError(t('unknown command {command}: use check-expiration or renew', { command: JSON.stringify(command ?? '') }), 2);
});
