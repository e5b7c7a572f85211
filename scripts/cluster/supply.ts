/**
 * The cluster's images through podsec's own supply chain, as an ALT admin runs it: an "upstream"
 * registry (docker-registry in the cluster's namespace, standing in for registry.altlinux.org)
 * holds the images built by `npm run k8s-tools`; on the master, podsec-create-policy,
 * podsec-create-services and podsec-create-imagemakeruser set up trust, podsec-k8s-save-oci writes
 * the archive from the upstream registry, and the image maker loads and signs it into
 * registry.local with podsec-load-sign-oci. Every other node adopts the master's policy from its
 * signed trust bundle. The cluster then pulls only these signed images.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { registryConfig } from '../../bin/trust/services/service-configs.ts';
import { lingerUser, userRun } from '../../test/support/image-nspawn.ts';
import type { RunResult } from '../../test/support/rootfs.ts';
import { pruneEntries, sleep } from '../image/cache.ts';
import type { K8sTools } from '../k8s-tools/build.ts';
import { IMAGE_TAGS } from '../k8s-tools/versions.ts';
import { DEFAULT_BRANCH, resolvePath } from '../model/branches.ts';
import model from '../model/index.ts';
import { programPaths } from '../model/program-modules.ts';
import { mustExec, netnsExec, nodeExec, startDaemon } from './machines.ts';
import type { ClusterState, NodeState, ServiceState } from './state.ts';

const UPSTREAM_PORT = 5000;
/** The image maker of the cluster's images on the master. */
export const MAKER = 'k8s-maker';
/** Where the archive is written on the master (not /tmp: a node mounts a tmpfs there). */
const ARCHIVE_DIR = '/var/tmp/podsec-k8s-oci';
/** The archives of earlier runs (a few hundred MB each; the newest few are kept). */
const ARCHIVE_CACHE = '/var/cache/podsec/cluster-archives';
/**
 * xz's level for the archives a test cluster makes: they go from the host to a node on the same
 * disk, so speed counts, not size. Level 1 packs the 500 MB of a release's images in under a minute;
 * the default 9 takes 5 to 10 on two cores.
 */
export const CLUSTER_ARCHIVE_LEVEL = 1;
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

/** Every image of a k8s-tools cache entry (the set, or the upgrade target) into the upstream registry, under `<platform>/`. */
export async function fillUpstream(state: ClusterState, tools: Pick<K8sTools, 'images'>, log: Log): Promise<void> {
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
export const nodeRunner = (node: NodeState) => ({ name: node.name, exec: (argv: string[], opts?: { timeoutMs?: number }) => nodeExec(node, argv, opts) });

interface MasterTrust {
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

/** The images of one Kubernetes version: the k8s-tools entry they were built into, and the version podsec-k8s-save-oci is asked for. */
interface ImageRelease {
  dir: string;
  version: string;
}

/**
 * Where the archive podsec-k8s-save-oci wrote is kept for the next `up`: keyed by the program (its
 * bundle and its package's modules), the images (the k8s-tools entry) and what it was asked for.
 * The same inputs give the same bytes every time.
 */
function archiveCacheFile(master: NodeState, state: ClusterState, release: ImageRelease): string {
  const hash = createHash('sha256').update(JSON.stringify([release.dir, release.version, state.platform, IMAGE_TAGS, CLUSTER_ARCHIVE_LEVEL]));
  // The program is its entry file and its package's modules (scripts/model/program-modules.ts).
  const { path, modules } = programPaths(model, 'podsec-k8s-save-oci')!;
  const installed = (modelPath: string) => join(master.root, resolvePath(modelPath, DEFAULT_BRANCH));
  hash.update(readFileSync(installed(path)));
  const moduleNames = readdirSync(installed(modules)).filter((name) => name.endsWith('.js'));
  for (const name of moduleNames.sort()) hash.update(name).update(readFileSync(join(installed(modules), name)));
  const key = hash.digest('hex').slice(0, 16);
  return join(ARCHIVE_CACHE, `k8s-${key}.tar.xz`);
}

/**
 * podsec-k8s-save-oci of `release` from the upstream registry on the master (or the same archive
 * from an earlier run), then podsec-load-sign-oci as the image maker: every image the cluster runs
 * at that version, signed, in registry.local/<platform>.
 */
export async function signClusterImages(master: NodeState, state: ClusterState, release: ImageRelease, trust: MasterTrust, log: Log): Promise<void> {
  const upstream = `${state.gateway}:${UPSTREAM_PORT}`;
  // The upstream registry's images are taken as they are: the maker's signature is what the cluster checks.
  const sourcePolicy = `${ARCHIVE_DIR}-source-policy.json`;
  await mustExec(master, ['sh', '-c', 'cat > "$1"', 'sh', sourcePolicy], { input: ACCEPT_ANYTHING });
  const archive = join(master.root, ARCHIVE_DIR, 'amd64.tar.xz');
  const cached = archiveCacheFile(master, state, release);
  if (existsSync(cached)) {
    log(`cluster: ${master.name}: the archive of an earlier podsec-k8s-save-oci run of the same program and images (${cached})`);
    mkdirSync(dirname(archive), { recursive: true });
    copyFileSync(cached, archive);
  } else {
    log(`cluster: ${master.name}: podsec-k8s-save-oci from ${upstream}`);
    await mustExec(
      master,
      [
        'env',
        `U7S_KUBEVERSION=${release.version}`,
        `U7S_FLANNEL_TAG=${IMAGE_TAGS.flannel}`,
        `U7S_FLANNELCNIPLUGIN_TAG=${IMAGE_TAGS.flannelCniPlugin}`,
        `U7S_PLATFORM=${state.platform}`,
        'podsec-k8s-save-oci',
        '--registry',
        upstream,
        '--no-tls-verify',
        '--signature-policy',
        sourcePolicy,
        '--compression-level',
        String(CLUSTER_ARCHIVE_LEVEL),
        ARCHIVE_DIR,
        'amd64',
        state.platform,
      ],
      { timeoutMs: 1_800_000 },
    );
    mkdirSync(dirname(cached), { recursive: true });
    copyFileSync(archive, `${cached}.tmp-${process.pid}`);
    renameSync(`${cached}.tmp-${process.pid}`, cached);
    await pruneEntries(ARCHIVE_CACHE, 'k8s-', 3, [basename(cached)]);
  }
  await mustExec(master, ['chmod', '-R', 'a+rX', ARCHIVE_DIR]);
  log(`cluster: ${master.name}: podsec-load-sign-oci as ${MAKER}`);
  const loaded = await loadAndSignAsMaker(master, `${ARCHIVE_DIR}/amd64.tar.xz`, trust.makerKey, state.platform, 1_800_000);
  if (loaded.exitCode !== 0) throw new Error(`podsec-load-sign-oci: ${loaded.stderr}\n${loaded.stdout}`);
  await mustExec(master, ['rm', '-rf', '--', ARCHIVE_DIR, sourcePolicy]);
}

/** podsec-load-sign-oci of `archive` on the master, as the cluster's image maker in its own session. */
export async function loadAndSignAsMaker(master: NodeState, archive: string, makerKey: string, platform: string, timeoutMs: number): Promise<RunResult> {
  await lingerUser(nodeRunner(master), MAKER);
  return userRun(nodeRunner(master), MAKER, ['podsec-load-sign-oci', archive, 'amd64', makerKey], { env: { U7S_PLATFORM: platform }, timeoutMs });
}

/** A node other than the master adopts the master's policy from its signed trust bundle. */
export async function adoptTrust(node: NodeState, master: NodeState, fingerprint: string): Promise<void> {
  await mustExec(node, ['podsec-create-policy', '--trust-fingerprint', fingerprint, master.address]);
}
