/**
 * admin.conf is written by kubeadm running as u7s-admin, so root treats it as untrusted input
 * before giving it to root's kubectl: a kubeconfig can name programs to run (users[].user.exec,
 * auth-provider) and files to read. Only inline certificates, keys and tokens are accepted.
 */
import YAML from 'yaml';
import { translator } from '../../lib/i18n.ts';

const t = translator('podsec-k8s');

class KubeconfigError extends Error {
  readonly expected = true;
}

const ALLOWED = {
  top: ['apiVersion', 'kind', 'clusters', 'contexts', 'users', 'current-context', 'preferences'],
  cluster: ['server', 'certificate-authority-data', 'tls-server-name'],
  context: ['cluster', 'user', 'namespace'],
  user: ['client-certificate-data', 'client-key-data', 'token'],
};

type Doc = Record<string, unknown>;
const isMap = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

function only(where: string, value: unknown, keys: string[], strings = false): Doc {
  if (!isMap(value)) throw new KubeconfigError(t('{where} is not a mapping', { where }));
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) throw new KubeconfigError(t('{where} has {key}, which root does not accept from a file u7s-admin wrote', { where, key }));
    if (strings && typeof value[key] !== 'string') throw new KubeconfigError(t('{where}.{key} is not a string', { where, key }));
  }
  return value;
}

function named(where: string, list: unknown, inner: string, keys: string[]): void {
  if (!Array.isArray(list)) throw new KubeconfigError(t('{where} is not a list', { where }));
  list.forEach((item, i) => {
    only(`${where}[${i}]`, item, ['name', inner]);
    if (typeof (item as Doc).name !== 'string') throw new KubeconfigError(t('{where}.name is not a string', { where: `${where}[${i}]` }));
    only(`${where}[${i}].${inner}`, (item as Doc)[inner], keys, true);
  });
}

/** The kubeconfig text re-serialized from its accepted parts; throws on anything else. */
export function checkedKubeconfig(text: string): string {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (error) {
    throw new KubeconfigError((error as Error).message);
  }
  const top = only('kubeconfig', doc, ALLOWED.top);
  if (top.kind !== 'Config') throw new KubeconfigError(t('kind is not Config'));
  if (top['current-context'] !== undefined && typeof top['current-context'] !== 'string') throw new KubeconfigError(t('current-context is not a string'));
  if (top.preferences !== undefined && !(isMap(top.preferences) && Object.keys(top.preferences).length === 0)) {
    throw new KubeconfigError(t('kubeconfig has preferences, which root does not accept from a file u7s-admin wrote'));
  }
  named('clusters', top.clusters, 'cluster', ALLOWED.cluster);
  named('contexts', top.contexts, 'context', ALLOWED.context);
  named('users', top.users, 'user', ALLOWED.user);
  return YAML.stringify(top, { indent: 2, lineWidth: 0 });
}
