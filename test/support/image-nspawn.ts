/**
 * Booting node images with systemd-nspawn for the image, boot and upgrade tests. Like
 * nspawn.ts's bootContainer (same leader discovery and nsenter exec, research/test-env.md §5),
 * plus what those tests need: a private network by default (a booted node's nginx or registry
 * must never listen on the host's interfaces), a bridge inside a test-made network namespace,
 * and read-only binds.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { execa } from 'execa';
import { assertNotCached, isAlive, ownCgroup, sleep, type RunResult } from './rootfs.ts';

export type NodeNetwork = { kind: 'private' } | { kind: 'bridge'; netns: string; bridge: string };

export interface BootOptions {
  name: string;
  network?: NodeNetwork;
  /** host:guest pairs bound read-only. */
  bindRo?: string[];
  /**
   * System calls (or @groups) allowed on top of nspawn's default filter, which denies some that
   * a real host allows: e.g. `@keyring`, without which crun cannot give a container its own
   * session keyring ("create keyring: Operation not permitted"). The filter binds whatever the
   * node's own systemd starts; `exec` (nsenter from the host) is not under it.
   */
  allowSystemCalls?: string[];
  bootTimeoutMs?: number;
}

export interface Node {
  name: string;
  leader: number;
  pid: number;
  state: string;
  /** ms from spawning nspawn to is-system-running answering running/degraded. */
  bootMs: number;
  exec(argv: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
  stop(): Promise<void>;
}

const LEADER_TIMEOUT_MS = 10_000;
const BOOT_TIMEOUT_MS = 90_000;
const BOOT_POLL_MS = 100;
const STOP_TIMEOUT_MS = 20_000;
const KILL_TIMEOUT_MS = 5_000;
const OUTPUT_TAIL = 16_000;
const NODE_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', SYSTEMD_COLORS: '0' };

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

export async function bootNode(root: string, options: BootOptions): Promise<Node> {
  await assertNotCached(root);
  const network = options.network ?? { kind: 'private' };
  const nspawn = [
    'systemd-nspawn', '-D', root, '-b', '--register=no', '--keep-unit', '-M', options.name, '--console=passive',
    ...(network.kind === 'private' ? ['--private-network'] : [`--network-bridge=${network.bridge}`]),
    ...(options.bindRo ?? []).map((b) => `--bind-ro=${b}`),
    ...(options.allowSystemCalls?.length ? [`--system-call-filter=${options.allowSystemCalls.join(' ')}`] : []),
  ];
  // In a test network namespace, nspawn itself runs there so its veth's host end lands on the bridge.
  const argv = network.kind === 'bridge' ? ['nsenter', `--net=/run/netns/${network.netns}`, '--', ...nspawn] : nspawn;
  const cgroup = await ownCgroup();
  const [cmd, ...args] = cgroup.wrap(argv);
  const started = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) {
    await cgroup.remove();
    throw new Error('failed to spawn systemd-nspawn');
  }
  const pid = child.pid;
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-OUTPUT_TAIL));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exitCode: number | string | null | undefined;
  const exited = new Promise<void>((r) => child.on('exit', (code, signal) => ((exitCode = code ?? signal), r())));
  const entry = { pid, leader: 0 };
  live.add(entry);

  const waitExit = (ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
    return Promise.race([exited.then(() => true), timeout]).finally(() => clearTimeout(timer));
  };
  const stop = async () => {
    if (exitCode === undefined) {
      child.kill('SIGTERM');
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
    throw new Error(`${msg}\n--- systemd-nspawn output (tail) ---\n${output}`);
  };

  const leaderDeadline = Date.now() + LEADER_TIMEOUT_MS;
  for (let i = 0; !entry.leader; i++) {
    if (exitCode !== undefined) return fail(`systemd-nspawn exited (${exitCode}) before the container started`);
    if (Date.now() > leaderDeadline || i > LEADER_TIMEOUT_MS / 20) return fail('container PID 1 did not appear');
    entry.leader = (await findLeader(pid)) ?? 0;
    if (!entry.leader) await sleep(20);
  }
  const leader = entry.leader;

  const exec = async (cmdArgv: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> => {
    const r = await execa('nsenter', ['-t', String(leader), '-a', '--', ...cmdArgv], {
      reject: false,
      stdin: 'ignore',
      env: NODE_ENV,
      extendEnv: false,
      timeout: opts.timeoutMs ?? 120_000,
    });
    if (r.timedOut) throw new Error(`exec ${cmdArgv.join(' ')} timed out:\n${r.stderr}`);
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
  };

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
      return { name: options.name, leader, pid, state, bootMs: performance.now() - started, exec, stop };
    }
    last = `${state} ${r.stderr.trim()}`.trim();
    await sleep(BOOT_POLL_MS);
  }
  return fail(`container ${options.name} did not finish booting in ${bootTimeout / 1000} s (last answer: ${last})`);
}

/** Writes the collector and its request into the node's tree (host side), runs it inside, parses. */
export async function collectFacts<T>(node: Node, root: string, collector: string, request: unknown, dir: string): Promise<T> {
  await fs.mkdir(`${root}${dir}`, { recursive: true });
  await fs.writeFile(`${root}${dir}/collect.cjs`, collector);
  await fs.writeFile(`${root}${dir}/request.json`, JSON.stringify(request));
  const r = await node.exec(['/usr/bin/node', `${dir}/collect.cjs`, `${dir}/request.json`], { timeoutMs: 300_000 });
  if (r.exitCode !== 0) throw new Error(`collector failed (${r.exitCode}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** `ip` with a bounded time; throws with stderr on failure. */
export async function ip(args: string[]): Promise<string> {
  const r = await execa('ip', args, { reject: false, stdin: 'ignore', timeout: 10_000 });
  if (r.exitCode !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const USER_MANAGER_TIMEOUT_MS = 30_000;

/**
 * Makes `user` of a booted node linger (`loginctl enable-linger`) and waits until the node's
 * logind has started the user's systemd manager (user@UID.service, with /run/user/UID made by
 * logind): the session that userRun() runs commands in. Returns the uid.
 */
export async function lingerUser(node: Node, user: string): Promise<number> {
  const id = await node.exec(['id', '-u', user]);
  const uid = Number(id.stdout.trim());
  if (id.exitCode !== 0 || !Number.isInteger(uid)) throw new Error(`${node.name}: no user ${user}: ${id.stderr}`);
  const linger = await node.exec(['loginctl', 'enable-linger', user]);
  if (linger.exitCode !== 0) throw new Error(`${node.name}: loginctl enable-linger ${user}: ${linger.stderr}`);
  const deadline = Date.now() + USER_MANAGER_TIMEOUT_MS;
  let state = '';
  for (let i = 0; i < USER_MANAGER_TIMEOUT_MS / BOOT_POLL_MS && Date.now() < deadline; i++) {
    state = (await node.exec(['systemctl', 'is-active', `user@${uid}.service`], { timeoutMs: 10_000 })).stdout.trim();
    if (state === 'active') return uid;
    await sleep(BOOT_POLL_MS);
  }
  throw new Error(`${node.name}: user@${uid}.service of ${user} is ${state || 'unknown'} after ${USER_MANAGER_TIMEOUT_MS / 1000} s`);
}

/**
 * argv as a transient service of `user`'s own systemd manager on the node (systemd-run
 * --machine=user@ --user --wait --pipe): the user's session environment (HOME, XDG_RUNTIME_DIR,
 * the user bus), started by the node's systemd and so under the node's system call filter, as a
 * login would be. Unlike exec, not a process entered from the host. The exit status is the
 * command's; RuntimeMaxSec bounds the unit even if systemd-run is killed. `lingerUser` first.
 */
export async function userRun(node: Node, user: string, argv: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const env = Object.entries(opts.env ?? {}).map(([k, v]) => `--setenv=${k}=${v}`);
  return node.exec(
    ['systemd-run', `--machine=${user}@`, '--user', '--wait', '--pipe', '--quiet', '--collect', `--property=RuntimeMaxSec=${Math.ceil(timeoutMs / 1000)}`, ...env, '--', ...argv],
    { timeoutMs: timeoutMs + 10_000 },
  );
}
