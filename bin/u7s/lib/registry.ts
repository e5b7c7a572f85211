/**
 * Where the cluster's images come from, and whether the tags kubeadm will ask for exist.
 *
 * Selection (upstream's setRegistryName, with explicit values honoured):
 *   U7S_REGISTRY set and empty   -> registry.k8s.io, no platform path
 *   U7S_REGISTRY set, non-empty  -> that registry (upstream ignored it)
 *   unset                        -> registry.local when /etc/hosts names it, else registry.altlinux.org
 * and the image path is <registry>/<platform> (k8s-c10f* -> c10f).
 *
 * Tags are listed with the registry API (GET /v2/<name>/tags/list): plain HTTP for
 * registry.local, HTTPS with certificate verification for every other registry (upstream used
 * curl -k). Versions are compared as numbers.
 */
import type { RequestOptions } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bindingsOf, HOSTS_FILE, parseHosts } from '../../lib/hosts.ts';
import { httpGet } from '../../lib/http.ts';
import { translator } from '../../lib/i18n.ts';
import { REGISTRY_HOST } from '../../lib/names.ts';
import { imageRepository, kubeVersion, platformName, ValueError, type KubeVersion, compareVersions } from './values.ts';

const t = translator('podsec-k8s');

export const ALT_REGISTRY = 'registry.altlinux.org';
export const UPSTREAM_REGISTRY = 'registry.k8s.io';

export interface RegistryChoice {
  registry: string;
  platform: string;
  /** registry + '/' + platform, or the registry alone. */
  repository: string;
  /** Where flannel's images come from (docker.io/flannel for registry.k8s.io). */
  flannelRepository: string;
}

/** Does /etc/hosts (under root) give an address to registry.local? (Read as it is, a link followed: it is only read.) */
export function hostsNameRegistryLocal(root: string): boolean {
  let text = '';
  try {
    text = readFileSync(join(root, HOSTS_FILE), 'utf8');
  } catch {
    return false;
  }
  return bindingsOf(parseHosts(text), REGISTRY_HOST).length > 0;
}

export function normalizePlatform(platform: string): string {
  return platform.startsWith('k8s-c10f') ? 'c10f' : platform;
}

export function chooseRegistry(env: NodeJS.ProcessEnv, platform: string, root: string): RegistryChoice {
  const explicit = env.U7S_REGISTRY;
  if (explicit === '') return { registry: UPSTREAM_REGISTRY, platform: '', repository: UPSTREAM_REGISTRY, flannelRepository: 'docker.io/flannel' };
  const registry = explicit !== undefined ? imageRepository(explicit, 'U7S_REGISTRY') : hostsNameRegistryLocal(root) ? REGISTRY_HOST : ALT_REGISTRY;
  const path = normalizePlatform(platformName(platform, 'U7S_PLATFORM'));
  const repository = path ? `${registry}/${path}` : registry;
  return { registry, platform: path, repository, flannelRepository: repository };
}

/** registry.local (any port) speaks plain HTTP; everything else HTTPS with verification. */
export const registryScheme = (registry: string) => (registry.split('/')[0]!.split(':')[0] === REGISTRY_HOST ? 'http' : 'https');

export interface ImageRef {
  registryHost: string;
  name: string;
  tag: string;
}

export function parseImage(ref: string): ImageRef {
  const at = ref.lastIndexOf(':');
  const slash = ref.indexOf('/');
  if (at < 0 || slash < 0 || at < ref.lastIndexOf('/')) throw new ValueError(t('{image} is not registry/name:tag', { image: ref }));
  return { registryHost: ref.slice(0, slash), name: ref.slice(slash + 1, at), tag: ref.slice(at + 1) };
}

export type Fetch = (url: string) => Promise<{ status: number; body: string }>;

export interface FetchOptions {
  /** Extra CA certificates (tests), in addition to the system's. */
  ca?: string | Buffer;
  /** Resolve host names differently (tests: registry.local -> 127.0.0.1). */
  lookup?: RequestOptions['lookup'];
  timeoutMs?: number;
}

export function httpFetch(options: FetchOptions = {}): Fetch {
  return async (url) => {
    const { status, body } = await httpGet(url, {
      timeoutMs: options.timeoutMs ?? 20_000,
      maxBytes: 4_000_000,
      accept: 'application/json',
      ca: options.ca,
      lookup: options.lookup,
    });
    return { status, body: body.toString('utf8') };
  };
}

export async function listTags(fetch: Fetch, image: ImageRef): Promise<string[]> {
  const url = `${registryScheme(image.registryHost)}://${image.registryHost}/v2/${image.name}/tags/list`;
  let answer;
  try {
    answer = await fetch(url);
  } catch (error) {
    throw new ValueError(t('cannot list the tags of {image}: {reason}', { image: `${image.registryHost}/${image.name}`, reason: (error as Error).message }));
  }
  if (answer.status === 404) return [];
  if (answer.status !== 200)
    throw new ValueError(t('cannot list the tags of {image}: HTTP {status}', { image: `${image.registryHost}/${image.name}`, status: answer.status }));
  let tags: unknown;
  try {
    tags = (JSON.parse(answer.body) as { tags?: unknown }).tags;
  } catch {
    tags = undefined;
  }
  if (tags === null) return [];
  if (!Array.isArray(tags) || tags.some((tag) => typeof tag !== 'string')) throw new ValueError(t('{url}: not a tag list', { url }));
  return (tags as string[]).filter((tag) => tag !== 'latest');
}

/** A tag's version parts for numeric ordering (v1.26.10 > v1.26.9, 3.10 > 3.9, 3.5.12-0 > 3.5.9-0). */
export function tagParts(tag: string): number[] {
  return (tag.match(/\d+/g) ?? []).map(Number);
}

export function compareTags(a: string, b: string): number {
  const pa = tagParts(a);
  const pb = tagParts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? -1) - (pb[i] ?? -1);
    if (d) return d;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

export const newestTag = (tags: string[], prefix = '') =>
  tags
    .filter((tag) => tag.startsWith(prefix))
    .sort(compareTags)
    .at(-1);

/** Newest released Kubernetes patch of a minor among tags (v1.26.x, no pre-releases). */
export function newestPatch(tags: string[], minor: KubeVersion): string | undefined {
  const versions = tags.filter((tag) => /^v\d+\.\d+\.\d+$/.test(tag)).map((tag) => kubeVersion(tag, 'tag'));
  return versions
    .filter((v) => v.major === minor.major && v.minor === minor.minor)
    .sort(compareVersions)
    .at(-1)?.text;
}

export interface ImageCheck {
  /** Images whose tag exists. */
  present: string[];
  /** Images whose tag is missing, with the newest available tag (for kube-* within the minor). */
  missing: { image: string; newest?: string }[];
}

export async function checkImages(fetch: Fetch, images: string[], version: KubeVersion): Promise<ImageCheck> {
  const result: ImageCheck = { present: [], missing: [] };
  for (const image of images) {
    const ref = parseImage(image);
    const tags = await listTags(fetch, ref);
    if (tags.includes(ref.tag)) result.present.push(image);
    else {
      const base = ref.name.split('/').at(-1)!;
      const newest = base.startsWith('kube-') ? newestPatch(tags, version) : newestTag(tags);
      result.missing.push({ image, newest });
    }
  }
  return result;
}
