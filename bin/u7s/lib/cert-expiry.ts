/**
 * When the certificates of a node expire: the PKI kubeadm keeps in /etc/kubernetes/pki (the same
 * directory in the node namespace and on the host), the client certificates embedded in the
 * kubeconfigs of /etc/kubernetes, root's copy of admin.conf and the users' kubeconfigs that
 * podsec-k8s-rbac-create-kubeconfig issued. Everything is read as root from directories other
 * users own, so every read is bounded, follows no symlink and parses the text as data only.
 */
import { X509Certificate } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { readAccounts, type Account } from '../../lib/accounts.ts';
import { openTrustedDir } from '../../lib/safe-fs.ts';
import { KUBERNETES_DIR } from './paths.ts';

const MAX_FILE = 1 << 20;
const DAY_MS = 86_400_000;

/**
 * The warning period, in days, when none is given: podsec-u7s-certs and kubeadm certs through the
 * wrapper name the kubeconfigs expiring within it, podsec-inotify-check-certs warns within it.
 * Their help texts say 30 as literal text (messages are translated as written): change them with it.
 */
export const DEFAULT_CERT_WARN_DAYS = 30;

/** The kubeconfigs kubeadm writes into /etc/kubernetes. */
const NODE_KUBECONFIGS = ['admin.conf', 'super-admin.conf', 'controller-manager.conf', 'scheduler.conf', 'kubelet.conf'];
const ROOT_KUBECONFIG = '/root/.kube/config';

type CertificateKind = 'pki' | 'node-kubeconfig' | 'root-kubeconfig' | 'user-kubeconfig';

export interface CertificateExpiry {
  kind: CertificateKind;
  /** The file, as seen on the host (and, for /etc/kubernetes, in the namespace). */
  file: string;
  subject: string;
  notAfter: Date;
  /** user-kubeconfig: the account whose ~/.kube/config it is, and the groups (O=) of its certificate. */
  user?: string;
  groups?: string[];
}

interface CertificateScan {
  certificates: CertificateExpiry[];
  /** Files that exist but could not be read or parsed: a monitor must not call that OK. */
  problems: { file: string; reason: string }[];
}

/** The certificates of PEM text, in order; a block that is no certificate is an error. */
function pemCertificates(text: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block));
}

const field = (name: string, dn: string) =>
  dn
    .split('\n')
    .filter((line) => line.startsWith(`${name}=`))
    .map((line) => line.slice(name.length + 1));

/** "CN=..." of a certificate's subject (its first common name), for messages. */
export const subjectName = (cert: X509Certificate) => field('CN', cert.subject)[0] ?? cert.subject.replace(/\n/g, ', ');

/** The client certificates embedded in a kubeconfig (users[].user.client-certificate-data). */
function kubeconfigCertificates(text: string): X509Certificate[] {
  const doc = YAML.parse(text) as { users?: { user?: Record<string, unknown> }[] } | null;
  const certs: X509Certificate[] = [];
  for (const entry of Array.isArray(doc?.users) ? doc.users : []) {
    const data = entry?.user?.['client-certificate-data'];
    if (typeof data === 'string') certs.push(...pemCertificates(Buffer.from(data, 'base64').toString('utf8')));
  }
  return certs;
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

interface ReadContext {
  root: string;
  scan: CertificateScan;
}

/** Reads `name` in `dir` (opened with the trust rule of safe-fs); undefined when it does not exist. */
function readIn(context: ReadContext, dir: string, name: string, trustedOwner?: number): string | undefined {
  let opened;
  try {
    opened = openTrustedDir(join(context.root, dir), { root: context.root, trustedOwner });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    context.scan.problems.push({ file: join(dir, name), reason: errorText(error) });
    return undefined;
  }
  try {
    if (!opened.lstat(name)) return undefined;
    return opened.readFile(name, MAX_FILE).toString('utf8');
  } catch (error) {
    context.scan.problems.push({ file: join(dir, name), reason: errorText(error) });
    return undefined;
  } finally {
    opened.close();
  }
}

function addAll(context: ReadContext, file: string, kind: CertificateKind, parse: () => X509Certificate[], extra: Partial<CertificateExpiry> = {}): void {
  let certs: X509Certificate[];
  try {
    certs = parse();
  } catch (error) {
    context.scan.problems.push({ file, reason: errorText(error) });
    return;
  }
  for (const cert of certs) context.scan.certificates.push({ kind, file, subject: subjectName(cert), notAfter: new Date(cert.validTo), ...extra });
}

function scanPki(context: ReadContext, dir: string, owner: number | undefined): void {
  let opened;
  try {
    opened = openTrustedDir(join(context.root, dir), { root: context.root, trustedOwner: owner });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') context.scan.problems.push({ file: dir, reason: errorText(error) });
    return;
  }
  let names: string[];
  try {
    names = opened.names().sort();
  } finally {
    opened.close();
  }
  for (const name of names.filter((n) => n.endsWith('.crt'))) {
    const text = readIn(context, dir, name, owner);
    if (text !== undefined) addAll(context, join(dir, name), 'pki', () => pemCertificates(text));
  }
}

/** The users' kubeconfigs with client certificates: what podsec-k8s-rbac-create-kubeconfig writes. */
function scanUsers(context: ReadContext, accounts: Account[]): void {
  for (const account of accounts) {
    if (account.uid === 0 || !account.home.startsWith('/') || account.home === '/') continue;
    // A kubeconfig of the user's own is in a home the user owns; system accounts' homes (/bin, a link
    // on merged /usr; /var/mail, root's and group-writable; /nonexistent) hold none.
    const home = lstatSync(join(context.root, account.home), { throwIfNoEntry: false });
    if (!home?.isDirectory() || home.uid !== account.uid) continue;
    const dir = join(account.home, '.kube');
    const text = readIn(context, dir, 'config', account.uid);
    if (text === undefined) continue;
    let certs: X509Certificate[];
    try {
      certs = kubeconfigCertificates(text);
    } catch (error) {
      context.scan.problems.push({ file: join(dir, 'config'), reason: errorText(error) });
      continue;
    }
    for (const cert of certs) {
      context.scan.certificates.push({
        kind: 'user-kubeconfig',
        file: join(dir, 'config'),
        subject: subjectName(cert),
        notAfter: new Date(cert.validTo),
        user: account.name,
        groups: field('O', cert.subject),
      });
    }
  }
}

/**
 * Every certificate of the node under `root`. `nodeOwner` is the uid of u7s-admin, who owns
 * /etc/kubernetes and what kubeadm writes there; `users` says whether users' kubeconfigs are read.
 */
export function scanNodeCertificates(root: string, options: { nodeOwner?: number; users?: boolean } = {}): CertificateScan {
  const context: ReadContext = { root, scan: { certificates: [], problems: [] } };
  const pki = join(KUBERNETES_DIR, 'pki');
  scanPki(context, pki, options.nodeOwner);
  scanPki(context, join(pki, 'etcd'), options.nodeOwner);
  for (const name of NODE_KUBECONFIGS) {
    const text = readIn(context, KUBERNETES_DIR, name, options.nodeOwner);
    if (text !== undefined) addAll(context, join(KUBERNETES_DIR, name), 'node-kubeconfig', () => kubeconfigCertificates(text));
  }
  const rootText = readIn(context, '/root/.kube', 'config');
  if (rootText !== undefined) addAll(context, ROOT_KUBECONFIG, 'root-kubeconfig', () => kubeconfigCertificates(rootText));
  if (options.users !== false) {
    let accounts: Account[] = [];
    try {
      accounts = readAccounts(root);
    } catch (error) {
      context.scan.problems.push({ file: '/etc/passwd', reason: errorText(error) });
    }
    scanUsers(context, accounts);
  }
  return context.scan;
}

/** Whole days from `now` to `notAfter`, rounded down; negative once expired. */
export const daysLeft = (notAfter: Date, now: Date) => Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);

export const isExpired = (cert: CertificateExpiry, now: Date) => cert.notAfter.getTime() <= now.getTime();

/** Certificates expired or expiring within `days` days of `now`, soonest first. */
export function expiringWithin(certificates: CertificateExpiry[], now: Date, days: number): CertificateExpiry[] {
  const limit = now.getTime() + days * DAY_MS;
  return certificates.filter((c) => c.notAfter.getTime() <= limit).sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime());
}

/** The command that issues a user's kubeconfig again, with the groups of its certificate. */
export function reissueCommand(cert: CertificateExpiry): string | undefined {
  // Only a certificate issued for the account itself (CN = user) is podsec-k8s-rbac's: u7s-admin's copy of admin.conf is not.
  if (cert.kind !== 'user-kubeconfig' || !cert.user || cert.subject !== cert.user) return undefined;
  const safe = (word: string) => (/^[A-Za-z0-9._:@-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);
  const groups = (cert.groups ?? []).map(safe);
  const system = (cert.groups ?? []).some((g) => g.startsWith('system:'));
  return ['podsec-k8s-rbac-create-kubeconfig', ...(system ? ['--allow-system-groups'] : []), safe(cert.user), ...groups].join(' ');
}

/** Parses a number of days (0..3650). */
export function parseDays(text: string): number | undefined {
  if (!/^\d{1,4}$/.test(text)) return undefined;
  const days = Number(text);
  return days <= 3650 ? days : undefined;
}
