/**
 * Before a join changes anything on the node: is the cluster one a rootless node can join? A
 * control plane set up rootful with kubeadm's defaults is not, in two settings that kubeadm join
 * takes from the cluster and not from our documents: kube-proxy's conntrack values (unset, kube-proxy
 * writes the host-global nf_conntrack sysctls, which fails in a user namespace) and, for a
 * control-plane join, etcd's data directory. The cluster is asked as kubeadm's discovery does:
 * cluster-info anonymously (its CA checked against the pinned hashes, its signature against the
 * token), then the two ConfigMaps over TLS verified with that CA, with the bootstrap token
 * (kubeadm's RBAC lets it read both). A
 * refusal names what is wrong and prints the commands that fix it on a control-plane node.
 */
import { createHash, createHmac, timingSafeEqual, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import YAML from 'yaml';
import { CommandError } from '../../lib/command.ts';
import { httpGet } from '../../lib/http.ts';
import { translator } from '../../lib/i18n.ts';
import { readRegularFile } from '../../lib/safe-fs.ts';
import { shellQuote } from '../../rbac/names.ts';
import { findKind, getPath, type Doc } from './kubeadm-documents.ts';
import { sleep } from './poll.ts';

const t = translator('podsec-k8s');

/** The exit status of a cluster that is not ready for a rootless node (the command's exit-code table). */
export const EXIT_CLUSTER_NOT_READY = 3;
/** Every answer is a small ConfigMap; the API server's limit on one is 1 MiB of data. */
export const MAX_ANSWER_BYTES = 1 << 20;
const TIMEOUT_MS = 15_000;
/** kubeadm's etcd.local.dataDir when nothing sets it. */
const KUBEADM_ETCD_DIR = '/var/lib/etcd';
/** The conntrack fields a rootless kube-proxy needs as our own KubeProxyConfiguration has them. */
const CONNTRACK_FIELDS = ['maxPerCore', 'tcpEstablishedTimeout', 'tcpCloseWaitTimeout'] as const;

/** What a rootless node needs of the cluster: the values of its own documents. */
interface ClusterRequirements {
  /** conntrack fields of kube-proxy's configuration: a number (maxPerCore) or a duration (0s). */
  conntrack: Record<string, number | string>;
  /** etcd.local.dataDir, for a control-plane join. */
  etcdDataDir?: string;
}

/** Where and how to ask the cluster. */
export interface JoinTarget {
  /** HOST:PORT of the API server. */
  endpoint: string;
  /** The bootstrap token (bearer of the ConfigMap requests). */
  token: string;
  /** sha256:<hex> pins of the cluster CA's public key; one must match. */
  caCertHashes: string[];
  /** --discovery-token-unsafe-skip-ca-verification: the served CA is trusted as it is. */
  unsafeSkipCaVerification: boolean;
  /** The CA is known already (--discovery-file): cluster-info is not asked. */
  ca?: string;
  required: ClusterRequirements;
}

/** One setting of the cluster that stops the join. */
interface Mismatch {
  configMap: 'kube-proxy' | 'kubeadm-config';
  field: string;
  have: unknown;
  want: number | string;
  /** The field is missing from the text (sed must add it, not change it). */
  absent: boolean;
}

const isMap = (value: unknown): value is Doc => typeof value === 'object' && value !== null && !Array.isArray(value);

/** sha256:<hex> of each certificate's DER SubjectPublicKeyInfo, as kubeadm's --discovery-token-ca-cert-hash. */
export function caCertHashes(pem: string): string[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => {
    const spki = new X509Certificate(block).publicKey.export({ type: 'spki', format: 'der' });
    return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
  });
}

/** The data of a ConfigMap the API server answered with (JSON). */
function configMapData(body: string): Doc {
  let object: unknown;
  try {
    object = JSON.parse(body);
  } catch {
    throw new Error(t('the answer is not JSON'));
  }
  if (!isMap(object) || object.kind !== 'ConfigMap') throw new Error(t('the answer is not a ConfigMap'));
  return isMap(object.data) ? object.data : {};
}

/** data[key] of a ConfigMap the API server answered with (JSON). */
export function configMapValue(body: string, key: string): string {
  const value = configMapData(body)[key];
  if (typeof value !== 'string') throw new Error(t('not a ConfigMap with the key {key}', { key }));
  return value;
}

const base64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/**
 * kubeadm's token check of cluster-info, before the token is sent anywhere: the ConfigMap holds,
 * under jws-kubeconfig-<token id>, a detached JWS (HS256, keyed with the token's secret) of its
 * kubeconfig, made by the cluster's bootstrap signer for every valid token. undefined when it matches.
 */
function clusterInfoSignatureProblem(data: Doc, token: string): string | undefined {
  const [id, secret, ...rest] = token.split('.');
  if (!id || !secret || rest.length) return t('the token is not of the form ID.SECRET');
  const kubeconfig = data.kubeconfig;
  const jws = data[`jws-kubeconfig-${id}`];
  if (typeof kubeconfig !== 'string' || typeof jws !== 'string')
    return t(
      'kube-public/cluster-info is not signed for the token {id}: the token is not (or no longer) valid in this cluster; ' +
        'make a new join command on a control-plane node: kubeadm token create --print-join-command',
      { id },
    );
  const [header, payload, signature, ...more] = jws.split('.');
  let alg: unknown;
  let kid: unknown;
  try {
    ({ alg, kid } = JSON.parse(Buffer.from(header ?? '', 'base64url').toString('utf8')) as { alg?: unknown; kid?: unknown });
  } catch {
    // a header that is not JSON does not match below
  }
  const expected = createHmac('sha256', secret)
    .update(`${header}.${base64url(kubeconfig)}`)
    .digest();
  const given = Buffer.from(signature ?? '', 'base64url');
  const matches =
    payload === '' &&
    !more.length &&
    alg === 'HS256' &&
    (kid === undefined || kid === id) &&
    given.length === expected.length &&
    timingSafeEqual(given, expected);
  return matches
    ? undefined
    : t('the signature of kube-public/cluster-info does not match the token {id}: a wrong token secret, or not the cluster meant', { id });
}

/** The CA certificates (PEM) of a kubeconfig's first cluster, and its server. */
function kubeconfigCluster(text: string, dir?: string): { server: string; ca: string } {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (error) {
    throw new Error(t('the kubeconfig is not YAML: {reason}', { reason: (error as Error).message }));
  }
  const clusters = isMap(doc) && Array.isArray(doc.clusters) ? doc.clusters : [];
  const cluster = isMap(clusters[0]) && isMap(clusters[0].cluster) ? clusters[0].cluster : undefined;
  const data = cluster?.['certificate-authority-data'];
  const file = cluster?.['certificate-authority'];
  const server = cluster?.server;
  if (typeof server !== 'string') throw new Error(t('the kubeconfig names no cluster server'));
  if (typeof data === 'string') return { server, ca: Buffer.from(data, 'base64').toString('utf8') };
  if (typeof file === 'string' && dir !== undefined) return { server, ca: readRegularFile(join(dir, file), { maxBytes: MAX_ANSWER_BYTES }).toString('utf8') };
  throw new Error(t('the kubeconfig has no certificate-authority-data'));
}

function parseYamlMap(text: string, what: string): Doc {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (error) {
    throw new Error(t('{what} is not YAML: {reason}', { what, reason: (error as Error).message }));
  }
  if (!isMap(doc)) throw new Error(t('{what} is not a YAML map', { what }));
  return doc;
}

/** A Go duration in seconds (1h2m3.5s, 0, 0s), or undefined when it is not one. */
export function durationSeconds(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  if (value === '0') return 0;
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, µs: 1e-6, ns: 1e-9 };
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== value) return undefined;
  return parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]!]!, 0);
}

const sameValue = (have: unknown, want: number | string) =>
  typeof want === 'number' ? have === want : durationSeconds(have) !== undefined && durationSeconds(have) === durationSeconds(want);

/**
 * The settings of the cluster that stop a rootless node: `kubeProxy` is config.conf of
 * kube-system/kube-proxy, `cluster` ClusterConfiguration of kube-system/kubeadm-config (only for
 * a control-plane join, i.e. when `required.etcdDataDir` is set).
 */
export function clusterMismatches(kubeProxy: string, cluster: string | undefined, required: ClusterRequirements): Mismatch[] {
  const found: Mismatch[] = [];
  const proxy = parseYamlMap(kubeProxy, 'kube-system/kube-proxy config.conf');
  if (proxy.kind !== 'KubeProxyConfiguration')
    throw new Error(t('{what} is not a {kind} document', { what: 'kube-system/kube-proxy config.conf', kind: 'KubeProxyConfiguration' }));
  const conntrack = isMap(proxy.conntrack) ? proxy.conntrack : {};
  for (const [field, want] of Object.entries(required.conntrack)) {
    const have = conntrack[field];
    if (!sameValue(have, want)) found.push({ configMap: 'kube-proxy', field: `conntrack.${field}`, have, want, absent: !(field in conntrack) });
  }
  if (required.etcdDataDir !== undefined) {
    if (cluster === undefined) throw new Error(t('kube-system/kubeadm-config has no ClusterConfiguration'));
    const doc = parseYamlMap(cluster, 'kube-system/kubeadm-config ClusterConfiguration');
    // An external etcd is not run by the joining node.
    if (getPath(doc, 'etcd.external') === undefined) {
      const dataDir = getPath(doc, 'etcd.local.dataDir');
      const have = dataDir ?? KUBEADM_ETCD_DIR;
      if (have !== required.etcdDataDir)
        found.push({ configMap: 'kubeadm-config', field: 'etcd.local.dataDir', have, want: required.etcdDataDir, absent: dataDir === undefined });
    }
  }
  return found;
}

/** The value as the refusal shows it. */
const shownValue = (value: unknown) =>
  value === undefined ? t('unset') : value === null ? t('null (kube-proxy then uses its default)') : JSON.stringify(value);

const sedEscape = (text: string) => text.replace(/[\\|&]/g, '\\$&');

/**
 * The sed -e expressions: a field's line is changed in place; fields missing from the text are
 * added below their parent map's line, all in one expression (after an addition the pattern space
 * holds several lines and `$` no longer ends the parent's line).
 */
function sedExpressions(mismatches: Mismatch[]): string[] {
  const leaf = (m: Mismatch) => m.field.split('.').at(-1)!;
  const changed = mismatches.filter((m) => !m.absent).map((m) => `s|^\\( *${leaf(m)}:\\).*|\\1 ${sedEscape(String(m.want))}|`);
  const parents = [...new Set(mismatches.filter((m) => m.absent).map((m) => m.field.split('.').at(-2)!))];
  const added = parents.map((parent) => {
    const lines = mismatches.filter((m) => m.absent && m.field.split('.').at(-2) === parent).map((m) => `\\n\\1  ${leaf(m)}: ${sedEscape(String(m.want))}`);
    return `s|^\\( *\\)${parent}:$|&${lines.join('')}|`;
  });
  return [...changed, ...added];
}

function editCommand(configMap: string, mismatches: Mismatch[]): string {
  const sed = ['sed', ...sedExpressions(mismatches).flatMap((e) => ['-e', e])].map(shellQuote).join(' ');
  return `kubectl -n kube-system get configmap ${configMap} -o yaml | ${sed} | kubectl replace -f -`;
}

/** The commands that make the cluster ready for a rootless node, run with the cluster's admin kubeconfig. */
export function fixCommands(mismatches: Mismatch[]): string[] {
  const proxy = mismatches.filter((m) => m.configMap === 'kube-proxy');
  const etcd = mismatches.filter((m) => m.configMap === 'kubeadm-config');
  return [
    ...(proxy.length ? [editCommand('kube-proxy', proxy), 'kubectl -n kube-system rollout restart daemonset kube-proxy'] : []),
    ...(etcd.length ? [editCommand('kubeadm-config', etcd)] : []),
  ];
}

/** The refusal: what is wrong, why, and the commands. */
export function refusalText(endpoint: string, mismatches: Mismatch[]): string {
  const lines = [t('the cluster at {endpoint} is not ready for a rootless node:', { endpoint })];
  for (const m of mismatches) {
    lines.push(
      `  - ${t('ConfigMap kube-system/{configMap}: {field} is {have}, a rootless node needs {want}', {
        configMap: m.configMap,
        field: m.field,
        have: shownValue(m.have),
        want: JSON.stringify(m.want),
      })}`,
    );
  }
  if (mismatches.some((m) => m.configMap === 'kube-proxy'))
    lines.push(
      t(
        'Zero conntrack values make kube-proxy leave the nf_conntrack sysctls alone: they are host-global, and kube-proxy in a user namespace ' +
          'fails writing them (open /proc/sys/net/netfilter/nf_conntrack_max: permission denied). Rootful nodes then keep the host kernel settings.',
      ),
    );
  if (mismatches.some((m) => m.configMap === 'kubeadm-config'))
    lines.push(
      t('A rootless control plane keeps the data of its etcd member in {dir}; kubeadm join --control-plane takes the directory from the cluster.', {
        dir: String(mismatches.find((m) => m.configMap === 'kubeadm-config')!.want),
      }),
    );
  lines.push(t('Run on a control-plane node of the cluster, with its admin kubeconfig (KUBECONFIG=/etc/kubernetes/admin.conf), then join again:'));
  lines.push(...fixCommands(mismatches).map((command) => `  ${command}`));
  return lines.join('\n');
}

/** The requirements in the node's own documents (the plan's KubeProxyConfiguration and, for a control-plane join, ClusterConfiguration). */
export function requirementsOf(documents: Doc[], controlPlane: boolean): ClusterRequirements {
  const proxy = findKind(documents, 'KubeProxyConfiguration');
  const conntrack: Record<string, number | string> = {};
  for (const field of CONNTRACK_FIELDS) {
    const value = proxy ? getPath(proxy, `conntrack.${field}`) : undefined;
    if (typeof value === 'number' || typeof value === 'string') conntrack[field] = value;
  }
  const cluster = findKind(documents, 'ClusterConfiguration');
  const dataDir = cluster ? getPath(cluster, 'etcd.local.dataDir') : undefined;
  return { conntrack, ...(controlPlane ? { etcdDataDir: typeof dataDir === 'string' ? dataDir : KUBEADM_ETCD_DIR } : {}) };
}

/** The target of a join from its documents (the merged JoinConfiguration: flags and --config alike); `root` prefixes a discovery file. */
export function joinTargetOf(documents: Doc[], root: string): JoinTarget {
  const main = findKind(documents, 'JoinConfiguration');
  if (!main) throw new Error('unreachable: a join without a JoinConfiguration');
  const controlPlane = getPath(main, 'controlPlane') !== undefined;
  const required = requirementsOf(documents, controlPlane);
  const file = getPath(main, 'discovery.file.kubeConfigPath');
  if (typeof file === 'string') {
    const token = String(getPath(main, 'discovery.tlsBootstrapToken') ?? '');
    let cluster;
    try {
      cluster = kubeconfigCluster(readRegularFile(join(root, file), { maxBytes: MAX_ANSWER_BYTES }).toString('utf8'), join(root, file, '..'));
    } catch (error) {
      throw new CommandError(t('cannot check the cluster before joining: {file}: {reason}', { file, reason: (error as Error).message }));
    }
    return { endpoint: new URL(cluster.server).host, token, caCertHashes: [], unsafeSkipCaVerification: false, ca: cluster.ca, required };
  }
  const hashes = getPath(main, 'discovery.bootstrapToken.caCertHashes');
  return {
    endpoint: String(getPath(main, 'discovery.bootstrapToken.apiServerEndpoint') ?? ''),
    token: String(getPath(main, 'discovery.bootstrapToken.token') ?? ''),
    caCertHashes: Array.isArray(hashes) ? hashes.map(String) : [],
    unsafeSkipCaVerification: getPath(main, 'discovery.bootstrapToken.unsafeSkipCAVerification') === true,
    required,
  };
}

interface CheckOptions {
  timeoutMs?: number;
  maxBytes?: number;
  /**
   * How often cluster-info is asked again while it holds no signature for the token: the bootstrap
   * signer adds it a moment after `kubeadm token create` (kubeadm join waits for it too). Default 10, 3 s apart.
   */
  unsigned?: { attempts: number; delayMs: number };
}

/**
 * Asks the cluster of a join and refuses (CommandError: EXIT_CLUSTER_NOT_READY with the commands,
 * or 1 when the cluster cannot be asked or its CA is not the pinned one) unless a rootless node can
 * join it. Resolves to the settings it read when they are fine. Changes nothing.
 */
export async function checkJoinCluster(target: JoinTarget, options: CheckOptions = {}): Promise<{ kubeProxy: string; cluster?: string }> {
  const base = `https://${target.endpoint}`;
  const refuse = (reason: string) =>
    new CommandError(t('cannot check the cluster at {endpoint} before joining: {reason}', { endpoint: target.endpoint, reason }));
  /** The value of `key` in a ConfigMap of the API server, or the whole data of it (key undefined). */
  async function get(path: string, how: { ca?: string; bearer?: string }, key: string): Promise<string>;
  async function get(path: string, how: { ca?: string; bearer?: string }): Promise<Doc>;
  async function get(path: string, how: { ca?: string; bearer?: string }, key?: string): Promise<string | Doc> {
    const url = `${base}${path}`;
    let answer;
    try {
      answer = await httpGet(url, {
        timeoutMs: options.timeoutMs ?? TIMEOUT_MS,
        maxBytes: options.maxBytes ?? MAX_ANSWER_BYTES,
        accept: 'application/json',
        ...(how.ca ? { ca: how.ca, bearer: how.bearer } : { insecure: true }),
      });
    } catch (error) {
      throw refuse((error as Error).message);
    }
    if (answer.status !== 200) {
      const hint =
        answer.status === 401
          ? t('the token is not valid (expired?); make a new join command on a control-plane node: kubeadm token create --print-join-command')
          : '';
      throw new CommandError(
        t('cannot check the cluster at {endpoint} before joining: {url}: HTTP {status}', { endpoint: target.endpoint, url, status: answer.status }) +
          (hint ? `; ${hint}` : ''),
      );
    }
    try {
      const body = answer.body.toString('utf8');
      return key === undefined ? configMapData(body) : configMapValue(body, key);
    } catch (error) {
      throw new CommandError(
        t('cannot check the cluster at {endpoint} before joining: {url}: {reason}', { endpoint: target.endpoint, url, reason: (error as Error).message }),
      );
    }
  }

  let ca = target.ca;
  if (ca === undefined) {
    /** cluster-info and its CA, checked against the pins. */
    const clusterInfo = async (): Promise<{ info: Doc; ca: string }> => {
      const info = await get('/api/v1/namespaces/kube-public/configmaps/cluster-info', {});
      let served: string;
      let hashes: string[];
      try {
        if (typeof info.kubeconfig !== 'string') throw new Error(t('not a ConfigMap with the key {key}', { key: 'kubeconfig' }));
        served = kubeconfigCluster(info.kubeconfig).ca;
        hashes = caCertHashes(served);
        if (!hashes.length) throw new Error(t('no certificate'));
      } catch (error) {
        throw new CommandError(
          t('cannot check the cluster at {endpoint} before joining: the CA of kube-public/cluster-info: {reason}', {
            endpoint: target.endpoint,
            reason: (error as Error).message,
          }),
        );
      }
      const pinned = target.caCertHashes.map((hash) => hash.toLowerCase());
      if (!target.unsafeSkipCaVerification && !hashes.some((hash) => pinned.includes(hash)))
        throw new CommandError(
          t('the CA of the cluster at {endpoint} ({hash}) matches no --discovery-token-ca-cert-hash ({pinned}); not joining', {
            endpoint: target.endpoint,
            hash: hashes.join(', '),
            pinned: target.caCertHashes.join(', '),
          }),
        );
      return { info, ca: served };
    };
    const retry = options.unsigned ?? { attempts: 10, delayMs: 3000 };
    const signatureKey = `jws-kubeconfig-${target.token.split('.')[0]}`;
    let { info, ca: served } = await clusterInfo();
    for (let attempt = 1; attempt < retry.attempts && typeof info[signatureKey] !== 'string'; attempt++) {
      await sleep(retry.delayMs);
      ({ info, ca: served } = await clusterInfo());
    }
    ca = served;
    const unsigned = clusterInfoSignatureProblem(info, target.token);
    if (unsigned) throw refuse(unsigned);
  }
  const controlPlane = target.required.etcdDataDir !== undefined;
  const kubeProxy = await get('/api/v1/namespaces/kube-system/configmaps/kube-proxy', { ca, bearer: target.token }, 'config.conf');
  const cluster = controlPlane
    ? await get('/api/v1/namespaces/kube-system/configmaps/kubeadm-config', { ca, bearer: target.token }, 'ClusterConfiguration')
    : undefined;
  let mismatches: Mismatch[];
  try {
    mismatches = clusterMismatches(kubeProxy, cluster, target.required);
  } catch (error) {
    throw new CommandError(
      t('cannot check the cluster at {endpoint} before joining: {reason}', { endpoint: target.endpoint, reason: (error as Error).message }),
    );
  }
  if (mismatches.length) throw new CommandError(refusalText(target.endpoint, mismatches), EXIT_CLUSTER_NOT_READY);
  return { kubeProxy, ...(cluster !== undefined ? { cluster } : {}) };
}
