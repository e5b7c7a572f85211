/**
 * Fixtures for the image-maker, OCI archive and sigstore tests (trust-fixtures.ts and netns.ts
 * give the services, trees and namespaces; this file builds on them).
 *
 *   seedAccounts(root)             the host's account files in a --root tree (root, system users,
 *                                  login.defs) plus podman/podman_dev, so useradd --prefix behaves
 *                                  as on a node
 *   startMaster()                  a master in its own network namespace: create-policy --role
 *                                  master, docker-registry on <ip>:80 and nginx on <ip>:81 with
 *                                  podsec's configs, the tree's files at their real paths for
 *                                  the users' processes (root-view.mjs: nothing on the host changes)
 *   master.asUser(user, argv)      runs argv as a user of the tree, in a login-like environment,
 *                                  inside the master's namespace with the tree mounted
 *   buildImage()/saveArchive()     a busybox-static image made with podman import, saved with
 *                                  podsec-save-oci into <arch>.tar.xz
 *   removeTree(root)               clears the immutable attribute first (podman users' dirs)
 *   trixieContainerTools()         skopeo 1.18 and podman 5.4 from Debian trixie in a private
 *                                  prefix: bookworm's skopeo 1.9.3 and podman 4.3.1 are built with
 *                                  sigstore disabled ("Debian-local change: sigstore disabled")
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'uvu';
import type { Ran } from './exec.ts';
import { hasTool } from './tools.ts';
import { hostDebianMirror } from '../../scripts/image/debian-mirror.ts';
import { privateAptOptions } from '../../scripts/k8s-tools/build.ts';
import { createNetnsPair, type NetnsPair } from './netns.ts';
import { stopPodmanPause } from './podman-user.ts';
import {
  bundledProgram,
  makeTree,
  PODMAN_DEV_GID,
  PODMAN_GID,
  rootViewArgs,
  runCommand,
  runProgram,
  startRegistry,
  startSigstoreServer,
  type RunOptions,
  type Service,
} from './trust-fixtures.ts';
import { enterableTempDir } from './temp-dir.ts';

export const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const ACCEPT_ANYTHING = '{"default":[{"type":"insecureAcceptAnything"}]}\n';

/** The tree's account files from the host (root and system accounts as on a real system) plus podsec's groups. */
export function seedAccounts(root: string): void {
  for (const file of ['passwd', 'group', 'shadow', 'gshadow', 'subuid', 'subgid', 'login.defs']) {
    const source = join('/etc', file);
    if (existsSync(source)) copyFileSync(source, join(root, 'etc', file));
    else writeFileSync(join(root, 'etc', file), '');
  }
  appendFileSync(join(root, 'etc/group'), `podman:x:${PODMAN_GID}:\npodman_dev:x:${PODMAN_DEV_GID}:\n`);
  appendFileSync(join(root, 'etc/gshadow'), 'podman:!::\npodman_dev:!::\n');
  mkdirSync(join(root, 'home'), { mode: 0o755, recursive: true });
  writeFileSync(join(root, 'etc/os-release'), 'NAME="ALT SP Server"\nID=altlinux\nALT_BRANCH_ID=c10f2\nCPE_NAME="cpe:/o:alt:spserver:10"\n');
}

/** Removes a test tree, including podman users' immutable directories and rootless storage. */
export function removeTree(root: string): void {
  if (!existsSync(root)) return;
  if (existsSync(join(root, 'home'))) spawnSync('chattr', ['-R', '-f', '-i', join(root, 'home')], { stdio: 'ignore', timeout: 60_000 });
  rmSync(root, { recursive: true, force: true });
}

/** A busybox-static root file system as a tar (deterministic); `variant` changes its content (another digest). */
export function busyboxTar(dir: string, variant: string, programs: Record<string, string> = {}): string {
  const rootfs = join(dir, `rootfs-${variant}`);
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  mkdirSync(join(rootfs, 'etc'), { recursive: true });
  for (const [name, source] of Object.entries({ busybox: '/bin/busybox', ...programs })) {
    copyFileSync(source, join(rootfs, 'bin', name));
    chmodSync(join(rootfs, 'bin', name), 0o755);
  }
  for (const applet of ['sh', 'echo', 'cat', 'true', 'id', 'ls']) symlinkSync('busybox', join(rootfs, 'bin', applet));
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc/variant'), `${variant}\n`);
  const tar = join(dir, `busybox-${variant}.tar`);
  const r = spawnSync('tar', ['--sort=name', '--mtime=@1700000000', '--owner=0', '--group=0', '--numeric-owner', '-C', rootfs, '-cf', tar, '.'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
  return tar;
}

/** Root's private image store for building test images (vfs: no mounts needed). */
export interface ImageStore {
  dir: string;
  /** skopeo's transport prefix for it. */
  transport: string;
  policy: string;
}

export function imageStore(work: string): ImageStore {
  const dir = join(work, 'images');
  mkdirSync(dir, { recursive: true });
  const policy = join(work, 'accept.json');
  writeFileSync(policy, ACCEPT_ANYTHING);
  return { dir, transport: `containers-storage:[vfs@${dir}/storage+${dir}/run]`, policy };
}

/** podman import of a busybox rootfs as localhost/<name> into the store. */
/** `programs`: more static programs for /bin, by name and the host file they are copied from. */
export async function buildImage(store: ImageStore, name: string, variant: string, programs?: Record<string, string>): Promise<void> {
  const tar = busyboxTar(store.dir, variant, programs);
  const ran = await runCommand(
    'podman',
    [
      '--root',
      `${store.dir}/storage`,
      '--runroot',
      `${store.dir}/run`,
      '--storage-driver',
      'vfs',
      'import',
      '--change',
      'CMD ["/bin/sh"]',
      '--change',
      `LABEL variant=${variant}`,
      tar,
      `localhost/${name}`,
    ],
    { timeoutMs: 120_000, env: { ...process.env, CONTAINERS_POLICY_JSON: store.policy } },
  );
  if (ran.exitCode !== 0) throw new Error(`podman import ${name}: ${ran.stderr}`);
}

/** podsec-save-oci of images from the store into `<ociDir>/<arch>.tar.xz` (at xz's default level 9 unless `level` is given). */
export async function saveArchive(store: ImageStore, ociDir: string, arch: string, images: string[], timeoutMs = 300_000, level?: number): Promise<Ran> {
  const compression = level === undefined ? [] : ['--compression-level', String(level)];
  return runProgram(
    'podsec-save-oci',
    ['--registry', 'localhost', '--signature-policy', store.policy, ...compression, ociDir, arch, store.transport, ...images],
    { timeoutMs },
  );
}

interface AsUserOptions {
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
  /** More files or directories mounted over the tree's view: [source on the host, path seen by the user]. */
  binds?: [string, string][];
}

export interface MasterEnv {
  pair: NetnsPair;
  address: string;
  root: string;
  work: string;
  registry: Service;
  nginx: Service;
  /** A bundled podsec program as root with --root <tree>, inside the master's namespace. */
  program(name: string, args: string[], options?: RunOptions): Promise<Ran>;
  /** argv as `user` of the tree, with the tree mounted at the real paths, in the master's namespace. */
  asUser(user: string, argv: string[], options?: AsUserOptions): Promise<Ran>;
  /** Directory of the bundled programs as commands (for PATH). */
  bin: string;
  /** Stops what the tree's users left running, by PID: gpg agents and rootless podman's pause process. */
  stopUserProcesses(users: string[]): Promise<void>;
  stop(): Promise<void>;
}

const ROOT_VIEW_BINDS = [
  '/etc/passwd',
  '/etc/group',
  '/etc/shadow',
  '/etc/gshadow',
  '/etc/subuid',
  '/etc/subgid',
  '/etc/hosts',
  '/etc/containers',
  '/var/sigstore',
  '/home',
];

/** The bundled programs as commands in one world-readable directory. */
async function programDir(work: string, names: string[]): Promise<string> {
  const bin = join(work, 'bin');
  mkdirSync(bin, { recursive: true, mode: 0o755 });
  chmodSync(bin, 0o755);
  for (const name of names) {
    const bundle = await bundledProgram(name);
    writeFileSync(join(bin, name), `#!/bin/sh\nexec ${process.execPath} ${bundle} "$@"\n`, { mode: 0o755 });
  }
  return bin;
}

/**
 * A suite's master: started before its tests when every one of `tools` is installed (`setUp` runs
 * next, on it), and stopped after them, first the processes of `users`.
 */
export function useMaster(suite: Test, label: string, tools: string[], users: string[], setUp: (m: MasterEnv) => unknown): void {
  let m: MasterEnv | undefined;
  suite.before(async () => {
    if (tools.some((tool) => !hasTool(tool))) return;
    m = await startMaster(label);
    await setUp(m);
  });
  suite.after(async () => {
    if (!m) return;
    await m.stopUserProcesses(users);
    await m.stop();
  });
}

export async function startMaster(label: string): Promise<MasterEnv> {
  const pair = createNetnsPair();
  const work = enterableTempDir(`podsec-${label}-`);
  const root = makeTree(label);
  seedAccounts(root);
  const started: Service[] = [];
  const cleanup = async () => {
    for (const service of started.reverse()) await service.stop();
    pair.remove();
    removeTree(root);
    removeTree(work);
  };
  try {
    const inMaster = (name: string, args: string[], options: RunOptions = {}) =>
      runProgram(name, ['--root', root, ...args], { netns: pair.master, timeoutMs: 180_000, ...options });
    const policy = await inMaster('podsec-create-policy', ['--role', 'master', pair.master.address]);
    if (policy.exitCode !== 0) throw new Error(`create-policy: ${policy.stderr}`);
    mkdirSync(join(work, 'registry'), { mode: 0o755 });
    mkdirSync(join(work, 'registry-config'), { mode: 0o755 });
    mkdirSync(join(work, 'nginx'), { mode: 0o755 });
    const registry = await startRegistry({
      addr: `${pair.master.address}:80`,
      storage: join(work, 'registry'),
      netns: pair.master,
      configDir: join(work, 'registry-config'),
    });
    started.push(registry);
    const nginx = await startSigstoreServer({
      listen: `${pair.master.address}:81`,
      documentRoot: join(root, 'var/sigstore'),
      netns: pair.master,
      prefix: join(work, 'nginx'),
    });
    started.push(nginx);
    const bin = await programDir(work, ['podsec-load-sign-oci']);
    const runtime = join(work, 'run');
    mkdirSync(runtime, { mode: 0o755 });
    const scratchBase = join(work, 'scratch');
    mkdirSync(scratchBase, { mode: 0o700 });
    let views = 0;
    const asUser: MasterEnv['asUser'] = async (user, argv, options = {}) => {
      const uid = Number(spawnSync('awk', ['-F:', `$1=="${user}"{print $3}`, join(root, 'etc/passwd')], { encoding: 'utf8' }).stdout.trim());
      if (!Number.isInteger(uid) || uid <= 0) throw new Error(`no user ${user} in the tree`);
      const xdg = join(runtime, String(uid));
      if (!existsSync(xdg)) {
        mkdirSync(xdg, { mode: 0o700 });
        chownSync(xdg, uid, PODMAN_GID);
      }
      const scratch = join(scratchBase, String(views++));
      mkdirSync(scratch);
      const env = [
        `HOME=/home/${user}`,
        `USER=${user}`,
        `LOGNAME=${user}`,
        `PATH=${options.env?.PATH ?? `${bin}:${HOST_PATH}`}`,
        `XDG_RUNTIME_DIR=${xdg}`,
        'LANG=C',
        ...Object.entries(options.env ?? {})
          .filter(([k]) => k !== 'PATH')
          .map(([k, v]) => `${k}=${v}`),
      ];
      const binds = [...ROOT_VIEW_BINDS.map((path) => [join(root, path), path]), ...(options.binds ?? [])].flatMap(([source, target]) => [
        '--bind',
        `${source}:${target}`,
      ]);
      // nsenter joins only the network namespace: `ip netns exec` would also remount /sys,
      // which hides /sys/fs/cgroup from crun.
      return runCommand(
        'nsenter',
        [`--net=/run/netns/${pair.master.name}`, '--', 'unshare', ...rootViewArgs(scratch, binds, ['runuser', '-u', user, '--', 'env', '-i', ...env, ...argv])],
        // The checkout may be private (a 0700 temp dir); the user's processes start in /.
        { timeoutMs: options.timeoutMs ?? 180_000, input: options.input, cwd: '/' },
      );
    };
    const stopUserProcesses = async (users: string[]) => {
      for (const user of users) await asUser(user, ['gpgconf', '--kill', 'all']).catch(() => undefined);
      for (const uid of readdirSync(runtime)) stopPodmanPause(join(runtime, uid));
    };
    return { pair, address: pair.master.address, root, work, registry, nginx, program: inMaster, asUser, bin, stopUserProcesses, stop: cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

// ------------------------------------------------------------------------------------------------
// Debian trixie's skopeo and podman (sigstore enabled), for the sigstore tests only.

const TRIXIE = { skopeo: '1.18.0+ds1-1+b5', podman: '5.4.2+ds1-2+b2' } as const;
const TRIXIE_PACKAGES = [
  `skopeo=${TRIXIE.skopeo}`,
  `podman=${TRIXIE.podman}`,
  'netavark',
  'crun',
  'libyajl2',
  'libc6',
  'libgpgme11t64',
  'libsqlite3-0',
  'libassuan9',
  'libgpg-error0',
  'libseccomp2',
  'libsubid5',
];

export interface TrixieTools {
  /** Directory with skopeo and podman (put it first on PATH). */
  bin: string;
  /** containers.conf that points podman 5 at its helper binaries. */
  containersConf: string;
}

function cacheRoot(): string {
  return process.env.PODSEC_CACHE_DIR || '/var/cache/podsec-test';
}

/**
 * Downloads the packages from Debian's trixie suite with apt in a private state directory (the
 * host's apt configuration and dpkg database are not changed), unpacks them into a prefix and
 * points the binaries at the prefix's libc with patchelf. Cached by version.
 */
export function trixieContainerTools(): TrixieTools {
  const id = createHash('sha256').update(JSON.stringify(TRIXIE_PACKAGES)).digest('hex').slice(0, 12);
  const prefix = join(cacheRoot(), `trixie-containers-${id}`);
  const result: TrixieTools = { bin: join(prefix, 'bin'), containersConf: join(prefix, 'containers.conf') };
  if (existsSync(join(prefix, 'ready'))) return result;
  mkdirSync(cacheRoot(), { recursive: true });
  const staging = mkdtempSync(join(cacheRoot(), 'trixie-staging-'));
  const must = (command: string, args: string[], cwd?: string) => {
    const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
    return r.stdout;
  };
  try {
    const apt = join(staging, 'apt');
    for (const d of ['lists/partial', 'cache/archives/partial']) mkdirSync(join(apt, d), { recursive: true });
    writeFileSync(join(apt, 'sources.list'), `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${hostDebianMirror()} trixie main\n`);
    const options = privateAptOptions(apt);
    must('apt-get', [...options, '-q', 'update']);
    const debs = join(staging, 'debs');
    mkdirSync(debs);
    must('apt-get', [...options, '-q', 'download', ...TRIXIE_PACKAGES], debs);
    const tree = join(staging, 'tree');
    for (const deb of readdirSync(debs)) must('dpkg-deb', ['-x', join(debs, deb), tree]);
    const out = join(staging, 'prefix');
    mkdirSync(join(out, 'bin'), { recursive: true });
    mkdirSync(join(out, 'helpers'), { recursive: true });
    renameSync(join(tree, 'usr/lib/x86_64-linux-gnu'), join(out, 'lib'));
    for (const [from, to] of [
      ['usr/bin/skopeo', 'bin/skopeo'],
      ['usr/bin/podman', 'bin/podman'],
      ['usr/lib/podman/netavark', 'helpers/netavark'],
      ['usr/bin/crun', 'bin/crun'],
    ] as const) {
      copyFileSync(join(tree, from), join(out, to));
      chmodSync(join(out, to), 0o755);
      must('patchelf', ['--set-interpreter', join(prefix, 'lib/ld-linux-x86-64.so.2'), '--force-rpath', '--set-rpath', join(prefix, 'lib'), join(out, to)]);
    }
    // podman 5 writes OCI specs that bookworm's crun 1.8 refuses ("unknown version specified").
    writeFileSync(
      join(out, 'containers.conf'),
      `[engine]\nhelper_binaries_dir = ["${join(prefix, 'helpers')}"]\nruntime = "crun"\n\n[engine.runtimes]\ncrun = ["${join(prefix, 'bin/crun')}"]\n`,
    );
    writeFileSync(join(out, 'ready'), `${TRIXIE_PACKAGES.join('\n')}\n`);
    spawnSync('chmod', ['-R', 'a+rX', out]);
    rmSync(prefix, { recursive: true, force: true });
    renameSync(out, prefix);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return result;
}
