/**
 * Which Debian packages a node image needs: a bootable systemd base, the tools our own scripts
 * and tests use inside it, and every runtime requirement of our packages that Debian has, derived
 * from the model's `requires` (never from a second hand-written list of what podsec needs).
 */
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { ProjectModel } from '../model/types.ts';

/** A bootable minimal system: systemd as PID 1, a bus, logind's PAM module, shadow utilities. */
const BASE_PACKAGES: readonly string[] = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'dbus-user-session',
  'libpam-systemd',
  'passwd', // useradd/groupadd for %pre
  'login',
  'iproute2',
  'procps',
  'iputils-ping',
  'kmod',
  'rpm', // an ALT node has rpm: upgrades and erases run inside the booted image
  'nodejs', // the bundled programs' interpreter
  // What the README sends an operator to: `man podsec-…` and `LANG=ru_RU.UTF-8 man …` (every
  // locale precompiled, so ru_RU.UTF-8 needs no locale-gen step in the recipe).
  'man-db',
  'locales-all',
];

/**
 * ALT package name -> Debian package name, or null when Debian has no counterpart (the
 * requirement is then left out of the stand-in image and reported). Names not listed are
 * assumed to be the same on both.
 */
export const ALT_TO_DEBIAN: Readonly<Record<string, string | null>> = {
  node: 'nodejs',
  nodejs: 'nodejs',
  'shadow-submap': 'uidmap',
  'shadow-utils': 'passwd',
  gnupg2: 'gnupg',
  'openssh-clients': 'openssh-client',
  xz: 'xz-utils',
  'pinentry-common': 'pinentry-curses',
  'systemd-container': 'systemd-container',
  'nagwad-service': null,
  'nagwad-icinga-templates': null,
  'nagwad-nagios-templates': null,
  'icinga2-common': null,
  kubernetes1: null,
  cri1: null,
  cri_o: null,
  'cri-o': null,
  // Debian's etcd-client is etcd 3.4, without etcdutl: a node's etcdctl and etcdutl come from the
  // k8s-tools cache (scripts/cluster/machines.ts), as Kubernetes does.
  etcd: null,
};

/**
 * The runtime tools podsec's programs drive, by their ALT names, whether or not a package requires
 * them by name yet (podman's recommends are not installed by mmdebstrap; name them).
 */
export const RUNTIME_TOOLS: readonly string[] = [
  'podman',
  'skopeo',
  'crun',
  'shadow-submap',
  'catatonit',
  'fuse-overlayfs',
  'slirp4netns',
  'rootlesskit',
  'nginx',
  'docker-registry',
  'gnupg2',
  'inotify-tools',
];

/** Debian's packages for RUNTIME_TOOLS, and more. */
const TOOL_PACKAGES: readonly string[] = [
  ...RUNTIME_TOOLS.map((name) => ALT_TO_DEBIAN[name] ?? name),
  // Named by requirements that come and go as the packages grow; kept here so the cached base
  // (keyed by this list) survives such changes.
  'systemd-container',
  'util-linux',
  'openssh-client',
  'pinentry-curses',
  'iproute2',
  'xz-utils',
  // What ALT's cri-o package brings along; CRI-O itself (and Kubernetes) come from the k8s-tools
  // cache (scripts/k8s-tools), installed into a node by `npm run cluster`.
  'conmon',
  'containernetworking-plugins',
  'iptables',
];

/**
 * Of `names`, those the host's apt knows with an installable candidate (`apt-cache policy`);
 * undefined when apt-cache is not there to ask.
 */
async function aptAvailable(names: string[]): Promise<Set<string> | undefined> {
  if (names.length === 0) return new Set();
  const r = await execa('apt-cache', ['policy', ...names], { reject: false, stdin: 'ignore', timeout: 60_000 });
  if (r.failed && !r.stdout) return undefined;
  const found = new Set<string>();
  for (const block of r.stdout.split(/\n(?=\S)/)) {
    const name = /^(\S+):/.exec(block)?.[1];
    const candidate = /^\s+Candidate:\s*(\S+)/m.exec(block)?.[1];
    if (name && candidate && candidate !== '(none)') found.add(name);
  }
  return found;
}

/**
 * aptAvailable, remembered in `cacheDir` until apt-get update changes the package lists (apt-cache takes
 * about a second to load it, most of a cached image run).
 */
async function cachedAptAvailable(names: string[], cacheDir?: string): Promise<Set<string> | undefined> {
  if (!cacheDir || names.length === 0) return aptAvailable(names);
  const stamp = String((await stat(APT_LISTS).catch(() => undefined))?.mtimeMs ?? 'none');
  const file = join(cacheDir, 'apt-names.json');
  const saved = (await readFile(file, 'utf8').then(JSON.parse, () => undefined)) as { stamp: string; found: Record<string, boolean> } | undefined;
  if (saved?.stamp === stamp && names.every((n) => n in saved.found)) return new Set(names.filter((n) => saved.found[n]));
  const available = await aptAvailable(names);
  if (available) {
    const found = { ...(saved?.stamp === stamp ? saved.found : {}), ...Object.fromEntries(names.map((n) => [n, available.has(n)])) };
    await mkdir(cacheDir, { recursive: true });
    await writeFile(`${file}.tmp-${process.pid}`, JSON.stringify({ stamp, found }));
    await rename(`${file}.tmp-${process.pid}`, file);
  }
  return available;
}

/** apt-get update renames new lists into this directory, which changes its mtime. */
const APT_LISTS = '/var/lib/apt/lists';

/**
 * planPackages, with the requirements whose names are not ALT_TO_DEBIAN entries checked against
 * the host's apt: an ALT name Debian does not have is reported as missing instead of failing
 * mmdebstrap after a minute of downloads.
 */
export async function planAvailablePackages(model: ProjectModel, cacheDir?: string): Promise<PackagePlan> {
  const plan = planPackages(model);
  const fixed = new Set<string>([...BASE_PACKAGES, ...TOOL_PACKAGES, ...Object.values(ALT_TO_DEBIAN).filter((v): v is string => !!v)]);
  const unchecked = plan.debian.filter((n) => !fixed.has(n));
  const available = await cachedAptAvailable(unchecked, cacheDir);
  if (!available) return plan;
  const absent = unchecked.filter((n) => !available.has(n));
  return {
    ...plan,
    debian: plan.debian.filter((n) => !absent.includes(n)),
    extra: plan.extra.filter((n) => !absent.includes(n)),
    missing: [...plan.missing, ...absent.map((n) => `${n} (no Debian package of that name)`)].sort(),
  };
}

export interface PackagePlan {
  /** Sorted, unique Debian package names: everything the image has. */
  debian: string[];
  /** The fixed part (BASE_PACKAGES + TOOL_PACKAGES): the cached base's mmdebstrap list. */
  base: string[];
  /** Requirements outside the fixed part, installed with apt-get on a copy of the base. */
  extra: string[];
  /** Requirements with no Debian counterpart, as `package: requirement`. */
  missing: string[];
}

/**
 * Debian packages for an image with every package of `model` installed. File requirements
 * (`/usr/bin/x`) and our own packages are skipped; `podsec-*` requirements are satisfied by the RPMs.
 */
export function planPackages(model: ProjectModel, extra: readonly string[] = []): PackagePlan {
  const own = new Set(model.packages.map((p) => p.name));
  const debian = new Set<string>([...BASE_PACKAGES, ...TOOL_PACKAGES, ...extra]);
  const missing: string[] = [];
  for (const pkg of model.packages) {
    for (const dep of pkg.requires) {
      if (own.has(dep.name) || dep.name.startsWith('/')) continue;
      const mapped = dep.name in ALT_TO_DEBIAN ? ALT_TO_DEBIAN[dep.name] : dep.name;
      if (mapped) debian.add(mapped);
      else missing.push(`${pkg.name}: ${dep.name}`);
    }
  }
  const base = [...new Set([...BASE_PACKAGES, ...TOOL_PACKAGES])].sort();
  const all = [...debian].sort();
  return { debian: all, base, extra: all.filter((n) => !base.includes(n)), missing: [...new Set(missing)].sort() };
}

/**
 * The tool packages whose services ALT would leave disabled (its `disable *` preset policy
 * applies to every package installed after the base system). The systemd base keeps Debian's state.
 */
export function presetManagedPackages(plan: PackagePlan): string[] {
  const base = new Set(BASE_PACKAGES);
  return plan.debian.filter((p) => !base.has(p));
}
