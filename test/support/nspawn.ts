/**
 * Boot a rootfs (normally an overlay from withOverlay) with systemd-nspawn and
 * run commands in it, per /work/shared/research/test-env.md §5.
 *
 * The host has no systemd as PID 1, so there is no machined: `machinectl`,
 * `systemctl -M` and `systemd-run -M` do not work. We keep nspawn's PID, find
 * the container's PID 1 as its child and use `nsenter -t <leader> -a`.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { execa } from 'execa';
import { assertNotCached, isAlive, ownCgroup, sleep, type RunResult } from './rootfs.ts';

export interface Container {
  /** Host PID of the container's PID 1 (systemd). */
  leader: number;
  /** Host PID of the systemd-nspawn process. */
  pid: number;
  /** What `systemctl is-system-running --wait` answered. */
  state: 'running' | 'degraded';
  exec(argv: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
  stop(): Promise<void>;
}

const LEADER_TIMEOUT_MS = 10_000;
const BOOT_TIMEOUT_MS = 60_000;
const BOOT_POLL_MS = 100;
const STOP_TIMEOUT_MS = 20_000;
const KILL_TIMEOUT_MS = 5_000;
const OUTPUT_TAIL = 16_000;
const CONTAINER_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

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

export interface BootOptions {
  /** A /run/netns name the test created: the container has that network instead of the host's. */
  networkNamespace?: string;
  /** HOST:CONTAINER directories bound into the container (nspawn --bind). */
  binds?: string[];
}

export async function bootContainer(root: string, name: string, options: BootOptions = {}): Promise<Container> {
  await assertNotCached(root);
  const cgroup = await ownCgroup();
  const network = options.networkNamespace ? [`--network-namespace-path=/run/netns/${options.networkNamespace}`] : [];
  const binds = (options.binds ?? []).map((bind) => `--bind=${bind}`);
  const [cmd, ...args] = cgroup.wrap(
    ['systemd-nspawn', '-D', root, '-b', '--register=no', '--keep-unit', '-M', name, '--console=passive', ...network, ...binds],
  );
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
    throw new Error(`${msg}\n--- systemd-nspawn output (tail) ---\n${output}`);
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

  const exec = async (argv: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> => {
    const r = await execa('nsenter', ['-t', String(leader), '-a', '--', ...argv], {
      reject: false,
      stdin: 'ignore',
      env: CONTAINER_ENV,
      extendEnv: false,
      timeout: opts.timeoutMs ?? 120_000,
    });
    if (r.timedOut) throw new Error(`exec ${argv.join(' ')} timed out:\n${r.stderr}`);
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
  };

  // Early calls fail with "Failed to connect to bus" until dbus is up;
  // after that `--wait` blocks until boot has finished.
  const bootDeadline = Date.now() + BOOT_TIMEOUT_MS;
  let last = '';
  for (let i = 0; i < BOOT_TIMEOUT_MS / BOOT_POLL_MS; i++) {
    if (exitCode !== undefined) return fail(`systemd-nspawn exited (${exitCode}) during boot`);
    const remaining = bootDeadline - Date.now();
    if (remaining <= 0) break;
    const r = await exec(['systemctl', 'is-system-running', '--wait'], { timeoutMs: remaining }).catch((e: Error) => ({
      stdout: '',
      stderr: e.message,
      exitCode: -1,
    }));
    const state = r.stdout.trim();
    if (state === 'running' || state === 'degraded') return { leader, pid, state, exec, stop };
    last = `${state} ${r.stderr.trim()}`.trim();
    await sleep(BOOT_POLL_MS);
  }
  return fail(`container ${name} did not finish booting in ${BOOT_TIMEOUT_MS / 1000} s (last answer: ${last})`);
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
