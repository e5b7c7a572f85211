/**
 * The cluster's images through podsec's own supply chain, as an ALT admin runs it: an "upstream"
 * registry (docker-registry in the cluster's namespace, standing in for registry.altlinux.org)
 * holds the images built by `npm run k8s-tools`; on the master, podsec-create-policy,
 * podsec-create-services and podsec-create-imagemakeruser set up trust, podsec-k8s-save-oci writes
 * the archive from the upstream registry, and the image maker loads and signs it into
 * registry.local with podsec-load-sign-oci. Every other node adopts the master's policy from its
 * signed trust bundle. The cluster then pulls only these signed images.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registryConfig } from '../../bin/trust/services/service-configs.ts';
import { lingerUser, userRun } from '../../test/support/image-nspawn.ts';
import { sleep } from '../image/cache.ts';
import type { K8sTools } from '../k8s-tools/build.ts';
import { IMAGE_TAGS } from '../k8s-tools/versions.ts';
import { mustExec, netnsExec, nodeExec, startDaemon } from './machines.ts';
import type { ClusterState, NodeState, ServiceState } from './state.ts';

export const UPSTREAM_PORT = 5000;
/** The image maker of the cluster's images on the master. */
export const MAKER = 'k8s-maker';
/** Where the archive is written on the master (not /tmp: a node mounts a tmpfs there). */
const ARCHIVE_DIR = '/var/tmp/podsec-k8s-oci';
const ACCEPT_ANYTHING = JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] });

type Log = (line: string) => void;

/** `registry.k8s.io/coredns/coredns:v1.12.1` -> `coredns:v1.12.1`: the images' names under a platform path. */
export const baseName = (ref: string) => ref.slice(ref.lastIndexOf('/') + 1);

const upstreamDir = (state: ClusterState) => join(state.work, 'upstream');

/** The upstream registry, started (record it at once: `down` stops it by its PID). */
export function startUpstream(state: ClusterState): ServiceState {
  const address = `${state.gateway}:${UPSTREAM_PORT}`;
  const dir = upstreamDir(state);
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const config = join(dir, 'config.yml');
  writeFileSync(config, registryConfig({ addr: address, rootDirectory: join(dir, 'storage') }));
  return startDaemon(['docker-registry', 'serve', config], join(state.work, 'upstream.log'), address);
}

/** Every image of the k8s-tools cache into the upstream registry, under `<platform>/`. */
export async function fillUpstream(state: ClusterState, tools: K8sTools, log: Log): Promise<void> {
  const { address } = state.upstream!;
  const policy = join(upstreamDir(state), 'policy.json');
  writeFileSync(policy, ACCEPT_ANYTHING);
  await waitHttp(`http://${address}/v2/`, 30_000);
  for (const ref of Object.keys(tools.images.list).sort()) {
    const target = `docker://${address}/${state.platform}/${baseName(ref)}`;
    log(`cluster: upstream registry <- ${ref}`);
    const r = await netnsExec(
      ['skopeo', '--policy', policy, 'copy', '--quiet', '--dest-tls-verify=false', `oci:${tools.images.layout}:${ref}`, target],
      600_000,
    );
    if (r.exitCode !== 0) throw new Error(`skopeo copy ${ref} -> ${target}: ${r.stderr}`);
  }
}

async function waitHttp(url: string, timeoutMs: number): Promise<void> {
  let last = '';
  for (let waited = 0; waited < timeoutMs; waited += 200) {
    const r = await netnsExec(['curl', '-fsS', '-o', '/dev/null', '--max-time', '5', url]);
    if (r.exitCode === 0) return;
    last = r.stderr;
    await sleep(200);
  }
  throw new Error(`${url} did not answer within ${timeoutMs / 1000} s: ${last}`);
}

/** A node as image-nspawn's helpers see it. */
const asNode = (node: NodeState) => ({ name: node.name, exec: (argv: string[], opts?: { timeoutMs?: number }) => nodeExec(node, argv, opts) });

export interface MasterTrust {
  fingerprint: string;
  makerKey: string;
}

/** The master's trust, registry and signature server, and an image maker for the cluster's path. */
export async function setUpMaster(master: NodeState, platform: string, log: Log): Promise<MasterTrust> {
  log(`cluster: ${master.name}: podsec-create-policy, podsec-create-services, image maker ${MAKER}`);
  const policy = await mustExec(master, ['podsec-create-policy', master.address]);
  const fingerprint = /--trust-fingerprint ([0-9a-f]{64}) /.exec(policy)?.[1];
  if (!fingerprint) throw new Error(`podsec-create-policy printed no trust fingerprint:\n${policy}`);
  await mustExec(master, ['podsec-create-services']);
  const made = await mustExec(
    master,
    ['podsec-create-imagemakeruser', '--no-password', '--gpg-generate', '--no-key-passphrase', `${MAKER}@registry.local/${platform}`],
    { timeoutMs: 300_000 },
  );
  const makerKey = /GPG key ([0-9A-F]{40})/.exec(made)?.[1];
  if (!makerKey) throw new Error(`podsec-create-imagemakeruser printed no key:\n${made}`);
  return { fingerprint, makerKey };
}

/**
 * podsec-k8s-save-oci from the upstream registry on the master, then podsec-load-sign-oci as the
 * image maker: every image the cluster runs, signed, in registry.local/<platform>.
 */
export async function signClusterImages(master: NodeState, state: ClusterState, trust: MasterTrust, log: Log): Promise<void> {
  const upstream = `${state.gateway}:${UPSTREAM_PORT}`;
  // The upstream registry's images are taken as they are: the maker's signature is what the cluster checks.
  const sourcePolicy = `${ARCHIVE_DIR}-source-policy.json`;
  await mustExec(master, ['sh', '-c', 'cat > "$1"', 'sh', sourcePolicy], { input: ACCEPT_ANYTHING });
  log(`cluster: ${master.name}: podsec-k8s-save-oci from ${upstream}`);
  await mustExec(
    master,
    [
      'env',
      `U7S_KUBEVERSION=${state.kubernetesVersion}`,
      `U7S_FLANNEL_TAG=${IMAGE_TAGS.flannel}`,
      `U7S_FLANNELCNIPLUGIN_TAG=${IMAGE_TAGS.flannelCniPlugin}`,
      `U7S_PLATFORM=${state.platform}`,
      'podsec-k8s-save-oci',
      '--registry',
      upstream,
      '--no-tls-verify',
      '--signature-policy',
      sourcePolicy,
      ARCHIVE_DIR,
      'amd64',
      state.platform,
    ],
    { timeoutMs: 1_800_000 },
  );
  await mustExec(master, ['chmod', '-R', 'a+rX', ARCHIVE_DIR]);
  log(`cluster: ${master.name}: podsec-load-sign-oci as ${MAKER}`);
  const node = asNode(master);
  await lingerUser(node, MAKER);
  const loaded = await userRun(node, MAKER, ['podsec-load-sign-oci', `${ARCHIVE_DIR}/amd64.tar.xz`, 'amd64', trust.makerKey], {
    env: { U7S_PLATFORM: state.platform },
    timeoutMs: 1_800_000,
  });
  if (loaded.exitCode !== 0) throw new Error(`podsec-load-sign-oci: ${loaded.stderr}\n${loaded.stdout}`);
  await mustExec(master, ['rm', '-rf', '--', ARCHIVE_DIR, sourcePolicy]);
}

/** A node other than the master adopts the master's policy from its signed trust bundle. */
export async function adoptTrust(node: NodeState, master: NodeState, fingerprint: string): Promise<void> {
  await mustExec(node, ['podsec-create-policy', '--trust-fingerprint', fingerprint, master.address]);
}
