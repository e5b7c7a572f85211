/**
 * A cached Debian rootfs that stands in for an ALT Linux system in install
 * tests (ALT mirrors are unreachable from CI, so the rootfs is Debian's).
 *
 *   const lower = await ensureRootfs();          // built once, then cached
 *   await withOverlay(lower, async (root) => {   // throw-away writable copy
 *     await rpmInstall(root, ['x.rpm']);
 *     await runInRoot(root, ['/usr/bin/node', '--version']);
 *   });
 *
 * The cached directory is read-only by convention: never write to it, never
 * point rpm or nspawn at it. Use withOverlay. Needs root.
 */
import { createHash } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { cachedEntry, removeTree } from '../../scripts/image/cache.ts';
import { mmdebstrap } from '../../scripts/image/rootfs.ts';

/** Bump when the build recipe changes, so old caches are not reused. */
const FORMAT_VERSION = 1;
const SOURCES_FILE = '/etc/apt/sources.list.d/debian.sources';
const SUITE = 'bookworm';
const BUILD_TIMEOUT_MS = 10 * 60_000;

/**
 * systemd + dbus + logind's PAM module so the root boots under nspawn,
 * nodejs (v18 in bookworm) for our scripts, passwd for useradd/groupadd in
 * %pre. minbase already has /bin/sh, which `rpm -i --root` needs.
 */
export const DEFAULT_PACKAGES: readonly string[] = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'dbus-user-session',
  'libpam-systemd',
  'iproute2',
  'procps',
  'nodejs',
  'passwd',
];

function cacheDir(): string {
  return process.env.PODSEC_CACHE_DIR || '/var/cache/podsec-test';
}

/**
 * Returns the path of a cached `mmdebstrap --variant=minbase` rootfs that
 * contains `packages` (which replace DEFAULT_PACKAGES; spread the defaults
 * to add to them). Builds it on the first call, with the image builder's
 * content-addressed cache (scripts/image/cache.ts: concurrent callers wait on
 * a lock file instead of building twice; an entry is complete or absent).
 */
export async function ensureRootfs(options: { packages?: string[] } = {}): Promise<string> {
  const packages = [...new Set(options.packages ?? DEFAULT_PACKAGES)].sort();
  const sources = await fs.readFile(SOURCES_FILE, 'utf8');
  const hash = createHash('sha256')
    .update(JSON.stringify({ v: FORMAT_VERSION, packages, sources }))
    .digest('hex')
    .slice(0, 16);
  const name = `rootfs-${hash}`;
  const entry = await cachedEntry(
    cacheDir(),
    name,
    async (tmp) => {
      process.stderr.write(`[rootfs] building ${join(cacheDir(), name)} (${packages.join(',')}) ...\n`);
      await mmdebstrap(SUITE, packages, tmp, SOURCES_FILE, BUILD_TIMEOUT_MS);
    },
    { touch: false },
  ); // never pruned, and the lower dir of overlays: left as built

  return entry.path;
}

/** Throws if `root` is (inside) a cached rootfs: those must only be used as an overlay's lower dir. */
export async function assertNotCached(root: string): Promise<void> {
  const real = await fs.realpath(root);
  const cache = await fs.realpath(cacheDir()).catch(() => resolve(cacheDir()));
  if (real.startsWith(`${cache}/rootfs-`)) {
    throw new Error(`${root} is a cached rootfs; use withOverlay() to get a writable copy`);
  }
}

/**
 * A fresh overlayfs whose lower dir is `lower`, mounted at `<base>/root`; all writes go to a temp
 * upper dir. `remove()` unmounts it and deletes the temp dirs. Temp dirs live in /var/tmp: on
 * this machine /tmp is on the same disk, but /tmp is often a size-limited tmpfs and a booted
 * system plus installed RPMs can be large.
 */
export async function mountOverlay(lower: string, prefix = 'podsec-overlay-'): Promise<{ root: string; remove(): Promise<void> }> {
  if (/[,:\\]/.test(lower)) throw new Error(`overlay lowerdir must not contain , : or \\: ${lower}`);
  const base = await fs.mkdtemp(join('/var/tmp', prefix));
  const [upper, work, root] = ['upper', 'work', 'root'].map((d) => join(base, d)) as [string, string, string];
  try {
    await Promise.all([upper, work, root].map((d) => fs.mkdir(d)));
    await execa('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, root]);
  } catch (err) {
    await removeTree(base);
    throw err;
  }
  return {
    root,
    remove: async () => {
      const { failed } = await execa('umount', [root], { reject: false });
      if (failed) await execa('umount', ['-l', root], { reject: false });
      await removeTree(base);
    },
  };
}

/** Runs `fn` on a fresh overlay of `lower` (mountOverlay), removed afterwards. */
export async function withOverlay<T>(lower: string, fn: (root: string) => Promise<T>): Promise<T> {
  const overlay = await mountOverlay(lower);
  try {
    return await fn(overlay.root);
  } finally {
    await overlay.remove();
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * `rpm -i --nodeps` into `root` (scriptlets run chrooted in it, so %pre's
 * groupadd changes `root`'s /etc/group, not the host's).
 */
export async function rpmInstall(root: string, rpms: string[], extraArgs: string[] = []): Promise<{ stdout: string; stderr: string }> {
  await assertNotCached(root);
  const db = ['--root', root, '--dbpath', '/var/lib/rpm'];
  const dbDir = join(root, 'var/lib/rpm');
  if (!existsSync(dbDir) || (await fs.readdir(dbDir)).length === 0) await execa('rpm', [...db, '--initdb']);
  await ensureDevNull(root);
  const result = await execa('rpm', ['-i', '--nodeps', ...db, ...extraArgs, ...rpms.map((p) => resolve(p))], {
    reject: false,
    stdin: 'ignore',
  });
  if (result.exitCode !== 0) {
    throw new Error(`rpm -i ${rpms.map((p) => basename(p)).join(' ')} failed (${result.exitCode}):\n${result.stderr}`);
  }
  return { stdout: result.stdout, stderr: result.stderr };
}

/** %pre scriptlets redirect to /dev/null; make sure it is a real character device. */
async function ensureDevNull(root: string): Promise<void> {
  const path = join(root, 'dev/null');
  const st = await fs.lstat(path).catch(() => undefined);
  if (st?.isCharacterDevice() && st.rdev === 0x103) return;
  if (st) await fs.rm(path);
  await fs.mkdir(dirname(path), { recursive: true });
  await execa('mknod', ['-m', '666', path, 'c', '1', '3']);
  await fs.access(path, constants.W_OK);
}

/**
 * One-shot command in `root`. Uses systemd-nspawn rather than chroot: it
 * gives the command its own /proc, /dev, /sys, /run and PID namespace, so
 * nothing leaks to or from the host, and it works here without systemd as
 * PID 1 thanks to --register=no --keep-unit (no machined/bus needed).
 * --as-pid2 puts nspawn's stub init in front so the command is not PID 1.
 * The host environment is not passed in; use `env`.
 */
export async function runInRoot(root: string, argv: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
  await assertNotCached(root);
  const env = Object.entries(opts.env ?? {}).map(([k, v]) => `--setenv=${k}=${v}`);
  const cgroup = await ownCgroup();
  const [cmd, ...args] = cgroup.wrap(['systemd-nspawn', '-q', '-D', root, '--register=no', '--keep-unit', '--pipe', '--as-pid2', ...env, '--', ...argv]);
  const result = await execa(cmd, args, { reject: false, stdin: 'ignore', timeout: opts.timeoutMs ?? 120_000 }).finally(() => cgroup.remove());
  if (result.timedOut) throw new Error(`runInRoot ${argv.join(' ')} timed out:\n${result.stderr}`);
  return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode ?? -1 };
}

/*
 * With --keep-unit, systemd-nspawn splits the cgroup it was started in into
 * `supervisor` and `payload`. Started from the root cgroup (no systemd on
 * this host), every container would share /payload and leave it behind. So
 * each nspawn gets its own cgroup in the name=systemd and unified hierarchies
 * (hybrid host) or in /sys/fs/cgroup (pure cgroup v2), removed afterwards.
 */
let cgroupCounter = 0;
const CGROUP_ROOTS = ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified', '/sys/fs/cgroup'];
/** Fixed script, arguments passed as argv: join the cgroups, then exec (so the PID stays nspawn's). */
const JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; done; shift; exec "$@"';

export async function ownCgroup(): Promise<{ dirs: string[]; wrap(argv: string[]): [string, ...string[]]; remove(): Promise<void> }> {
  const id = `podsec-nspawn-${process.pid}-${++cgroupCounter}`;
  const dirs: string[] = [];
  for (const r of CGROUP_ROOTS) {
    if (!existsSync(join(r, 'cgroup.procs'))) continue;
    await fs.mkdir(join(r, id));
    dirs.push(join(r, id));
  }
  return {
    dirs,
    wrap: (argv) => ['sh', '-c', JOIN_CGROUPS, 'sh', ...dirs, '--', ...argv],
    remove: () => removeCgroups(dirs),
  };
}

/** rmdir the emptied cgroup trees, deepest first; best effort (fails harmlessly while in use). */
export async function removeCgroups(dirs: string[]): Promise<void> {
  const tree = async (d: string): Promise<string[]> => {
    const subs = (await fs.readdir(d, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory());
    return [...(await Promise.all(subs.map((e) => tree(join(d, e.name))))).flat(), d];
  };
  for (const d of dirs) for (const c of await tree(d)) await fs.rmdir(c).catch(() => {});
}
