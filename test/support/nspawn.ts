/**
 * Boot a rootfs (normally an overlay from withOverlay) with systemd-nspawn, run commands in it and
 * stop it, per /work/shared/research/test-env.md §5. The one boot helper of the rootfs, node,
 * image, upgrade and cluster tests.
 *
 * The host has no systemd as PID 1, so there is no machined: `machinectl`,
 * `systemctl -M` and `systemd-run -M` do not work. We keep nspawn's PID, find
 * the container's PID 1 as its child and use `nsenter -t <leader> -a`.
 *
 * The network is private by default: a booted node's nginx or registry must never listen on the
 * host's interfaces unless a test asks for the host's network.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { execa } from 'execa';
import { isAlive, sleep } from '../../scripts/image/cache.ts';
import { assertNotCached, ownCgroup, removeCgroups, type RunResult } from './rootfs.ts';

export type NodeNetwork =
  /** The host's own network (nspawn without a network option). */
  | { kind: 'host' }
  /** --private-network: loopback only. */
  | { kind: 'private' }
  /** A veth whose host end is on `bridge` inside the test-made namespace /run/netns/<netns>. */
  | { kind: 'bridge'; netns: string; bridge: string }
  /** The test-made namespace /run/netns/<netns> itself (--network-namespace-path). */
  | { kind: 'netns'; netns: string };

export interface BootOptions {
  /** Machine name; nspawn's host-side veth of a bridged node is "vb-<name>" (15 characters at most). */
  name: string;
  /** Default: private. */
  network?: NodeNetwork;
  /** HOST:CONTAINER directories bound into the container (nspawn --bind). */
  binds?: string[];
  /** HOST:CONTAINER pairs bound read-only (nspawn --bind-ro). */
  bindRo?: string[];
  /**
   * System calls (or @groups) allowed on top of nspawn's default filter, which denies some that
   * a real host allows: e.g. `@keyring`, without which crun cannot give a container its own
   * session keyring ("create keyring: Operation not permitted"). The filter binds whatever the
   * node's own systemd starts; `exec` (nsenter from the host) is not under it.
   */
  allowSystemCalls?: string[];
  bootTimeoutMs?: number;
  /**
   * Keep the machine running after this process exits (npm run cluster): nspawn in its own
   * session, its output appended to this file; stop it later with stopMachine().
   */
  detachedLog?: string;
}

export interface Node {
  name: string;
  /** Host PID of the container's PID 1 (systemd). */
  leader: number;
  /** Host PID of the systemd-nspawn process. */
  pid: number;
  /** What `systemctl is-system-running --wait` answered. */
  state: 'running' | 'degraded';
  /** The machine's own cgroups (host paths), removed by stop() or stopMachine(). */
  cgroups: string[];
  /** ms from spawning nspawn to is-system-running answering running/degraded. */
  bootMs: number;
  exec(argv: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
  stop(): Promise<void>;
}

const LEADER_TIMEOUT_MS = 60_000;
const BOOT_TIMEOUT_MS = 90_000;
const BOOT_POLL_MS = 100;
const STOP_TIMEOUT_MS = 20_000;
const KILL_TIMEOUT_MS = 5_000;
const OUTPUT_TAIL = 16_000;
const NODE_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', SYSTEMD_COLORS: '0' };

/** Containers still running; SIGKILLed if the test process exits without stop(). */
const live = new Set<{ pid: number; leader: number }>();
process.on('exit', () => {
  for (const c of live) {
    for (const pid of [c.pid, c.leader]) {
      try {
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {}
    }
  }
});

function networkArgs(network: NodeNetwork): string[] {
  switch (network.kind) {
    case 'host':
      return [];
    case 'private':
      return ['--private-network'];
    case 'bridge':
      return [`--network-bridge=${network.bridge}`];
    case 'netns':
      return [`--network-namespace-path=/run/netns/${network.netns}`];
  }
}

export async function bootNode(root: string, options: BootOptions): Promise<Node> {
  await assertNotCached(root);
  const network = options.network ?? { kind: 'private' };
  const nspawn = [
    'systemd-nspawn',
    '-D',
    root,
    '-b',
    '--register=no',
    '--keep-unit',
    '-M',
    options.name,
    '--console=passive',
    ...networkArgs(network),
    ...(options.binds ?? []).map((b) => `--bind=${b}`),
    ...(options.bindRo ?? []).map((b) => `--bind-ro=${b}`),
    ...(options.allowSystemCalls?.length ? [`--system-call-filter=${options.allowSystemCalls.join(' ')}`] : []),
  ];
  // In a test network namespace, nspawn itself runs there so its veth's host end lands on the bridge.
  const argv = network.kind === 'bridge' ? ['nsenter', `--net=/run/netns/${network.netns}`, '--', ...nspawn] : nspawn;
  const cgroup = await ownCgroup();
  const [cmd, ...args] = cgroup.wrap(argv);
  const started = performance.now();
  const logFd = options.detachedLog ? openSync(options.detachedLog, 'a', 0o600) : undefined;
  const child = spawn(cmd, args, logFd === undefined ? { stdio: ['ignore', 'pipe', 'pipe'] } : { stdio: ['ignore', logFd, logFd], detached: true });
  if (logFd !== undefined) closeSync(logFd);
  if (child.pid === undefined) {
    await cgroup.remove();
    throw new Error('failed to spawn systemd-nspawn');
  }
  const pid = child.pid;
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-OUTPUT_TAIL));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exitCode: number | string | null | undefined;
  const exited = new Promise<void>((r) => child.on('exit', (code, signal) => ((exitCode = code ?? signal), r())));
  const entry = { pid, leader: 0 };
  if (logFd === undefined) live.add(entry);

  /** true if nspawn exited within `ms`; clears its timer so it never holds the event loop. */
  const waitExit = (ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
    return Promise.race([exited.then(() => true), timeout]).finally(() => clearTimeout(timer));
  };
  const stop = async () => {
    if (exitCode === undefined) {
      child.kill('SIGTERM'); // nspawn asks the container's systemd to shut down
      if (!(await waitExit(STOP_TIMEOUT_MS))) {
        for (const p of [pid, entry.leader]) if (p > 0 && isAlive(p)) process.kill(p, 'SIGKILL');
        if (!(await waitExit(KILL_TIMEOUT_MS))) throw new Error(`systemd-nspawn ${pid} did not exit`);
      }
    }
    live.delete(entry);
    await cgroup.remove();
  };
  const fail = async (msg: string): Promise<never> => {
    await stop().catch(() => {});
    const tail = options.detachedLog ? (await fs.readFile(options.detachedLog, 'utf8').catch(() => '')).slice(-OUTPUT_TAIL) : output;
    throw new Error(`${msg}\n--- systemd-nspawn output (tail) ---\n${tail}`);
  };

  // The leader: a child of nspawn that has exec'd (comm is no longer
  // systemd-nspawn) and is PID 1 in its own PID namespace.
  const leaderDeadline = Date.now() + LEADER_TIMEOUT_MS;
  for (let i = 0; !entry.leader; i++) {
    if (exitCode !== undefined) return fail(`systemd-nspawn exited (${exitCode}) before the container started`);
    if (Date.now() > leaderDeadline || i > LEADER_TIMEOUT_MS / 20) return fail('container PID 1 did not appear');
    entry.leader = (await findLeader(pid)) ?? 0;
    if (!entry.leader) await sleep(20);
  }
  const leader = entry.leader;

  const exec = (cmdArgv: string[], opts: { timeoutMs?: number } = {}) => execInMachine(leader, cmdArgv, opts);

  // Early calls fail with "Failed to connect to bus" until dbus is up;
  // after that `--wait` blocks until boot has finished.
  const bootTimeout = options.bootTimeoutMs ?? BOOT_TIMEOUT_MS;
  const bootDeadline = Date.now() + bootTimeout;
  let last = '';
  for (let i = 0; i < bootTimeout / BOOT_POLL_MS; i++) {
    if (exitCode !== undefined) return fail(`systemd-nspawn exited (${exitCode}) during boot`);
    const remaining = bootDeadline - Date.now();
    if (remaining <= 0) break;
    const r = await exec(['systemctl', 'is-system-running', '--wait'], { timeoutMs: remaining }).catch((e: Error) => ({
      stdout: '',
      stderr: e.message,
      exitCode: -1,
    }));
    const state = r.stdout.trim();
    if (state === 'running' || state === 'degraded') {
      if (options.detachedLog) child.unref();
      return { name: options.name, leader, pid, state, cgroups: cgroup.dirs, bootMs: performance.now() - started, exec, stop };
    }
    last = `${state} ${r.stderr.trim()}`.trim();
    await sleep(BOOT_POLL_MS);
  }
  return fail(`container ${options.name} did not finish booting in ${bootTimeout / 1000} s (last answer: ${last})`);
}

/** A command in a booted machine, entered from the host (all of its namespaces). */
export async function execInMachine(leader: number, argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  const r = await execa('nsenter', ['-t', String(leader), '-a', '--', ...argv], {
    reject: false,
    ...(opts.input === undefined ? { stdin: 'ignore' as const } : { input: opts.input }),
    env: NODE_ENV,
    extendEnv: false,
    timeout: opts.timeoutMs ?? 120_000,
  });
  if (r.timedOut) throw new Error(`exec ${argv.join(' ')} timed out:\n${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

/**
 * Stops a machine started by another process (a detached boot): SIGTERM to nspawn (its systemd
 * shuts down), SIGKILL to both after the timeout, then its cgroups are removed.
 */
export async function stopMachine(machine: { pid: number; leader: number; cgroups: string[] }, timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
  const gone = async (ms: number) => {
    for (let waited = 0; waited < ms; waited += 100) {
      if (!isAlive(machine.pid) && !isAlive(machine.leader)) return true;
      await sleep(100);
    }
    return false;
  };
  if (isAlive(machine.pid)) process.kill(machine.pid, 'SIGTERM');
  if (!(await gone(timeoutMs))) {
    for (const p of [machine.pid, machine.leader]) if (p > 0 && isAlive(p)) process.kill(p, 'SIGKILL');
    if (!(await gone(KILL_TIMEOUT_MS))) throw new Error(`systemd-nspawn ${machine.pid} did not exit`);
  }
  await removeCgroups(machine.cgroups);
}

async function findLeader(nspawnPid: number): Promise<number | undefined> {
  const tasks = await fs.readdir(`/proc/${nspawnPid}/task`).catch(() => []);
  for (const task of tasks) {
    const children = await fs.readFile(`/proc/${nspawnPid}/task/${task}/children`, 'utf8').catch(() => '');
    for (const c of children.split(' ').filter(Boolean)) {
      const comm = (await fs.readFile(`/proc/${c}/comm`, 'utf8').catch(() => '')).trim();
      const status = await fs.readFile(`/proc/${c}/status`, 'utf8').catch(() => '');
      const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [];
      if (comm && comm !== 'systemd-nspawn' && nspid.length > 1 && nspid.at(-1) === '1') return Number(c);
    }
  }
  return undefined;
}
