/**
 * The kubeadm configuration of one init or join: the installed documents
 * (/etc/podsec/u7s/config/kubeadm-configs, which admins may tune) with the fields of
 * KUBEADM_TEMPLATED_FIELDS filled in, then the documents of --config merged over them. Documents
 * are parsed and written with `yaml`: a value is always a scalar of the document, never text
 * spliced into it (upstream concatenated jq expressions).
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

/** Sets a dotted path (kubeadm-fields syntax); undefined removes it. */
type Node = Doc | unknown[];
const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null;
const child = (node: Node, segment: string | number): unknown => (Array.isArray(node) ? node[Number(segment)] : node[String(segment)]);

/** Sets a path (kubeadm-fields syntax: dots, [n] for list items); undefined removes it. */
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
  if (Array.isArray(node)) {
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

/**
 * Merges the documents of --config over ours, by kind. A kind we do not generate is refused, and
 * so is a change of the CRI socket (the node has one runtime).
 */
export function mergeUserDocuments(ours: Doc[], text: string, file: string): Doc[] {
  let theirs: unknown[];
  try {
    theirs = YAML.parseAllDocuments(text).map((d) => {
      if (d.errors.length) throw d.errors[0];
      return d.toJS() as unknown;
    });
  } catch (error) {
    throw new DocumentError(t('{file}: {reason}', { file, reason: (error as Error).message }));
  }
  const merged = ours.map((d) => structuredClone(d));
  for (const doc of theirs.filter((d) => d !== null)) {
    if (!isMap(doc) || typeof doc.kind !== 'string') throw new DocumentError(t('{file}: every document needs a kind', { file }));
    const index = merged.findIndex((d) => d.kind === doc.kind);
    if (index < 0) throw new DocumentError(t('{file}: a {kind} document does not belong to this kubeadm command', { file, kind: doc.kind }));
    if (getPath(doc, 'nodeRegistration.criSocket') !== undefined) {
      throw new DocumentError(t('{file}: nodeRegistration.criSocket cannot be changed: the node uses CRI-O in its namespace', { file }));
    }
    merged[index] = deepMerge(merged[index]!, doc);
  }
  return merged;
}

export function documentsText(docs: Doc[], header: string[]): string {
  const body = docs.map((d) => new YAML.Document(d).toString({ indent: 2, lineWidth: 0 })).join('---\n');
  return header.map((h) => `# ${h}\n`).join('') + body;
}

export const findKind = (docs: Doc[], kind: string) => docs.find((d) => d.kind === kind);
