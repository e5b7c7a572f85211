/**
 * Certificate expiry and renewal of a rootless node: kubeadm's own `certs check-expiration` and
 * `certs renew` run as the node account inside its namespace; after a renewal the control-plane
 * static pods are restarted (they read their certificates only at start), root's copy of
 * admin.conf is refreshed, and the users' kubeconfigs that need issuing again are named with the
 * command that does it (their certificates are signed through the API, not by kubeadm).
 */
import { translator } from '../../lib/i18n.ts';
import { CommandError } from '../../lib/command.ts';
import { DEFAULT_CERT_WARN_DAYS, daysLeft, expiringWithin, isExpired, reissueCommand, scanNodeCertificates, type CertificateExpiry } from './cert-expiry.ts';
import { kubeconfigs } from './deploy-run.ts';
import type { NodeOps } from './node-ops.ts';
import { SYSTEM_PROGRAMS } from './paths.ts';
import { CONTROL_PLANE_PODS, staticPodControlPlane } from './static-pods.ts';

const t = translator('podsec-k8s');
const say = (line: string) => process.stderr.write(`${line}\n`);

const date = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');

function line(cert: CertificateExpiry, now: Date): string {
  const days = daysLeft(cert.notAfter, now);
  const when = isExpired(cert, now)
    ? t('EXPIRED on {date}', { date: date(cert.notAfter) })
    : t('expires {date} (in {days} days)', { date: date(cert.notAfter), days });
  return `${cert.file} (CN=${JSON.stringify(cert.subject)}): ${when}`;
}

/** The kubeconfigs outside /etc/kubernetes (root's copy, the users'), with what to do about them. */
export function kubeconfigReport(ops: Pick<NodeOps, 'root' | 'account'>, now: Date, days: number): { text: string; expired: number } {
  const scan = scanNodeCertificates(ops.root, { nodeOwner: ops.account.uid });
  const outside = scan.certificates.filter((c) => c.kind === 'root-kubeconfig' || c.kind === 'user-kubeconfig');
  const lines = outside.map((c) => `  ${line(c, now)}`);
  const due = expiringWithin(outside, now, days);
  for (const cert of due) {
    const command = reissueCommand(cert);
    if (command) lines.push(`  ${t('issue {file} again with: {command}', { file: cert.file, command })}`);
  }
  for (const problem of scan.problems) lines.push(`  ${t('{file}: cannot be read: {reason}', { file: problem.file, reason: problem.reason })}`);
  return {
    text: lines.length ? `${t('Kubeconfigs outside /etc/kubernetes:')}\n${lines.join('\n')}\n` : '',
    expired: outside.filter((c) => isExpired(c, now)).length,
  };
}

/** kubeadm certs check-expiration in the namespace, then root's and the users' kubeconfigs. */
export async function checkExpiration(ops: NodeOps, args: string[], days: number, now = new Date()): Promise<number> {
  const r = await ops.run([SYSTEM_PROGRAMS.kubeadm, 'certs', 'check-expiration', ...args]);
  process.stdout.write(r.stdout);
  if (r.code !== 0) throw new CommandError(t('kubeadm certs check-expiration failed: {reason}', { reason: r.stderr.trim() }));
  process.stdout.write(kubeconfigReport(ops, now, days).text);
  return 0;
}

/**
 * kubeadm certs renew (all when nothing else is named) in the namespace, the control plane
 * restarted, root's /root/.kube/config and u7s-admin's ~/.kube/config copied again from admin.conf.
 */
export async function renew(ops: NodeOps, args: string[], days: number, now = new Date()): Promise<number> {
  const what = args.filter((a) => !a.startsWith('-')).length ? args : ['all', ...args];
  const r = await ops.run([SYSTEM_PROGRAMS.kubeadm, 'certs', 'renew', ...what], 300_000);
  process.stdout.write(r.stdout);
  if (r.code !== 0) throw new CommandError(t('kubeadm certs renew failed: {reason}', { reason: r.stderr.trim() }));
  if (what.includes('--dry-run')) return 0;
  say(t('Restarting the control plane so that it reads the renewed certificates'));
  const pods = staticPodControlPlane({ root: ops.root, account: ops.account, run: ops.run, pods: CONTROL_PLANE_PODS, id: now.getTime().toString(36), say });
  await pods.stop();
  await pods.start();
  await kubeconfigs({ root: ops.root, account: ops.account });
  say(t('/root/.kube/config and the kubeconfig of {user} are copied again from admin.conf', { user: ops.account.name }));
  process.stdout.write(kubeconfigReport(ops, now, days).text);
  return 0;
}

/** `kubeadm certs renew|check-expiration ...` through the kubeadm wrapper. */
export function certsThroughWrapper(command: 'renew' | 'check-expiration', args: string[], root: string, ops: (root: string) => NodeOps): Promise<number> {
  return command === 'renew' ? renew(ops(root), args, DEFAULT_CERT_WARN_DAYS) : checkExpiration(ops(root), args, DEFAULT_CERT_WARN_DAYS);
}
