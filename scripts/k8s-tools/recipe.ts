/**
 * How each component of `npm run k8s-tools` is built, as data: which wrapper module, which main
 * packages, which environment, build tags and ldflags; and the cache key over all of it. Pure (no
 * I/O), so the key is unit-tested; build.ts runs the recipe.
 */
import { contentHash } from '../image/cache.ts';
import { HOST_NEEDS } from '../host-packages.ts';
import { bare, CRUN, ETCDUTL, IMAGE_TAGS, INGRESS_CONTROLLER, K8S_TOOLS_VERSIONS, NEWEST_KUBEADM, UPGRADE_TARGET, type GoSource } from './versions.ts';

/** Bump when the way anything is built or laid out changes without a version or flag changing. */
const RECIPE_VERSION = 1;

/** The binaries in `<dir>/bin/`. */
export const BINARIES = [
  'kubeadm',
  'kubelet',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kube-proxy',
  'kubectl',
  'crio',
  'pinns',
  'crictl',
  'etcd',
  'etcdctl',
  'coredns',
  'flanneld',
  'flannel',
  'pause',
  'crun',
] as const;
export type Binary = (typeof BINARIES)[number];

/** Binaries that go into images: they must be statically linked. crio and crun run on the node itself. */
export const STATIC_BINARIES: Binary[] = BINARIES.filter((b) => b !== 'crio' && b !== 'crun');

export interface GoBuild {
  component: string;
  /** Directory under scripts/k8s-tools/go/. */
  module: string;
  /** Main package -> output binary name. */
  packages: Record<string, string>;
  /**
   * Built in a copy of this module's own directory (downloaded through the wrapper, which pins its
   * go.sum line) instead of in the wrapper: the module is then the main module and its go.mod's
   * replace directives, which a dependent module's build ignores, apply. `packages` are relative to it.
   */
  inModule?: string;
  cgo: boolean;
  tags: string[];
  ldflags: string[];
}

/** Flags shared by every Go build: the same as the Kubernetes prototype's, so Go's build cache is shared. */
export const GO_FLAGS = ['-trimpath', '-buildvcs=false'] as const;
const SHRINK = ['-s', '-w'];
const x = (symbol: string, value: string) => `-X=${symbol}=${value}`;

const k = K8S_TOOLS_VERSIONS;
/** hack/lib/version.sh of Kubernetes sets these in both packages. */
function kubeVersionLdflags(source: GoSource): string[] {
  const [major, minor] = bare(source.version).split('.');
  return (['k8s.io/client-go/pkg/version', 'k8s.io/component-base/version'] as const).flatMap((pkg) => [
    x(`${pkg}.gitVersion`, source.version),
    x(`${pkg}.gitMajor`, major!),
    x(`${pkg}.gitMinor`, minor!),
    x(`${pkg}.gitCommit`, source.commit),
    x(`${pkg}.gitTreeState`, 'clean'),
    x(`${pkg}.buildDate`, source.date),
  ]);
}

/** A Go build without cgo or build tags whose version is stamped into one variable. */
const pureGo = (component: string, module: string, packages: Record<string, string>, variable: string, value: string): GoBuild => ({
  component,
  module,
  packages,
  cgo: false,
  tags: [],
  ldflags: [...SHRINK, x(variable, value)],
});

const KUBERNETES_NODE_BINARIES = ['kubeadm', 'kubelet', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy'] as const;

/** The Kubernetes programs of `source`, from wrapper module `module`. */
const kubernetesBuild = (component: string, module: string, source: GoSource, binaries: readonly Binary[]): GoBuild => ({
  component,
  module,
  packages: Object.fromEntries(binaries.map((b) => [`k8s.io/kubernetes/cmd/${b}`, b])),
  cgo: false,
  tags: [],
  ldflags: [...SHRINK, ...kubeVersionLdflags(source)],
});

const etcdBuild = (component: string, module: string, source: GoSource) =>
  pureGo(
    component,
    module,
    { 'go.etcd.io/etcd/server/v3': 'etcd', 'go.etcd.io/etcd/etcdctl/v3': 'etcdctl' },
    'go.etcd.io/etcd/api/v3/version.GitSHA',
    source.commit.slice(0, 7),
  );

const corednsBuild = (component: string, module: string, source: GoSource) =>
  pureGo(component, module, { 'github.com/coredns/coredns': 'coredns' }, 'github.com/coredns/coredns/coremain.GitCommit', source.commit.slice(0, 7));

export const GO_BUILDS: GoBuild[] = [
  kubernetesBuild('kubernetes', 'kubernetes', k.kubernetes, [...KUBERNETES_NODE_BINARIES, 'kubectl']),
  {
    component: 'crio',
    module: 'crio',
    packages: { 'github.com/cri-o/cri-o/cmd/crio': 'crio' },
    // cgo for libseccomp. The tags are what CRI-O's Makefile picks on a Debian 12 build host
    // (hack/*_tag.sh) without btrfs headers, apparmor, selinux or libsubid, written out so that the
    // result does not depend on what the host happens to have: gpgme-config present -> the pure-Go
    // openpgp signature backend (no libgpgme/libassuan at run time).
    cgo: true,
    tags: ['containers_image_ostree_stub', 'exclude_graphdriver_btrfs', 'btrfs_noversion', 'containers_image_openpgp', 'seccomp'],
    ldflags: [...SHRINK, x('github.com/cri-o/cri-o/internal/version.buildDate', k.crio.date)],
  },
  etcdBuild('etcd', 'etcd', k.etcd),
  corednsBuild('coredns', 'coredns', k.coredns),
  {
    component: 'flannel',
    module: 'flannel',
    packages: { 'github.com/flannel-io/flannel': 'flanneld' },
    // As flannel's Makefile on amd64: cgo (the UDP backend's C proxy is compiled in on amd64 and
    // does not build without it), linked statically; netgo and osusergo keep glibc's NSS (which a
    // static binary cannot load) out of name and user lookups.
    cgo: true,
    tags: ['netgo', 'osusergo'],
    ldflags: [...SHRINK, x('github.com/flannel-io/flannel/pkg/version.Version', k.flannel.version), '-extldflags=-static'],
  },
  pureGo(
    'flannel-cni',
    'cni-plugins',
    { 'github.com/containernetworking/plugins/plugins/meta/flannel': 'flannel' },
    'github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion',
    k.flannelCni.version,
  ),
  pureGo('cri-tools', 'cri-tools', { 'sigs.k8s.io/cri-tools/cmd/crictl': 'crictl' }, 'sigs.k8s.io/cri-tools/pkg/version.Version', bare(k.criTools.version)),
];

/** The release an upgrade goes to (versions.ts UPGRADE_TARGET): its own wrapper modules and cache entry (ensureUpgradeTarget). */
export const UPGRADE_TARGET_BUILDS: GoBuild[] = [
  kubernetesBuild('kubernetes-next', 'kubernetes-next', UPGRADE_TARGET.kubernetes, KUBERNETES_NODE_BINARIES),
  etcdBuild('etcd-next', 'etcd-next', UPGRADE_TARGET.etcd),
  corednsBuild('coredns-next', 'coredns-next', UPGRADE_TARGET.coredns),
];

/** kubeadm of the newest Kubernetes minor, alone (its own wrapper module and cache: ensureNewestKubeadm). */
export const NEWEST_KUBEADM_BUILD: GoBuild = {
  component: 'kubeadm-newest',
  module: 'kubeadm-newest',
  packages: { 'k8s.io/kubernetes/cmd/kubeadm': 'kubeadm' },
  cgo: false,
  tags: [],
  ldflags: [...SHRINK, ...kubeVersionLdflags(NEWEST_KUBEADM)],
};

/** etcdutl, stamped as the set's etcd and etcdctl. */
export const ETCDUTL_BUILD = pureGo('etcdutl', 'etcdutl', { [ETCDUTL.module]: 'etcdutl' }, 'go.etcd.io/etcd/api/v3/version.GitSHA', ETCDUTL.commit.slice(0, 7));

/** The ingress controller: its go.mod replaces a module by a directory of its own, so it builds only as the main module. */
export const INGRESS_CONTROLLER_BUILD: GoBuild = {
  component: 'ingress-controller',
  module: 'traefik',
  packages: { './cmd/traefik': 'traefik' },
  inModule: INGRESS_CONTROLLER.module,
  cgo: false,
  tags: [],
  ldflags: [
    ...SHRINK,
    x('github.com/traefik/traefik/v3/pkg/version.Version', INGRESS_CONTROLLER.version),
    x('github.com/traefik/traefik/v3/pkg/version.BuildDate', INGRESS_CONTROLLER.date),
  ],
};

/** The C programs: compiler flags as their upstream Makefiles use them. */
export const C_BUILDS = {
  /** cri-o's pinns/Makefile: CFLAGS plus -O3 for the objects, then strip -s. */
  pinns: { sources: 'pinns/src', cflags: ['-std=c99', '-Os', '-Wall', '-Werror', '-Wextra', '-static', '-O3'] },
  /** kubernetes' build/pause/Makefile: -DVERSION=v$(TAG)-$(REV), REV being the Kubernetes tag here. */
  pause: { source: 'build/pause/linux/pause.c', cflags: ['-Os', '-Wall', '-Werror', '-static', `-DVERSION=v${IMAGE_TAGS.pause}-${k.kubernetes.version}`] },
  /** crun from Debian's source package: the upstream release tarball, configured for Debian 12's libraries. */
  crun: { configure: ['--disable-criu', '--enable-shared=no'] },
} as const;

/** Debian 12 packages the build needs (scripts/host-packages.ts; checked with dpkg-query, installed with apt-get when missing). */
export const BUILD_PACKAGES: readonly string[] = HOST_NEEDS['k8s-tools'].map((need) => need.deb);

export interface KeyInputs {
  recipe: number;
  versions: unknown;
  /** Wrapper module -> go.mod and go.sum text. */
  modules: Record<string, { goMod: string; goSum: string }>;
  /** `go env GOVERSION`. */
  goVersion: string;
  builds: unknown;
  /** Debian package -> version, for the packages whose files end up in the outputs. */
  debian: Record<string, string>;
}

/** The recipe part of the key inputs: everything but what must be read from disk or the host. */
export function recipeInputs(): Pick<KeyInputs, 'recipe' | 'versions' | 'builds'> {
  return {
    recipe: RECIPE_VERSION,
    versions: { go: K8S_TOOLS_VERSIONS, images: IMAGE_TAGS, crun: CRUN },
    builds: { go: GO_BUILDS, goFlags: GO_FLAGS, c: C_BUILDS },
  };
}

/** The same for a Go program built alone, such as the newest kubeadm (no Debian package ends up in it). */
export function soloRecipeInputs(source: GoSource, build: GoBuild): Pick<KeyInputs, 'recipe' | 'versions' | 'builds' | 'debian'> {
  return { recipe: RECIPE_VERSION, versions: { go: source }, builds: { go: [build], goFlags: GO_FLAGS }, debian: {} };
}

/** The cache directory name for a set of inputs. */
export function cacheKey(inputs: KeyInputs): string {
  return contentHash(inputs).slice(0, 32);
}
