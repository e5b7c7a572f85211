/**
 * Kubeconfig documents: reading the cluster of the administrator's current context (from
 * `kubectl config view --raw --minify --flatten -o json`) and writing a user's own kubeconfig with
 * the certificate, key and cluster CA embedded. Serialized by `yaml`, never by string pasting.
 */
import YAML from 'yaml';
import type { KubeObject } from './kubectl.ts';

interface ClusterInfo {
  name: string;
  server: string;
  /** Base64 PEM of the cluster CA, when the admin's kubeconfig has one. */
  certificateAuthorityData?: string;
  tlsServerName?: string;
}

/** The cluster of the current context of a minified, flattened kubeconfig. */
export function currentCluster(config: KubeObject): ClusterInfo | undefined {
  const clusters = Array.isArray(config.clusters) ? config.clusters : [];
  const contexts = Array.isArray(config.contexts) ? config.contexts : [];
  const context = contexts.find((c: KubeObject) => c?.name === config['current-context']) ?? contexts[0];
  const entry = clusters.find((c: KubeObject) => c?.name === context?.context?.cluster) ?? clusters[0];
  const cluster = entry?.cluster;
  if (!entry || typeof entry.name !== 'string' || typeof cluster?.server !== 'string' || cluster.server === '') return undefined;
  return {
    name: entry.name,
    server: cluster.server,
    ...(typeof cluster['certificate-authority-data'] === 'string' ? { certificateAuthorityData: cluster['certificate-authority-data'] } : {}),
    ...(typeof cluster['tls-server-name'] === 'string' ? { tlsServerName: cluster['tls-server-name'] } : {}),
  };
}

/** The host of an API server URL, brackets removed from IPv6 literals (upstream returned "[fd00"). */
export function serverHost(server: string): string | undefined {
  try {
    const host = new URL(server).hostname;
    return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host || undefined;
  } catch {
    return undefined;
  }
}

interface UserKubeconfig {
  cluster: ClusterInfo;
  user: string;
  certificatePem: string;
  keyPem: string;
  /** The context name; upstream's is "default". */
  context?: string;
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

export function userKubeconfig(input: UserKubeconfig): string {
  const context = input.context ?? 'default';
  const document = {
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [
      {
        name: input.cluster.name,
        cluster: {
          server: input.cluster.server,
          ...(input.cluster.certificateAuthorityData ? { 'certificate-authority-data': input.cluster.certificateAuthorityData } : {}),
          ...(input.cluster.tlsServerName ? { 'tls-server-name': input.cluster.tlsServerName } : {}),
        },
      },
    ],
    users: [{ name: input.user, user: { 'client-certificate-data': b64(input.certificatePem), 'client-key-data': b64(input.keyPem) } }],
    contexts: [{ name: context, context: { cluster: input.cluster.name, user: input.user } }],
    'current-context': context,
  };
  return YAML.stringify(document, { indent: 2, lineWidth: 0 });
}
