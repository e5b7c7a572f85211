/**
 * Image names in podsec's OCI archives (as upstream's podsec-save-oci writes them):
 * `<platform>/<path...>:<tag>`, never with a registry host, and where load-sign-oci puts them:
 * registry.local/<platform>/...
 * Checked against distribution's reference grammar before anything is pushed or signed.
 */
import { translator } from '../../lib/i18n.ts';
import { REGISTRY_HOST } from '../../lib/names.ts';
import { PLATFORM_NAME } from '../../lib/platform.ts';

/** The architectures upstream allows everywhere (skopeo --override-arch values). */
export const ARCHITECTURES = ['amd64', 'arm64', 'arm', 'ppc64le', '386'] as const;
type Architecture = (typeof ARCHITECTURES)[number];

export const isArchitecture = (value: string): value is Architecture => (ARCHITECTURES as readonly string[]).includes(value);

/** A path component of a repository (distribution's reference grammar). */
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const MAX_NAME = 255;

export interface ImageName {
  /** Repository path components; the first is the platform prefix. */
  path: string[];
  tag: string;
}

export const formatName = (name: ImageName) => `${name.path.join('/')}:${name.tag}`;

const t = translator('podsec');

export class ImageNameError extends Error {}

/** Parses `<platform>/<path>:<tag>`; refuses a registry host, `..`, a missing tag or prefix, and anything off the grammar. */
export function parseImageName(text: string): ImageName {
  if (text.length === 0) throw new ImageNameError(t('the name is empty'));
  if (text.length > MAX_NAME) throw new ImageNameError(t('longer than {max} characters', { max: MAX_NAME }));
  if (text.includes('@')) throw new ImageNameError(t('a digest reference is not an image name with a tag'));
  const colon = text.lastIndexOf(':');
  const slash = text.lastIndexOf('/');
  if (colon < 0 || colon < slash) throw new ImageNameError(t('it has no tag'));
  const repository = text.slice(0, colon);
  const tag = text.slice(colon + 1);
  const path = repository.split('/');
  const first = path[0]!;
  for (const component of path) {
    if (component === '') throw new ImageNameError(t('it has an empty path component'));
    if (component === '.' || component === '..') throw new ImageNameError(t('it has a "{component}" component', { component }));
  }
  if (path.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    throw new ImageNameError(t('it names the registry host {host}; archive names carry no host', { host: first }));
  }
  for (const component of path) {
    if (!COMPONENT.test(component))
      throw new ImageNameError(t('the component {component} is not a valid repository name', { component: JSON.stringify(component) }));
  }
  if (!TAG.test(tag)) throw new ImageNameError(t('the tag {tag} is not valid', { tag: JSON.stringify(tag) }));
  if (path.length < 2) throw new ImageNameError(t('it has no platform prefix (<platform>/<name>:<tag>)'));
  if (!PLATFORM_NAME.test(first)) throw new ImageNameError(t('the prefix {prefix} is not a platform name', { prefix: JSON.stringify(first) }));
  return { path, tag };
}

/** A destination `registry.local/<path>` (load-sign-oci's optional 4th argument): its path components. */
export function parseDestination(text: string): string[] | { problem: 'no-path' | 'host' | 'path' } {
  const slash = text.indexOf('/');
  if (slash < 0) return { problem: 'no-path' };
  const host = text.slice(0, slash);
  if (host !== REGISTRY_HOST) return { problem: 'host' };
  const path = text.slice(slash + 1).split('/');
  if (path.some((c) => !COMPONENT.test(c))) return { problem: 'path' };
  return path;
}

/**
 * An image in registry.local with its tag (`registry.local/<path>[:<tag>]`, tag `latest` when
 * none is given, as podman push does): its path components and tag.
 */
export function parseRegistryImage(text: string): ImageName | { problem: 'no-path' | 'host' | 'path' | 'tag' | 'digest' } {
  if (text.includes('@')) return { problem: 'digest' };
  if (text.length > REGISTRY_HOST.length + 1 + MAX_NAME) return { problem: 'path' };
  const colon = text.lastIndexOf(':');
  const hasTag = colon > text.lastIndexOf('/');
  const path = parseDestination(hasTag ? text.slice(0, colon) : text);
  if (!Array.isArray(path)) return path;
  const tag = hasTag ? text.slice(colon + 1) : 'latest';
  if (!TAG.test(tag)) return { problem: 'tag' };
  return { path, tag };
}

/** Where load-sign-oci pushes an archive image: the destination prefix replaces the archive's platform prefix. */
export function destinationOf(name: ImageName, prefix: string[]): string {
  return `${REGISTRY_HOST}/${[...prefix, ...name.path.slice(1)].join('/')}:${name.tag}`;
}
