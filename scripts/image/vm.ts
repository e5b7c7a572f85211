/**
 * The node as a VM: Debian's kernel, a busybox initramfs that loads the virtio, 9p and overlay
 * modules, mounts the rootfs read-only over 9p with a tmpfs overlay on top (the rootfs on disk
 * is never written), and switches to its systemd. Booted with qemu: TCG by default (on the CI
 * machines /dev/kvm answers but qemu hangs in SeaBIOS, their CPUs lacking vmx/svm; TCG boots to
 * multi-user in about 11 s), `accel: 'kvm'` where it works.
 *
 * Extra files for one boot (a check unit, say) go in a second cpio archive appended to the
 * initramfs: everything under `payload/` is copied into the root before systemd starts.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, openSync, closeSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { cachedEntry, fileSha256, pruneEntries } from './cache.ts';
import { type CpioEntry, withParents, writeCpio } from './cpio.ts';
import { ensureKernel, resolveModules, type Kernel, type ResolvedModule } from './kernel.ts';

export const INITRAMFS_FORMAT = 3;
/** What the initramfs must load to mount a 9p root with an overlay (dependencies are added). */
export const INITRAMFS_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];
export const NINEP_TAG = 'rootfs';
export const PAYLOAD_DIR = 'payload';

/**
 * /init of the initramfs (busybox sh). A fixed script: it takes no input but the files beside it.
 * Any failure powers the VM off with a line on the console instead of hanging.
 */
export const INIT_SCRIPT = `#!/bin/busybox sh
B=/bin/busybox
$B mkdir -p /proc /sys /dev /lower /rw /newroot
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
fail() { echo "podsec-initramfs: $*" >/dev/console; $B sleep 1; $B poweroff -f; }
while read -r m; do
  $B insmod "/lib/modules/$m" || fail "insmod $m failed"
done < /etc/podsec-modules
$B mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose ${NINEP_TAG} /lower || fail "cannot mount the 9p rootfs"
$B mount -t tmpfs -o mode=0755 tmpfs /rw || fail "cannot mount tmpfs"
$B mkdir -p /rw/upper /rw/work
$B mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "cannot mount the overlay"
if [ -d /${PAYLOAD_DIR} ]; then $B cp -a /${PAYLOAD_DIR}/. /newroot/ || fail "cannot copy the payload"; fi
[ -x /newroot/sbin/init ] || [ -L /newroot/sbin/init ] || fail "no /sbin/init in the rootfs"
for d in dev sys proc; do $B mount --move /$d /newroot/$d; done
exec $B switch_root /newroot /sbin/init
`;

export interface VmImage {
  kernel: Kernel;
  vmlinuz: string;
  initrd: string;
  rootfs: string;
  modules: ResolvedModule[];
}

async function findBusybox(): Promise<string> {
  for (const candidate of ['/bin/busybox', '/usr/bin/busybox']) {
    if (!existsSync(candidate)) continue;
    const r = await execa('file', ['-L', candidate], { reject: false });
    // Without `file`, trust the busybox-static package's path.
    if (r.exitCode !== 0 || /statically linked|static-pie/.test(r.stdout)) return candidate;
  }
  throw new Error('a static busybox is needed for the initramfs: apt-get install busybox-static');
}

/** The kernel and the initramfs for `rootfs` (the initramfs does not depend on the rootfs). */
export async function ensureVm(rootfs: string, cacheDir: string, log?: (line: string) => void): Promise<VmImage> {
  const kernel = await ensureKernel(cacheDir, log);
  const modules = await resolveModules(kernel, INITRAMFS_MODULES);
  const busybox = await findBusybox();
  const key = createHash('sha256')
    .update(JSON.stringify({ v: INITRAMFS_FORMAT, kernel: kernel.version, modules, init: INIT_SCRIPT, busybox: await fileSha256(busybox) }))
    .digest('hex')
    .slice(0, 16);
  const entry = await cachedEntry(cacheDir, `initrd-${key}.img`, async (tmp) => {
    log?.(`image: initramfs with ${modules.map((m) => m.name).join(' ')}`);
    const entries: CpioEntry[] = [
      { type: 'file', path: 'init', data: INIT_SCRIPT, mode: 0o755 },
      { type: 'file', path: 'bin/busybox', data: await fs.readFile(busybox), mode: 0o755 },
      { type: 'file', path: 'etc/podsec-modules', data: modules.map((m) => m.file).join('\n') + '\n' },
      { type: 'dir', path: 'dev' },
      { type: 'chardev', path: 'dev/console', major: 5, minor: 1 },
      { type: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666 },
    ];
    for (const m of modules) entries.push({ type: 'file', path: `lib/modules/${m.file}`, data: await fs.readFile(join(kernel.modulesDir, m.file)) });
    await fs.writeFile(tmp, await writeCpio(withParents(entries)));
  });
  if (!entry.cached) await pruneEntries(cacheDir, 'initrd-', 2, [`initrd-${key}.img`]);
  return { kernel, vmlinuz: kernel.vmlinuz, initrd: entry.path, rootfs, modules };
}

export interface QemuOptions {
  /** Default tcg. */
  accel?: 'tcg' | 'kvm';
  memoryMb?: number;
  cpus?: number;
  /** The initramfs to boot (defaults to the image's; a copy with a payload appended for checks). */
  initrd?: string;
  /** ttyS0: the kernel and systemd console. */
  consoleLog: string;
  /** ttyS1: a clean channel for results written by units in the guest. */
  resultsLog?: string;
  extraKernelArgs?: string[];
}

/** Kernel command line: serial console, no reboot loops, no getty waiting for a udev device. */
export function kernelCommandLine(extra: string[] = []): string {
  return ['console=ttyS0', 'panic=-1', 'loglevel=4', 'systemd.mask=serial-getty@ttyS0.service', 'systemd.show_status=1', ...extra].join(' ');
}

export function qemuArgv(vm: VmImage, o: QemuOptions): string[] {
  return [
    'qemu-system-x86_64',
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-accel',
    o.accel ?? 'tcg',
    '-m',
    String(o.memoryMb ?? 1024),
    '-smp',
    String(o.cpus ?? 2),
    '-kernel',
    vm.vmlinuz,
    '-initrd',
    o.initrd ?? vm.initrd,
    '-append',
    kernelCommandLine(o.extraKernelArgs),
    '-virtfs',
    `local,path=${vm.rootfs},mount_tag=${NINEP_TAG},security_model=passthrough,readonly=on`,
    '-serial',
    `file:${o.consoleLog}`,
    ...(o.resultsLog ? ['-serial', `file:${o.resultsLog}`] : []),
  ];
}

/** The image's initramfs with `payload` (paths relative to the guest's /) appended as a second archive. */
export async function initrdWithPayload(vm: VmImage, payload: CpioEntry[], out: string): Promise<string> {
  const extra = await writeCpio(withParents(payload.map((e) => ({ ...e, path: `${PAYLOAD_DIR}/${e.path.replace(/^\/+/, '')}` }))));
  await fs.writeFile(out, Buffer.concat([await fs.readFile(vm.initrd), extra]));
  return out;
}

export interface BootResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  elapsedMs: number;
  console: string;
  results: string;
}

/**
 * Runs qemu until the guest powers off or `timeoutMs` passes (then qemu is killed by its PID).
 * The guest's console and results channel are files in `workDir`.
 */
export async function runVm(vm: VmImage, o: { workDir: string; timeoutMs: number; payload?: CpioEntry[]; accel?: 'tcg' | 'kvm' }): Promise<BootResult> {
  const consoleLog = join(o.workDir, 'console.log');
  const resultsLog = join(o.workDir, 'results.log');
  for (const f of [consoleLog, resultsLog]) closeSync(openSync(f, 'w'));
  const initrd = o.payload ? await initrdWithPayload(vm, o.payload, join(o.workDir, 'initrd.img')) : vm.initrd;
  const [cmd, ...args] = qemuArgv(vm, { consoleLog, resultsLog, initrd, accel: o.accel });
  const started = performance.now();
  const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-8000)));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, o.timeoutMs);
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, sig) => resolve([code, sig]));
  }).finally(() => {
    clearTimeout(timer);
    process.removeListener('exit', killOnExit);
  });
  const elapsedMs = performance.now() - started;
  const read = (f: string) => fs.readFile(f, 'utf8').catch(() => '');
  return {
    exitCode,
    signal,
    timedOut,
    elapsedMs,
    console: (await read(consoleLog)) + (stderr ? `\n--- qemu stderr ---\n${stderr}` : ''),
    results: await read(resultsLog),
  };
}
