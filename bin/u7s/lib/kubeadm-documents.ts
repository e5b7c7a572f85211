/**
 * The kubeadm configuration of one init or join: the installed documents
 * (/etc/podsec/u7s/config/kubeadm-configs, which admins may tune) with the fields of
 * KUBEADM_TEMPLATED_FIELDS filled in, brought to the kubeadm API the node's kubeadm reads
 * (v1beta3 before 1.31, v1beta4 from 1.31 on: 1.37 no longer reads v1beta3), then the documents of
 * --config, brought to the same API, merged over them. Documents are parsed and written with
 * `yaml`: a value is always a scalar of the document, never text spliced into it (upstream
 * concatenated jq expressions).
 */
import { join } from 'node:path';
import YAML from 'yaml';
import { KUBEADM_TEMPLATED_FIELDS, pathSegments } from './kubeadm-fields.ts';
import { translator } from '../../lib/i18n.ts';
import { readRegularFile } from '../../lib/safe-fs.ts';
import { deepMerge } from './kubelet-config.ts';
import { U7S_KUBEADM_CONFIG_DIR } from './paths.ts';

const t = translator('podsec-k8s');

class DocumentError extends Error {
  readonly expected = true;
}

export type Doc = Record<string, unknown>;
export type TemplateKind = keyof typeof KUBEADM_TEMPLATED_FIELDS;

/** Installed file of each template, per command (JoinClusterConfiguration.yaml links to the init one). */
const FILES: Record<'init' | 'join', Record<string, string>> = {
  init: { ClusterConfiguration: 'InitClusterConfiguration.yaml' },
  join: { ClusterConfiguration: 'JoinClusterConfiguration.yaml' },
};

/** The document a kind is, in the kubeadm sense (the control-plane join document is a JoinConfiguration). */
const KIND_OF: Record<TemplateKind, string> = {
  InitConfiguration: 'InitConfiguration',
  ClusterConfiguration: 'ClusterConfiguration',
  JoinConfiguration: 'JoinConfiguration',
  JoinControlPlaneConfiguration: 'JoinConfiguration',
  KubeletConfiguration: 'KubeletConfiguration',
  KubeProxyConfiguration: 'KubeProxyConfiguration',
};

const isMap = (value: unknown): value is Doc => typeof value === 'object' && value !== null && !Array.isArray(value);

export function readTemplate(root: string, command: 'init' | 'join', kind: TemplateKind): Doc {
  const file = join(root, U7S_KUBEADM_CONFIG_DIR, FILES[command][kind] ?? `${kind}.yaml`);
  let text: string;
  try {
    text = readRegularFile(file, { maxBytes: 1 << 20 }).toString('utf8');
  } catch (error) {
    // JoinClusterConfiguration.yaml is a packaged symlink: read it through the link (root-owned, in a root-owned directory).
    if (command === 'join' && kind === 'ClusterConfiguration') return readTemplate(root, 'init', kind);
    throw new DocumentError(t('cannot read the kubeadm template {file}: {reason}', { file, reason: (error as Error).message }));
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (error) {
    throw new DocumentError(t('{file}: {reason}', { file, reason: (error as Error).message }));
  }
  if (!isMap(doc) || doc.kind !== KIND_OF[kind]) throw new DocumentError(t('{file}: not a {kind} document', { file, kind: KIND_OF[kind] }));
  return doc;
}

type Node = Doc | unknown[];
const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null;
/** v1beta4's flag lists ([{name, value}]) are addressed by flag name, as v1beta3's flag maps are. */
const isFlagName = (node: Node, segment: string | number): node is unknown[] => Array.isArray(node) && typeof segment === 'string' && !/^\d+$/.test(segment);
const named = (list: unknown[], name: string | number) => list.filter((item): item is Doc => isMap(item) && item.name === name);
const child = (node: Node, segment: string | number): unknown =>
  isFlagName(node, segment) ? named(node, segment)[0]?.value : Array.isArray(node) ? node[Number(segment)] : node[String(segment)];

/** Sets a path (kubeadm-fields syntax: dots, [n] for list items, a flag name in a v1beta4 flag list); undefined removes it. */
export function setPath(doc: Doc, path: string, value: unknown): void {
  const segments = pathSegments(path);
  let node: Node = doc;
  for (const segment of segments.slice(0, -1)) {
    let next = child(node, segment);
    if (!isNode(next)) {
      if (value === undefined) return;
      if (Array.isArray(node)) throw new Error(`internal: ${path}: no list item ${segment}`);
      next = node[String(segment)] = {};
    }
    node = next as Node;
  }
  const last = segments.at(-1)!;
  if (isFlagName(node, last)) {
    const [first, ...duplicates] = named(node, last);
    for (const item of value === undefined ? named(node, last) : duplicates) node.splice(node.indexOf(item), 1);
    if (value !== undefined && first) first.value = value;
    else if (value !== undefined) node.push({ name: last, value });
  } else if (Array.isArray(node)) {
    if (value === undefined) throw new Error(`internal: ${path}: list items are not removed`);
    node[Number(last)] = value;
  } else if (value === undefined) delete node[String(last)];
  else node[String(last)] = value;
}

export function getPath(doc: Doc, path: string): unknown {
  let node: unknown = doc;
  for (const segment of pathSegments(path)) {
    if (!isNode(node)) return undefined;
    node = child(node, segment);
  }
  return node;
}

/**
 * Fills a template. `values` must name every templated field of the kind (a field the wrapper
 * forgot would silently keep the packaged placeholder); it may name more.
 */
export function fillTemplate(kind: TemplateKind, template: Doc, values: Record<string, unknown>): Doc {
  const doc = structuredClone(template);
  for (const field of KUBEADM_TEMPLATED_FIELDS[kind]) {
    if (!(field.path in values)) throw new Error(`internal: no value for ${kind} ${field.path}`);
  }
  for (const [path, value] of Object.entries(values)) setPath(doc, path, value);
  return doc;
}

const KUBEADM_V1BETA3 = 'kubeadm.k8s.io/v1beta3';
export const KUBEADM_V1BETA4 = 'kubeadm.k8s.io/v1beta4';
export type KubeadmApi = typeof KUBEADM_V1BETA3 | typeof KUBEADM_V1BETA4;
/** kubeadm reads v1beta4 from 1.31 on (and no longer reads v1beta3 from 1.37 on). */
const V1BETA4_SINCE_MINOR = 31;
export const kubeadmApiFor = (minor: number): KubeadmApi => (minor >= V1BETA4_SINCE_MINOR ? KUBEADM_V1BETA4 : KUBEADM_V1BETA3);

/** The kubeadm document that carries `timeouts` in v1beta4: the init document, or the join document. */
type MainKind = 'InitConfiguration' | 'JoinConfiguration';

/** Flag maps of v1beta3 that are lists of {name, value} in v1beta4, per kind. */
const FLAG_FIELDS: Record<string, string[]> = {
  ClusterConfiguration: ['apiServer.extraArgs', 'controllerManager.extraArgs', 'scheduler.extraArgs', 'etcd.local.extraArgs'],
  InitConfiguration: ['nodeRegistration.kubeletExtraArgs'],
  JoinConfiguration: ['nodeRegistration.kubeletExtraArgs'],
};

const isKubeadmDoc = (doc: Doc) => typeof doc.apiVersion === 'string' && doc.apiVersion.startsWith('kubeadm.k8s.io/');

/** A v1beta3 flag map as a v1beta4 list, in the map's order. */
const flagList = (flags: unknown) => (isMap(flags) ? Object.entries(flags).map(([name, value]) => ({ name, value })) : flags);

/**
 * The documents in the kubeadm API `api` (`reader` is the kubeadm that reads them, for the message).
 * v1beta3 documents become v1beta4 as kubeadm's own conversion makes them: flag maps become lists
 * of {name, value}; ClusterConfiguration's apiServer.timeoutForControlPlane becomes
 * `timeouts.controlPlaneComponentHealthCheck` and JoinConfiguration's discovery.timeout
 * `timeouts.discovery` of the `main` document (added when the set has none, as a partial
 * document to merge). Any other kubeadm API version than `api` is refused; other documents (kubelet,
 * kube-proxy) and documents without apiVersion are taken as they are.
 */
export function toKubeadmApi(docs: Doc[], api: KubeadmApi, main: MainKind, reader: string, source: string): Doc[] {
  const out = docs.map((d) => structuredClone(d));
  const timeouts: Doc = {};
  for (const doc of out.filter(isKubeadmDoc)) {
    if (doc.apiVersion === api) continue;
    if (doc.apiVersion !== KUBEADM_V1BETA3 || api !== KUBEADM_V1BETA4) {
      throw new DocumentError(
        t('{file}: {kind} is {have}, which kubeadm {version} does not read: write it as {want}', {
          file: source,
          kind: String(doc.kind),
          have: String(doc.apiVersion),
          version: reader,
          want: api,
        }),
      );
    }
    doc.apiVersion = api;
    for (const path of FLAG_FIELDS[String(doc.kind)] ?? []) {
      const flags = getPath(doc, path);
      if (flags !== undefined) setPath(doc, path, flagList(flags));
    }
    const moved = doc.kind === 'ClusterConfiguration' ? 'apiServer.timeoutForControlPlane' : doc.kind === 'JoinConfiguration' ? 'discovery.timeout' : undefined;
    const timeout = moved ? getPath(doc, moved) : undefined;
    if (moved && timeout !== undefined) {
      timeouts[doc.kind === 'ClusterConfiguration' ? 'controlPlaneComponentHealthCheck' : 'discovery'] = timeout;
      setPath(doc, moved, undefined);
    }
  }
  if (Object.keys(timeouts).length) {
    let target = findKind(out, main);
    if (!target) out.push((target = { apiVersion: api, kind: main }));
    // A timeout the v1beta4 document sets itself wins over the moved one.
    target.timeouts = { ...timeouts, ...(isMap(target.timeouts) ? target.timeouts : {}) };
  }
  return out;
}

/** v1beta4 flag lists merge by flag name: theirs replace ours of the same name (duplicates they give are kept). */
function mergeFlagLists(ours: Doc, theirs: Doc): Doc {
  const merged = structuredClone(theirs);
  for (const path of FLAG_FIELDS[String(theirs.kind)] ?? []) {
    const [base, over] = [getPath(ours, path), getPath(theirs, path)];
    if (!Array.isArray(base) || !Array.isArray(over)) continue;
    const names = new Set(over.map((item) => (isMap(item) ? item.name : undefined)));
    setPath(merged, path, [...base.filter((item) => !isMap(item) || !names.has(item.name)), ...over]);
  }
  return merged;
}

/**
 * Merges the documents of --config over ours (already in `api`), by kind, after bringing theirs
 * to `api` too (toKubeadmApi). A kind we do not generate is refused, and so is a change of the
 * CRI socket (the node has one runtime).
 */
export function mergeUserDocuments(ours: Doc[], text: string, file: string, api: KubeadmApi, main: MainKind, reader: string): Doc[] {
  let parsed: unknown[];
  try {
    parsed = YAML.parseAllDocuments(text).map((d) => {
      if (d.errors.length) throw d.errors[0];
      return d.toJS() as unknown;
    });
  } catch (error) {
    throw new DocumentError(t('{file}: {reason}', { file, reason: (error as Error).message }));
  }
  const theirs = parsed.filter((d) => d !== null);
  for (const doc of theirs) {
    if (!isMap(doc) || typeof doc.kind !== 'string') throw new DocumentError(t('{file}: every document needs a kind', { file }));
  }
  const merged = ours.map((d) => structuredClone(d));
  for (const doc of toKubeadmApi(theirs as Doc[], api, main, reader, file)) {
    const index = merged.findIndex((d) => d.kind === doc.kind);
    if (index < 0) throw new DocumentError(t('{file}: a {kind} document does not belong to this kubeadm command', { file, kind: String(doc.kind) }));
    if (getPath(doc, 'nodeRegistration.criSocket') !== undefined) {
      throw new DocumentError(t('{file}: nodeRegistration.criSocket cannot be changed: the node uses CRI-O in its namespace', { file }));
    }
    merged[index] = deepMerge(merged[index]!, mergeFlagLists(merged[index]!, doc));
  }
  return merged;
}

export function documentsText(docs: Doc[], header: string[]): string {
  const body = docs.map((d) => new YAML.Document(d).toString({ indent: 2, lineWidth: 0 })).join('---\n');
  return header.map((h) => `# ${h}\n`).join('') + body;
}

export const findKind = (docs: Doc[], kind: string) => docs.find((d) => d.kind === kind);
