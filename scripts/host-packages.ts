/**
 * What the host needs, one list per purpose, as Debian 12 packages: `npm run build` (the RPMs),
 * `npm run k8s-tools` (building the Kubernetes components) and `npm test` (every tool the tests
 * run, the other two lists included). scripts/host-install.ts checks them with dpkg-query and
 * installs the missing ones; no other file (not .ci/run) lists them.
 */

export interface HostNeed {
  /** The Debian 12 package. */
  deb: string;
  /** What it is for: printed when it is installed or missing. */
  why: string;
  /** The ALT package that gives the same commands, where one is known. */
  alt?: string;
  /** The commands it gives: off Debian, where dpkg-query cannot tell, a missing one of these says the package is missing. */
  commands?: string[];
  /** Needed only while this command is not on PATH, on any system (another package may give it). */
  unlessCommand?: string;
}

export type Purpose = 'build' | 'k8s-tools' | 'test';

const BUILD: HostNeed[] = [
  { deb: 'rpm', alt: 'rpm-build', commands: ['rpmbuild', 'rpmspec'], why: 'rpmbuild and rpmspec: the RPMs and their apt-rpm repository' },
  { deb: 'xz-utils', alt: 'xz', commands: ['xz'], why: 'xz: the man pages and the package lists' },
  { deb: 'bzip2', alt: 'bzip2', commands: ['bzip2'], why: 'bzip2: the package lists' },
];

/** Built on Debian only (crun from Debian's sources, Debian libraries in the images): no ALT names. */
const K8S_TOOLS: HostNeed[] = [
  { deb: 'gcc', commands: ['gcc'], why: 'cgo (CRI-O, flannel) and the C programs (pinns, pause, crun)' },
  { deb: 'make', commands: ['make'], why: 'crun' },
  { deb: 'libc6-dev', why: 'the C programs, statically linked' },
  { deb: 'pkg-config', commands: ['pkg-config'], why: 'crun and CRI-O find their libraries' },
  { deb: 'file', commands: ['file'], why: 'the check that the image binaries are static' },
  { deb: 'binutils', commands: ['ld'], why: 'the linker' },
  { deb: 'libseccomp-dev', why: 'CRI-O (seccomp) and crun' },
  { deb: 'libcap-dev', why: 'crun' },
  { deb: 'libsystemd-dev', why: 'crun' },
  { deb: 'libyajl-dev', why: 'crun' },
  { deb: 'iptables', commands: ['iptables'], why: 'copied into the kube-proxy and flannel images' },
  { deb: 'coreutils', why: 'copied into the kube-proxy and flannel images' },
];

const TEST_TOOLS: HostNeed[] = [
  { deb: 'rpmlint', commands: ['rpmlint'], why: 'rpmlint: the RPMs checked' },
  { deb: 'systemd-container', commands: ['systemd-nspawn'], why: 'systemd-nspawn: booted nodes' },
  { deb: 'mmdebstrap', commands: ['mmdebstrap'], why: 'the Debian stand-in root file system of the node images' },
  { deb: 'dbus-user-session', why: 'the user bus of the rootless accounts' },
  { deb: 'busybox-static', commands: ['busybox'], why: 'the VM image initramfs' },
  { deb: 'inotify-tools', alt: 'inotify-tools', commands: ['inotifywait'], why: 'the podsec-inotify monitors' },
  { deb: 'iproute2', alt: 'iproute2', commands: ['ip'], why: 'network namespaces for the trust tests' },
  { deb: 'openssl', alt: 'openssl', commands: ['openssl'], why: 'certificates' },
  { deb: 'haproxy', alt: 'haproxy', commands: ['haproxy'], why: 'load-balancer configurations checked by haproxy' },
  { deb: 'keepalived', alt: 'keepalived', commands: ['keepalived'], why: 'load-balancer configurations checked by keepalived' },
  { deb: 'python3', alt: 'python3', commands: ['python3'], why: 'tomllib: TOML read by a second parser' },
  { deb: 'python3-rpm', why: 'librpm for the repository checks' },
  { deb: 'gettext', alt: 'gettext-tools', commands: ['msgfmt'], why: 'msgfmt: the catalogs checked' },
  { deb: 'man-db', alt: 'man-db', commands: ['man'], why: 'man -l: the man pages rendered' },
  { deb: 'groff-base', alt: 'groff-base', commands: ['groff'], why: 'man -l: the man pages rendered' },
  { deb: 'tmux', alt: 'tmux', commands: ['tmux'], why: 'the terminal progress bar test' },
  { deb: 'patchelf', alt: 'patchelf', commands: ['patchelf'], why: 'the sigstore test runs a newer skopeo and podman from a cache' },
  { deb: 'qemu-system-x86', commands: ['qemu-system-x86_64'], why: 'the VM boot test (TCG)' },
  { deb: 'cpio', alt: 'cpio', commands: ['cpio'], why: 'the VM initramfs (GNU cpio)' },
  { deb: 'podman', alt: 'podman', commands: ['podman'], why: 'rootless containers' },
  { deb: 'skopeo', alt: 'skopeo', commands: ['skopeo'], why: 'image copies and signatures' },
  { deb: 'crun', alt: 'crun', commands: ['crun'], why: 'the container runtime' },
  { deb: 'uidmap', commands: ['newuidmap'], why: 'newuidmap and newgidmap: rootless user namespaces' },
  { deb: 'slirp4netns', alt: 'slirp4netns', commands: ['slirp4netns'], why: 'the rootless network of a node' },
  { deb: 'fuse-overlayfs', alt: 'fuse-overlayfs', commands: ['fuse-overlayfs'], why: 'rootless image storage' },
  { deb: 'rootlesskit', alt: 'rootlesskit', commands: ['rootlesskit'], why: 'the u7s namespace' },
  { deb: 'docker-registry', alt: 'docker-registry', commands: ['docker-registry'], why: 'registry.local' },
  { deb: 'nginx', alt: 'nginx', commands: ['nginx'], why: 'the signature server' },
  { deb: 'gnupg', commands: ['gpg'], why: 'image signing keys' },
  { deb: 'jq', alt: 'jq', commands: ['jq'], why: 'JSON read by a second parser' },
  { deb: 'conmon', alt: 'conmon', commands: ['conmon'], why: 'the container monitor of CRI-O' },
  { deb: 'containernetworking-plugins', alt: 'cni-plugins', why: 'the standard CNI plugins of a real node' },
  { deb: 'socat', alt: 'socat', commands: ['socat'], why: "npm run cluster: the apiserver on the host's loopback" },
  { deb: 'curl', alt: 'curl', commands: ['curl'], why: 'npm run cluster: registry readiness' },
  { deb: 'ethtool', alt: 'ethtool', commands: ['ethtool'], why: "npm run cluster: a rootful node's VXLAN checksums computed before encapsulation" },
  {
    deb: 'kubernetes-client',
    unlessCommand: 'kubectl',
    why: 'kubectl for the RBAC object checks (only when no kubectl is installed: another package giving it would conflict)',
  },
];

/** The needs of each purpose, each package once (the first mention gives its reason). */
export const HOST_NEEDS: Record<Purpose, readonly HostNeed[]> = {
  build: BUILD,
  'k8s-tools': K8S_TOOLS,
  test: uniqueNeeds([...BUILD, ...TEST_TOOLS, ...K8S_TOOLS]),
};

function uniqueNeeds(needs: HostNeed[]): HostNeed[] {
  const seen = new Set<string>();
  return needs.filter((need) => !seen.has(need.deb) && seen.add(need.deb));
}
