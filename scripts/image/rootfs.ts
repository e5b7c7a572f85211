/**
 * The node rootfs: a Debian stand-in for an ALT node (ALT's repositories are not reachable from
 * CI) with our RPMs installed by `rpm -i --root`, so their scriptlets run inside it.
 *
 * Two cache levels, both content-addressed:
 *   base-<hash>    mmdebstrap of the package plan, with ALT's preset policy emulated
 *                  (key: recipe version, suite, package list, apt sources text)
 *   rootfs-<hash>  a copy of the base with the RPMs installed
 *                  (key: the base's name and the sha256 of every RPM)
 * so a changed RPM costs a copy and an rpm -i, not a new mmdebstrap. Both are read-only once
 * published: boot them through an overlay, or take a copy (--kind container).
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import type { ProjectModel } from '../model/types.ts';
import { cachedEntry, contentHash, fileSha256, pruneEntries } from './cache.ts';
import { planAvailablePackages, presetManagedPackages, type PackagePlan } from './packages.ts';

/** Bump when the recipe changes, so that old cache entries are not reused. */
const BASE_FORMAT = 3;
const ROOTFS_FORMAT = 2;
const DEFAULT_SUITE = 'bookworm';
const DEFAULT_SOURCES = '/etc/apt/sources.list.d/debian.sources';
const MMDEBSTRAP_TIMEOUT_MS = 20 * 60_000;
const RPM_TIMEOUT_MS = 5 * 60_000;
/** Entries kept per kind after a build (the newest ones). */
const KEEP_ENTRIES = 3;

/**
 * ALT's systemd ships "ALTLinux's default preset policy" (systemd.spec: 85-display-manager,
 * 85-networkd, 85-timesyncd, 90-default and 99-default-disable.preset in %_presetdir). The last
 * one is the catch-all: every unit no earlier file names is disabled by `systemctl preset`, which
 * is what %post_systemd runs on first install. Debian has no catch-all (its preset logic is
 * unused: deb-systemd-helper enables everything), and systemd's built-in default without any
 * matching line is `enable`. The stand-in therefore carries ALT's catch-all.
 */
export const ALT_PRESET_FILE = 'usr/lib/systemd/system-preset/99-default-disable.preset';
const ALT_PRESET_TEXT = `# ALT Linux's default preset policy (emulated in the podsec Debian stand-in image):
# units no other preset file names are disabled on installation.
disable *
`;

/** Debian's rpm keeps its database in ~/.rpmdb; an ALT node has it in /var/lib/rpm. */
const RPM_MACROS_FILE = 'etc/rpm/macros';
const RPM_MACROS_TEXT = '%_dbpath /var/lib/rpm\n';

export const MANIFEST_PATH = 'usr/share/podsec-image/manifest.json';

interface RootfsOptions {
  model: ProjectModel;
  /** RPM files to install (all of them in one transaction). */
  rpms: string[];
  cacheDir: string;
  sources?: string;
  suite?: string;
  log?: (line: string) => void;
}

export interface RootfsManifest {
  kind: 'rootfs';
  base: string;
  suite: string;
  debianPackages: string[];
  /** Requirements of our packages that Debian lacks (not in the image). */
  missing: string[];
  rpms: { file: string; sha256: string }[];
}

export interface RootfsResult {
  /** The published rootfs directory (read-only by convention). */
  path: string;
  /** The base it was made from (the same system without our RPMs). */
  base: string;
  cached: boolean;
  baseCached: boolean;
  plan: PackagePlan;
  manifest: RootfsManifest;
}

const short = (hash: string) => hash.slice(0, 16);

/** The base system: mmdebstrap of the plan plus ALT's preset policy. */
export async function ensureBase(options: Omit<RootfsOptions, 'rpms'>): Promise<{ path: string; cached: boolean; plan: PackagePlan }> {
  const suite = options.suite ?? DEFAULT_SUITE;
  const sourcesFile = options.sources ?? DEFAULT_SOURCES;
  const sources = await fs.readFile(sourcesFile, 'utf8').catch(() => {
    throw new Error(`apt sources ${sourcesFile} not readable: the image is built from the host's Debian mirror`);
  });
  const plan = await planAvailablePackages(options.model, options.cacheDir);
  // Keyed by the fixed package list only: requirements that come and go are the rootfs layer's.
  const hash = contentHash({ v: BASE_FORMAT, suite, packages: plan.base, sources, preset: ALT_PRESET_TEXT });
  const entry = await cachedEntry(options.cacheDir, `base-${short(hash)}`, async (tmp) => {
    options.log?.(`image: mmdebstrap ${suite} (${plan.base.length} packages) -> ${tmp}`);
    await mmdebstrap(suite, plan.base, tmp, sourcesFile, MMDEBSTRAP_TIMEOUT_MS);
    await emulateAlt(tmp, plan);
  });
  if (!entry.cached) await pruneEntries(options.cacheDir, 'base-', KEEP_ENTRIES, [basename(entry.path)]);
  return { path: entry.path, cached: entry.cached, plan };
}

/** ALT's preset policy, ALT's rpm database path, and the tool services as ALT would leave them. */
async function emulateAlt(root: string, plan: PackagePlan): Promise<void> {
  await writeInRoot(root, ALT_PRESET_FILE, ALT_PRESET_TEXT);
  await writeInRoot(root, RPM_MACROS_FILE, RPM_MACROS_TEXT);
  await writeInRoot(root, 'etc/hostname', 'podsec-node\n');
  // Booted copies get their own machine ID (systemd fills an empty file on first boot).
  await writeInRoot(root, 'etc/machine-id', '');
  await applyAltPresets(root, plan);
}

/**
 * On ALT, apt-get install nginx runs %post_systemd's preset under `disable *`; Debian's
 * maintainer scripts enabled them instead. Re-apply the policy to the units of every package
 * that came in for the tools (not needed by the systemd base).
 */
async function applyAltPresets(root: string, plan: PackagePlan): Promise<void> {
  const units = new Set<string>();
  for (const pkg of await toolClosure(root, plan)) for (const u of await packageUnits(root, pkg)) units.add(u);
  if (units.size > 0) {
    const r = await execa('systemctl', [`--root=${root}`, 'preset', ...[...units].sort()], { reject: false, stdin: 'ignore' });
    if (r.exitCode !== 0) throw new Error(`systemctl --root preset failed: ${r.stderr}`);
  }
}

interface DpkgPackage {
  name: string;
  depends: string[][];
  provides: string[];
  essential: boolean;
  priority: string;
}

/** Installed packages from the root's dpkg status file. */
async function dpkgStatus(root: string): Promise<Map<string, DpkgPackage>> {
  const text = await fs.readFile(join(root, 'var/lib/dpkg/status'), 'utf8');
  const packages = new Map<string, DpkgPackage>();
  const names = (v = '') =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const bare = (dep: string) => dep.trim().split(/[\s:(]/)[0]!;
  for (const para of text.split(/\n\n+/)) {
    const fields = new Map<string, string>();
    let key = '';
    for (const line of para.split('\n')) {
      if (/^\s/.test(line) && key) fields.set(key, `${fields.get(key)} ${line.trim()}`);
      else if (line.includes(':')) {
        key = line.slice(0, line.indexOf(':'));
        fields.set(key, line.slice(line.indexOf(':') + 1).trim());
      }
    }
    const name = fields.get('Package');
    if (!name || !/ installed$/.test(fields.get('Status') ?? '')) continue;
    packages.set(name, {
      name,
      depends: [...names(fields.get('Pre-Depends')), ...names(fields.get('Depends'))].map((alt) => alt.split('|').map(bare)),
      provides: names(fields.get('Provides')).map(bare),
      essential: fields.get('Essential') === 'yes',
      priority: fields.get('Priority') ?? '',
    });
  }
  return packages;
}

/** Installed packages that only the tool packages pulled in: all minus the base's dependency closure. */
async function toolClosure(root: string, plan: PackagePlan): Promise<string[]> {
  const installed = await dpkgStatus(root);
  const providers = new Map<string, string[]>();
  for (const p of installed.values()) {
    for (const v of [p.name, ...p.provides]) providers.set(v, [...(providers.get(v) ?? []), p.name]);
  }
  // The base: the packages asked for that are not tools, plus Essential and Priority: required ones.
  const tools = new Set(presetManagedPackages(plan));
  const base = new Set<string>();
  const queue = [...installed.values()]
    .filter((p) => p.essential || p.priority === 'required' || (plan.debian.includes(p.name) && !tools.has(p.name)))
    .map((p) => p.name);
  for (let i = 0; i < queue.length && i < 100_000; i++) {
    const name = queue[i]!;
    if (base.has(name)) continue;
    base.add(name);
    for (const alternatives of installed.get(name)?.depends ?? []) {
      for (const alt of alternatives) for (const provider of providers.get(alt) ?? []) if (!base.has(provider)) queue.push(provider);
    }
  }
  return [...installed.keys()].filter((n) => !base.has(n)).sort();
}

/** Installable unit files a Debian package ships (from dpkg's file list in the root). */
async function packageUnits(root: string, pkg: string): Promise<string[]> {
  const info = join(root, 'var/lib/dpkg/info');
  const list = [`${pkg}.list`, `${pkg}:amd64.list`].map((n) => join(info, n)).find((p) => existsSync(p));
  if (!list) return [];
  const units: string[] = [];
  for (const line of (await fs.readFile(list, 'utf8')).split('\n')) {
    const m = /^\/(?:usr\/)?lib\/systemd\/system\/([^/]+\.(?:service|socket|timer|path))$/.exec(line);
    if (!m || m[1]!.includes('@.')) continue;
    const text = await fs.readFile(join(root, line), 'utf8').catch(() => '');
    if (/^\s*\[Install\]/m.test(text)) units.push(m[1]!);
  }
  return units;
}

async function writeInRoot(root: string, rel: string, text: string): Promise<void> {
  const path = join(root, rel);
  await fs.mkdir(dirname(path), { recursive: true });
  await fs.rm(path, { force: true }); // never write through a symlink the base left there
  await fs.writeFile(path, text);
}

/** The base plus our RPMs, installed with their scriptlets. */
export async function ensureRootfs(options: RootfsOptions): Promise<RootfsResult> {
  if (options.rpms.length === 0) throw new Error('no RPMs to install: build them first (npm run build)');
  const rpms = await Promise.all([...options.rpms].sort().map(async (file) => ({ file: basename(file), path: resolve(file), sha256: await fileSha256(file) })));
  const base = await ensureBase(options);
  // Requirements the base already has (installed as dependencies) need no apt run.
  const installed = await dpkgStatus(base.path);
  const extra = base.plan.extra.filter((n) => !installed.has(n));
  const hash = contentHash({ v: ROOTFS_FORMAT, base: basename(base.path), extra, rpms: rpms.map(({ file, sha256 }) => ({ file, sha256 })) });
  const manifest: RootfsManifest = {
    kind: 'rootfs',
    base: basename(base.path),
    suite: options.suite ?? DEFAULT_SUITE,
    debianPackages: base.plan.debian,
    missing: base.plan.missing,
    rpms: rpms.map(({ file, sha256 }) => ({ file, sha256 })),
  };
  const entry = await cachedEntry(options.cacheDir, `rootfs-${short(hash)}`, async (tmp) => {
    options.log?.(`image: rpm -i ${rpms.length} RPMs into a copy of ${basename(base.path)}`);
    await copyTree(base.path, tmp);
    if (extra.length) {
      options.log?.(`image: apt-get install ${extra.join(' ')}`);
      await aptInstall(tmp, extra);
      await applyAltPresets(tmp, base.plan);
    }
    await rpmInstallInto(
      tmp,
      rpms.map((r) => r.path),
    );
    await writeInRoot(tmp, MANIFEST_PATH, JSON.stringify(manifest, null, 2) + '\n');
  });
  if (!entry.cached) await pruneEntries(options.cacheDir, 'rootfs-', KEEP_ENTRIES, [basename(entry.path)]);
  return { path: entry.path, base: base.path, cached: entry.cached, baseCached: base.cached, plan: base.plan, manifest };
}

/** A minbase Debian `suite` with `packages` at `target`, from the apt sources in `sourcesFile`. */
export async function mmdebstrap(suite: string, packages: readonly string[], target: string, sourcesFile: string, timeoutMs: number): Promise<void> {
  const result = await execa('mmdebstrap', ['--variant=minbase', `--include=${packages.join(',')}`, suite, target, sourcesFile], {
    reject: false,
    timeout: timeoutMs,
    forceKillAfterDelay: 10_000,
    stdin: 'ignore',
  });
  if (result.failed) {
    const why = result.timedOut ? `timed out after ${timeoutMs / 1000} s` : `exit code ${result.exitCode}`;
    throw new Error(`mmdebstrap ${why}:\n${String(result.stderr).slice(-8000)}`);
  }
}

/** apt-get install inside the root (its own apt sources, from mmdebstrap), lists removed after. */
async function aptInstall(root: string, packages: string[]): Promise<void> {
  const apt = async (argv: string[]) => {
    const r = await execa(
      'systemd-nspawn',
      ['-q', '-D', root, '--register=no', '--keep-unit', '--pipe', '--setenv=DEBIAN_FRONTEND=noninteractive', '--', ...argv],
      { reject: false, stdin: 'ignore', timeout: MMDEBSTRAP_TIMEOUT_MS },
    );
    if (r.exitCode !== 0) throw new Error(`${argv.join(' ')} in the image failed (${r.exitCode}):\n${r.stderr.slice(-6000)}`);
  };
  await apt(['apt-get', 'update', '-q']);
  await apt(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...packages]);
  await apt(['apt-get', 'clean']);
  await execa('rm', ['-rf', '--one-file-system', '--', join(root, 'var/lib/apt/lists')]);
  await fs.mkdir(join(root, 'var/lib/apt/lists/partial'), { recursive: true });
}

/** cp -a (reflinks where the filesystem has them), never crossing into mounts. */
export async function copyTree(from: string, to: string): Promise<void> {
  const r = await execa('cp', ['-a', '--reflink=auto', '--', from, to], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new Error(`cp -a ${from} ${to} failed: ${r.stderr}`);
}

/**
 * `rpm -i --nodeps --root`: the scriptlets run chrooted in `root` (%pre's groupadd changes its
 * /etc/group); rpm resolves %attr owners from the root's account files after %pre.
 */
export async function rpmInstallInto(root: string, rpms: string[], extra: string[] = []): Promise<void> {
  const db = ['--root', root, '--dbpath', '/var/lib/rpm'];
  const dbDir = join(root, 'var/lib/rpm');
  if (!existsSync(dbDir) || (await fs.readdir(dbDir)).length === 0) await execa('rpm', [...db, '--initdb']);
  const devNull = await fs.lstat(join(root, 'dev/null')).catch(() => undefined);
  if (!devNull?.isCharacterDevice()) {
    await fs.rm(join(root, 'dev/null'), { force: true });
    await fs.mkdir(join(root, 'dev'), { recursive: true });
    await execa('mknod', ['-m', '666', join(root, 'dev/null'), 'c', '1', '3']);
  }
  const r = await execa('rpm', ['-i', '--nodeps', ...db, ...extra, ...rpms], { reject: false, stdin: 'ignore', timeout: RPM_TIMEOUT_MS });
  if (r.exitCode !== 0) throw new Error(`rpm -i ${rpms.map((p) => basename(p)).join(' ')} failed (${r.exitCode}):\n${r.stderr}`);
  // A scriptlet that fails prints a warning and rpm still exits 0: treat it as a failure.
  const scriptletErrors = r.stderr.split('\n').filter((l) => /scriptlet failed|%(pre|post)(un)?\(.*\) scriptlet/.test(l));
  if (scriptletErrors.length) throw new Error(`rpm -i: scriptlet failures:\n${scriptletErrors.join('\n')}`);
}
