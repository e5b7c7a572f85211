/**
 * The VM's kernel: Debian's linux-image package, fetched with `apt-get download` (the host's
 * apt sources, no other network) and unpacked into the cache. The modules the initramfs needs
 * are found by name with their `depends=` from each module's .modinfo section (the package ships
 * no modules.dep: its postinst runs depmod), so no kmod tools are needed on the host.
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { cachedEntry, pruneEntries } from './cache.ts';

const APT_TIMEOUT_MS = 10 * 60_000;
export const KERNEL_META_PACKAGE = 'linux-image-amd64';

/** The versioned kernel package the meta package points at (PODSEC_KERNEL_PACKAGE overrides it). */
export async function kernelPackage(): Promise<string> {
  if (process.env.PODSEC_KERNEL_PACKAGE) return process.env.PODSEC_KERNEL_PACKAGE;
  const r = await execa('apt-cache', ['depends', KERNEL_META_PACKAGE], { reject: false, stdin: 'ignore' });
  const match = /Depends: (linux-image-[^\s]+)/.exec(r.stdout);
  if (r.exitCode !== 0 || !match) {
    throw new Error(`cannot find the kernel package behind ${KERNEL_META_PACKAGE} (apt-cache depends: ${r.stderr.trim() || 'no Depends'}); run apt-get update`);
  }
  return match[1]!;
}

export interface Kernel {
  /** The unpacked package (boot/, lib/modules/<version>/). */
  dir: string;
  version: string;
  vmlinuz: string;
  modulesDir: string;
}

/** Downloads and unpacks the kernel package once per package name (the name carries the ABI). */
export async function ensureKernel(cacheDir: string, log?: (line: string) => void): Promise<Kernel> {
  const pkg = await kernelPackage();
  const entry = await cachedEntry(cacheDir, `kernel-${pkg}`, async (tmp) => {
    log?.(`image: apt-get download ${pkg}`);
    const download = `${tmp}.download`;
    await fs.rm(download, { recursive: true, force: true });
    await fs.mkdir(download, { recursive: true });
    try {
      const r = await execa('apt-get', ['download', pkg], { cwd: download, reject: false, stdin: 'ignore', timeout: APT_TIMEOUT_MS });
      const deb = (await fs.readdir(download)).find((n) => n.endsWith('.deb'));
      if (r.exitCode !== 0 || !deb) throw new Error(`apt-get download ${pkg} failed (${r.exitCode}): ${r.stderr.trim()}`);
      const x = await execa('dpkg-deb', ['-x', join(download, deb), tmp], { reject: false, stdin: 'ignore', timeout: APT_TIMEOUT_MS });
      if (x.exitCode !== 0) throw new Error(`dpkg-deb -x ${deb} failed: ${x.stderr}`);
    } finally {
      await fs.rm(download, { recursive: true, force: true });
    }
    await fs.rm(join(tmp, 'usr/share/doc'), { recursive: true, force: true });
  });
  if (!entry.cached) await pruneEntries(cacheDir, 'kernel-', 2, [`kernel-${pkg}`]);
  const modulesRoot = existsSync(join(entry.path, 'lib/modules')) ? join(entry.path, 'lib/modules') : join(entry.path, 'usr/lib/modules');
  const versions = await fs.readdir(modulesRoot);
  if (versions.length !== 1) throw new Error(`${modulesRoot}: expected one kernel version, found ${versions.join(', ') || 'none'}`);
  const version = versions[0]!;
  const vmlinuz = join(entry.path, 'boot', `vmlinuz-${version}`);
  if (!existsSync(vmlinuz)) throw new Error(`${vmlinuz} missing from ${pkg}`);
  return { dir: entry.path, version, vmlinuz, modulesDir: join(modulesRoot, version) };
}

/** Module names use `_`; file names may use `-`. */
const normalize = (name: string) => name.replace(/-/g, '_');

async function walk(dir: string, out: string[] = []): Promise<string[]> {
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) await walk(join(dir, e.name), out);
    else if (e.name.endsWith('.ko')) out.push(join(dir, e.name));
  }
  return out;
}

/** The `depends=` list of a module's .modinfo section (NUL-separated `key=value` strings). */
export function moduleDepends(ko: Buffer): string[] {
  const marker = Buffer.from('\0depends=');
  const at = ko.indexOf(marker);
  if (at < 0) return [];
  const start = at + marker.length;
  const end = ko.indexOf(0, start);
  return ko
    .subarray(start, end < 0 ? undefined : end)
    .toString('latin1')
    .split(',')
    .filter(Boolean)
    .map(normalize);
}

export interface ResolvedModule {
  name: string;
  /** Relative to the kernel's modules dir, e.g. kernel/fs/9p/9p.ko. */
  file: string;
}

/**
 * `wanted` and their dependencies, dependencies first; built-in modules (modules.builtin) are
 * left out. Throws naming a module that is neither a file nor built in.
 */
export async function resolveModules(kernel: Kernel, wanted: string[]): Promise<ResolvedModule[]> {
  const files = new Map<string, string>();
  for (const path of await walk(join(kernel.modulesDir, 'kernel'))) {
    files.set(normalize(path.slice(path.lastIndexOf('/') + 1, -'.ko'.length)), path);
  }
  const builtinText = await fs.readFile(join(kernel.modulesDir, 'modules.builtin'), 'utf8').catch(() => '');
  const builtin = new Set(
    builtinText
      .split('\n')
      .filter(Boolean)
      .map((l) => normalize(l.slice(l.lastIndexOf('/') + 1, -'.ko'.length))),
  );
  const order: ResolvedModule[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = async (name: string, chain: string[]): Promise<void> => {
    if (state.get(name) === 'done' || builtin.has(name)) return;
    if (state.get(name) === 'visiting') throw new Error(`module dependency cycle: ${[...chain, name].join(' -> ')}`);
    if (chain.length > 64) throw new Error(`module dependency chain too deep: ${chain.join(' -> ')}`);
    const path = files.get(name);
    if (!path) throw new Error(`kernel ${kernel.version} has no module ${name} (needed by ${chain.join(' -> ') || 'the initramfs'})`);
    state.set(name, 'visiting');
    for (const dep of moduleDepends(await fs.readFile(path))) await visit(dep, [...chain, name]);
    state.set(name, 'done');
    order.push({ name, file: relative(kernel.modulesDir, path) });
  };
  for (const name of wanted) await visit(normalize(name), []);
  return order;
}
