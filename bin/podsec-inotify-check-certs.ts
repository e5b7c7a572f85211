/**
 * podsec-inotify-check-certs [--days N]: warns through the journal (and so nagwad) before the
 * certificates of a Kubernetes node expire, and reports the expired ones as Critical.
 */
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { findAccount } from './lib/accounts.ts';
import { U7S_ADMIN_USER } from './lib/names.ts';
import { Journal, JOURNAL_HELP } from './inotify/journal.ts';
import { DEFAULT_CERT_WARN_DAYS, daysLeft, expiringWithin, isExpired, parseDays, reissueCommand, scanNodeCertificates } from './u7s/lib/cert-expiry.ts';

const NAME = 'podsec-inotify-check-certs';
const t = translator('podsec-inotify');

runCommand(
  {
    name: NAME,
    summary: 'Warn before the certificates of a Kubernetes node expire.',
    usage: ['[--days N] [--root DIR]'],
    options: {
      days: { type: 'string', valueName: 'N', description: 'warn N days before a certificate expires (default: $PODSEC_CERTS_WARN_DAYS, else 30)' },
    },
    description: [
      'Reads the certificates of /etc/kubernetes/pki and /etc/kubernetes/pki/etcd (the same files kubeadm sees inside ' +
        "the node namespace), the client certificates of the kubeconfigs in /etc/kubernetes, of root's /root/.kube/config " +
        "and of the users' ~/.kube/config, without following symlinks. Run daily by podsec-inotify-check-certs.timer.",
      'Each expired certificate is a journal entry "Critical: The certificate of \\"CN\\" in \\"FILE\\" expired on DATE", each ' +
        'one expiring within the warning period "Warning: The certificate of \\"CN\\" in \\"FILE\\" expires on DATE (in N ' +
        'days)", with the command that renews it (podsec-u7s-certs renew, or podsec-k8s-rbac-create-kubeconfig for a ' +
        "user's kubeconfig). A file that cannot be read or parsed is a Fatal entry: a node whose certificates cannot be " +
        'checked is never reported OK. A node without any certificate (no cluster) is OK.',
    ],
    environment: { PODSEC_CERTS_WARN_DAYS: 'the warning period in days when --days is not given (default 30)', ...JOURNAL_HELP.environment },
    files: {
      '/etc/kubernetes/pki/': "the cluster's certificates (kubeadm)",
      '/etc/kubernetes/*.conf': "kubeadm's kubeconfigs",
      '/root/.kube/config': "root's copy of admin.conf",
      '~USER/.kube/config': "users' kubeconfigs (podsec-k8s-rbac-create-kubeconfig)",
    },
    exitCodes: {
      1: 'WARNING: a certificate expires within the warning period',
      2: 'CRITICAL: a certificate has expired',
      3: 'UNKNOWN: a file could not be read, or a bad --days',
    },
    usageExitCode: 3,
    examples: {
      'podsec-inotify-check-certs': 'warn 30 days ahead',
      'podsec-inotify-check-certs --days 60': 'warn 60 days ahead',
    },
    seeAlso: ['podsec-u7s-certs(1)', 'podsec-k8s-rbac-create-kubeconfig(1)', 'kubeadm(1)'],
  },
  t,
  ({ values, root }) => {
    const text = typeof values.days === 'string' ? values.days : (process.env.PODSEC_CERTS_WARN_DAYS ?? String(DEFAULT_CERT_WARN_DAYS));
    const days = parseDays(text);
    if (days === undefined)
      throw new CommandError(t('the warning period must be a number of days from 0 to 3650, not {value}', { value: JSON.stringify(text) }), 3);
    const journal = new Journal(NAME);
    const now = new Date();
    const scan = scanNodeCertificates(root, { nodeOwner: findAccount(root, U7S_ADMIN_USER)?.uid });
    for (const problem of scan.problems) journal.report('Fatal', `The certificates of ${JSON.stringify(problem.file)} cannot be checked: ${problem.reason}`);
    const due = expiringWithin(scan.certificates, now, days);
    for (const cert of due) {
      const fix = reissueCommand(cert) ?? (cert.kind === 'user-kubeconfig' ? undefined : 'podsec-u7s-certs renew');
      const where = `The certificate of ${JSON.stringify(cert.subject)} in ${JSON.stringify(cert.file)}`;
      const remedy = fix ? `; renew it with: ${fix}` : '';
      const date = cert.notAfter.toISOString();
      if (isExpired(cert, now)) journal.report('Critical', `${where} expired on ${date}${remedy}`);
      else journal.report('Warning', `${where} expires on ${date} (in ${daysLeft(cert.notAfter, now)} days)${remedy}`);
    }
    const expired = due.filter((c) => isExpired(c, now)).length;
    // An expired certificate is CRITICAL even when another file could not be read; never OK with either.
    const code = expired ? 2 : scan.problems.length ? 3 : due.length ? 1 : 0;
    const status = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'][code]!;
    process.stdout.write(
      `${status}: ${t('certificates checked: {count}, expired: {expired}, expiring within {days} days: {soon}, unreadable: {problems}', {
        count: scan.certificates.length,
        expired,
        soon: due.length - expired,
        days,
        problems: scan.problems.length,
      })}\n`,
    );
    return code;
  },
);
