/**
 * The OCI images of the control plane and add-ons, made from the binaries of `<dir>/bin` and, for
 * the images that run iptables or cp, Debian 12's binaries with the shared libraries they load.
 * Names and tags are kubeadm's (`kubeadm config images list`) and, for flannel, the manifest
 * template's; what each container runs follows the manifests kubeadm and the template generate:
 * static pods run `kube-apiserver`, `etcd`, … by PATH; kube-proxy runs /usr/local/bin/kube-proxy;
 * coredns runs /coredns; the pause image /pause; flannel runs /opt/bin/flanneld and its init
 * containers run `cp`. All of it goes into one OCI layout, written by scripts/image/oci-layout.ts.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';
import { removeTree } from '../image/cache.ts';
import { writeImageLayout, type LayoutImage } from '../image/oci-layout.ts';
import type { Binary } from './recipe.ts';
import { IMAGE_TAGS, K8S_TOOLS_VERSIONS, UPGRADE_TARGET, type GoSource } from './versions.ts';

const run = promisify(execFile);

/** kubeadm's default image repository. */
export const KUBEADM_REGISTRY = 'registry.k8s.io';
/** flannel's images carry upstream's repository path; the manifest template names their last component. */
const FLANNEL_REPOSITORY = 'flannel';

const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface ImageSpec {
  /** Repository (name without tag). */
  name: string;
  tag: string;
  /** Built binaries: name in `<dir>/bin` -> absolute path in the image. */
  binaries: Partial<Record<Binary, string>>;
  /** Debian's iptables (nft and legacy) and/or cp, with their libraries. */
  host: ('iptables' | 'cp')[];
  entrypoint: string[];
  cmd?: string[];
  user?: string;
  env: string[];
  /** The module the image's program comes from, and its version (labels). */
  source: { module: string; version: string; date: string };
  /** Directories every such container expects (mount points, scratch). */
  dirs: string[];
}

const v = K8S_TOOLS_VERSIONS;

/** The components whose images change with a Kubernetes release (the set's, or the upgrade target's). */
interface Release {
  kubernetes: GoSource;
  etcd: GoSource;
  coredns: GoSource;
  etcdTag: string;
}

const controlPlane = (release: Release, name: 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler'): ImageSpec => ({
  name: `${KUBEADM_REGISTRY}/${name}`,
  tag: release.kubernetes.version,
  binaries: { [name]: `/usr/local/bin/${name}` },
  host: [],
  entrypoint: [`/usr/local/bin/${name}`],
  env: [PATH],
  source: release.kubernetes,
  dirs: ['etc', 'tmp', 'run'],
});

/** kubeadm's images of a release but pause, in kubeadm's order (the control plane, kube-proxy, coredns), and etcd. */
function releaseSpecs(release: Release): { kubeadm: ImageSpec[]; etcd: ImageSpec } {
  const kubeadm: ImageSpec[] = [
    controlPlane(release, 'kube-apiserver'),
    controlPlane(release, 'kube-controller-manager'),
    controlPlane(release, 'kube-scheduler'),
    {
      name: `${KUBEADM_REGISTRY}/kube-proxy`,
      tag: release.kubernetes.version,
      binaries: { 'kube-proxy': '/usr/local/bin/kube-proxy' },
      host: ['iptables'],
      entrypoint: ['/usr/local/bin/kube-proxy'],
      env: [PATH],
      source: release.kubernetes,
      dirs: ['etc', 'tmp', 'run', 'var/lib/kube-proxy', 'lib/modules'],
    },
    {
      name: `${KUBEADM_REGISTRY}/coredns/coredns`,
      tag: release.coredns.version,
      binaries: { coredns: '/coredns' },
      host: [],
      entrypoint: ['/coredns'],
      env: [PATH],
      source: release.coredns,
      dirs: ['etc', 'tmp'],
    },
  ];
  const etcd: ImageSpec = {
    name: `${KUBEADM_REGISTRY}/etcd`,
    tag: release.etcdTag,
    binaries: { etcd: '/usr/local/bin/etcd', etcdctl: '/usr/local/bin/etcdctl' },
    host: [],
    entrypoint: ['/usr/local/bin/etcd'],
    env: [PATH],
    source: release.etcd,
    dirs: ['etc', 'tmp', 'var/lib/etcd'],
  };
  return { kubeadm, etcd };
}

/** Every image of the set, in kubeadm's order followed by flannel's. */
export function imageSpecs(): ImageSpec[] {
  const release = releaseSpecs({ kubernetes: v.kubernetes, etcd: v.etcd, coredns: v.coredns, etcdTag: IMAGE_TAGS.etcd });
  return [
    ...release.kubeadm,
    {
      name: `${KUBEADM_REGISTRY}/pause`,
      tag: IMAGE_TAGS.pause,
      binaries: { pause: '/pause' },
      host: [],
      entrypoint: ['/pause'],
      user: '65535:65535',
      env: [PATH],
      source: v.kubernetes,
      dirs: [],
    },
    release.etcd,
    {
      name: `${FLANNEL_REPOSITORY}/flannel`,
      tag: IMAGE_TAGS.flannel,
      binaries: { flanneld: '/opt/bin/flanneld' },
      host: ['iptables', 'cp'],
      entrypoint: ['/opt/bin/flanneld'],
      env: ['PATH=/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      source: v.flannel,
      dirs: ['etc/kube-flannel', 'etc/cni/net.d', 'tmp', 'run/flannel'],
    },
    {
      name: `${FLANNEL_REPOSITORY}/flannel-cni-plugin`,
      tag: IMAGE_TAGS.flannelCniPlugin,
      binaries: { flannel: '/flannel' },
      host: ['cp'],
      entrypoint: ['cp'],
      cmd: ['-f', '/flannel', '/opt/cni/bin/flannel'],
      env: [PATH],
      source: v.flannelCni,
      dirs: ['opt/cni/bin', 'tmp'],
    },
  ];
}

/** The images of the upgrade target whose tags differ from the set's (the pause image stays). */
export function upgradeTargetSpecs(): ImageSpec[] {
  const release = releaseSpecs(UPGRADE_TARGET);
  return [...release.kubeadm, release.etcd];
}

export const imageRef = (spec: Pick<ImageSpec, 'name' | 'tag'>) => `${spec.name}:${spec.tag}`;

/** Debian's iptables programs: the two multi-call binaries, their names, and the modules they dlopen. */
const XTABLES_MODULES = '/usr/lib/x86_64-linux-gnu/xtables';
function iptablesFiles(): { files: string[]; links: [string, string][] } {
  const files = ['/usr/sbin/xtables-nft-multi', '/usr/sbin/xtables-legacy-multi'];
  const links: [string, string][] = [];
  for (const family of ['iptables', 'ip6tables']) {
    for (const suffix of ['', '-save', '-restore']) {
      links.push([`/usr/sbin/${family}-nft${suffix}`, 'xtables-nft-multi']);
      links.push([`/usr/sbin/${family}-legacy${suffix}`, 'xtables-legacy-multi']);
      // Debian's default alternative (and the host's mode on Debian 12): nft.
      links.push([`/usr/sbin/${family}${suffix}`, `${family}-nft${suffix}`]);
    }
  }
  return { files, links };
}

/** The shared libraries `ldd` resolves for an ELF file (the interpreter included). */
async function sharedLibraries(file: string): Promise<string[]> {
  const { stdout } = await run('ldd', [file], { env: { LC_ALL: 'C', PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeout: 30_000 });
  const libs: string[] = [];
  for (const line of stdout.split('\n')) {
    const resolved = /=>\s+(\/\S+)\s+\(/.exec(line)?.[1] ?? /^\s*(\/\S+)\s+\(/.exec(line)?.[1];
    if (resolved) libs.push(resolved);
    else if (/=>\s+not found/.test(line)) throw new Error(`${file}: ${line.trim()}`);
  }
  return libs;
}

/** Copies host file `path` into `root`: the real file at its real path, and every link on the way to it. */
async function copyHostFile(root: string, path: string, seen: Set<string>): Promise<void> {
  let current = path;
  for (let hops = 0; hops < 16; hops++) {
    // The directory part resolved (merged /usr: /lib -> usr/lib), the last component as it is.
    const at = join(await fs.realpath(dirname(current)), posix.basename(current));
    if (seen.has(at)) return;
    seen.add(at);
    const st = await fs.lstat(at);
    const dest = join(root, at);
    await fs.mkdir(dirname(dest), { recursive: true });
    if (st.isSymbolicLink()) {
      const target = await fs.readlink(at);
      await fs.symlink(target, dest);
      current = posix.isAbsolute(target) ? target : posix.join(dirname(at), target);
      continue;
    }
    if (!st.isFile()) throw new Error(`${at}: not a regular file`);
    await fs.copyFile(at, dest);
    await fs.chmod(dest, st.mode & 0o111 ? 0o755 : 0o644);
    return;
  }
  throw new Error(`${path}: too many symbolic links`);
}

/** The merged-/usr top-level links, as on the Debian 12 host the binaries come from. */
const MERGED_USR_LINKS: [string, string][] = [
  ['bin', 'usr/bin'],
  ['sbin', 'usr/sbin'],
  ['lib', 'usr/lib'],
  ['lib64', 'usr/lib64'],
];

async function stageHostPrograms(root: string, wanted: ImageSpec['host']): Promise<void> {
  if (wanted.length === 0) return;
  const seen = new Set<string>();
  const elves: string[] = [];
  const links: [string, string][] = [];
  if (wanted.includes('iptables')) {
    const ipt = iptablesFiles();
    elves.push(...ipt.files);
    links.push(...ipt.links);
    const modules = (await fs.readdir(XTABLES_MODULES)).filter((n) => n.endsWith('.so')).sort();
    elves.push(...modules.map((n) => join(XTABLES_MODULES, n)));
  }
  if (wanted.includes('cp')) elves.push('/usr/bin/cp');
  for (const [link, target] of MERGED_USR_LINKS) await fs.symlink(target, join(root, link));
  const libraries = new Set<string>();
  for (const elf of elves) {
    await copyHostFile(root, elf, seen);
    for (const lib of await sharedLibraries(elf)) libraries.add(lib);
  }
  for (const lib of [...libraries].sort()) await copyHostFile(root, lib, seen);
  for (const [link, target] of links) {
    const dest = join(root, link);
    await fs.mkdir(dirname(dest), { recursive: true });
    await fs.rm(dest, { force: true });
    await fs.symlink(target, dest);
  }
}

/** Directories 0755 (scratch dirs 1777), whatever the umask. */
async function normalizeDirs(root: string, dir = ''): Promise<void> {
  const path = join(root, dir);
  await fs.chmod(path, dir === 'tmp' ? 0o1777 : 0o755);
  for (const e of await fs.readdir(path, { withFileTypes: true })) if (e.isDirectory()) await normalizeDirs(root, dir ? `${dir}/${e.name}` : e.name);
}

/** Stages one image's root file system in `root` (which must not exist). */
async function stageImage(spec: ImageSpec, binDir: string, root: string): Promise<void> {
  await fs.mkdir(root, { recursive: true });
  await stageHostPrograms(root, spec.host);
  for (const dir of spec.dirs) await fs.mkdir(join(root, dir), { recursive: true });
  for (const [binary, target] of Object.entries(spec.binaries)) {
    const dest = join(root, target);
    await fs.mkdir(dirname(dest), { recursive: true });
    await fs.copyFile(join(binDir, binary), dest);
    await fs.chmod(dest, 0o755);
  }
  await normalizeDirs(root);
}

interface ImagesResult {
  /** The OCI layout directory. */
  layout: string;
  /** name:tag -> manifest digest. */
  images: Record<string, string>;
}

/**
 * Builds the images of `specs` (default: every image of the set) from the binaries in `binDir` into `<outDir>/oci/` (an OCI layout) and
 * writes `<outDir>/images.json` (name:tag -> manifest digest). `outDir` must not exist yet.
 */
export async function buildImages(binDir: string, outDir: string, specs = imageSpecs()): Promise<ImagesResult> {
  if (existsSync(outDir)) throw new Error(`${outDir} exists`);
  const staging = join(outDir, '.staging');
  const layout = join(outDir, 'oci');
  try {
    const images: LayoutImage[] = [];
    for (const [i, spec] of specs.entries()) {
      const root = join(staging, String(i));
      await stageImage(spec, binDir, root);
      images.push({
        ref: imageRef(spec),
        layers: [root],
        config: {
          epoch: Math.floor(Date.parse(spec.source.date) / 1000),
          env: spec.env,
          entrypoint: spec.entrypoint,
          ...(spec.cmd ? { cmd: spec.cmd } : {}),
          ...(spec.user ? { user: spec.user } : {}),
          labels: {
            'org.opencontainers.image.title': spec.name,
            'org.opencontainers.image.version': spec.tag,
            'org.opencontainers.image.source': `${spec.source.module} ${spec.source.version}`,
          },
        },
      });
    }
    const written = await writeImageLayout(layout, images);
    const result = Object.fromEntries(specs.map((s) => [imageRef(s), written.get(imageRef(s))!.digest]));
    await fs.writeFile(join(outDir, 'images.json'), `${JSON.stringify(result, null, 2)}\n`);
    return { layout, images: result };
  } finally {
    await removeTree(staging);
  }
}
