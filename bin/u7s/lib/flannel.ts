/**
 * The flannel manifest for a cluster: the installed manifest with its image placeholders
 * (registry.local/<platform>/...) replaced by the chosen registry, and net-conf.json's Network
 * set to the pod network (upstream left 10.244.0.0/16 whatever --pod-network-cidr said).
 */
import YAML from 'yaml';
import { MANIFEST_TEMPLATED_FIELDS, PLATFORM_PLACEHOLDER } from './kubeadm-fields.ts';
import { REGISTRY_HOST } from '../../lib/names.ts';
import { translator } from '../../lib/i18n.ts';
import { getPath, setPath, type Doc } from './kubeadm-documents.ts';

const t = translator('podsec-k8s');
const PLACEHOLDER_PREFIX = `${REGISTRY_HOST}/${PLATFORM_PLACEHOLDER}/`;

class ManifestError extends Error {
  readonly expected = true;
}

interface FlannelOptions {
  podCidr: string;
  /** Registry and path the flannel images come from, e.g. registry.local/p11 or docker.io/flannel. */
  repository: string;
  flannelTag?: string;
  cniPluginTag?: string;
}

export function renderFlannel(text: string, options: FlannelOptions): string {
  const docs = YAML.parseAllDocuments(text).map((d) => d.toJS() as Doc);
  const fields = MANIFEST_TEMPLATED_FIELDS['kube-flannel'];
  for (const [id, list] of Object.entries(fields)) {
    const doc = docs.find((d) => `${d.kind}/${(d.metadata as Doc | undefined)?.name}` === id);
    if (!doc) throw new ManifestError(t('the flannel manifest has no {id}', { id }));
    for (const field of list) {
      if (field.path === 'data[net-conf.json]') {
        const netConf = JSON.parse(String(getPath(doc, field.path))) as Record<string, unknown>;
        netConf.Network = options.podCidr;
        setPath(doc, field.path, JSON.stringify(netConf, null, 2) + '\n');
        continue;
      }
      const image = String(getPath(doc, field.path));
      if (!image.startsWith(PLACEHOLDER_PREFIX)) throw new ManifestError(t('{id} {path}: {image} is not a placeholder image', { id, path: field.path, image }));
      const [name, tag] = image.slice(PLACEHOLDER_PREFIX.length).split(':') as [string, string];
      const override = name === 'flannel-cni-plugin' ? options.cniPluginTag : options.flannelTag;
      setPath(doc, field.path, `${options.repository}/${name}:${override || tag}`);
    }
  }
  return docs.map((d) => new YAML.Document(d).toString({ indent: 2, lineWidth: 0 })).join('---\n');
}

/** The images a rendered manifest runs (containers and init containers of its pod templates), each once. */
export function manifestImages(text: string): string[] {
  const images = new Set<string>();
  for (const doc of YAML.parseAllDocuments(text).map((d) => d.toJS() as Doc | null)) {
    const pod = getPath(doc ?? {}, 'spec.template.spec') as Doc | undefined;
    for (const list of [pod?.initContainers, pod?.containers]) {
      for (const container of Array.isArray(list) ? (list as Doc[]) : []) if (typeof container.image === 'string') images.add(container.image);
    }
  }
  return [...images];
}
