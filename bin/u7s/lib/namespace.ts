/**
 * The node account's rootlesskit namespace seen from outside: is it ready, which process holds
 * it, and how to enter it (nsenter with the namespaces that differ from ours).
 */
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { translator } from '../../lib/i18n.ts';
import { stateFiles, type UserLayout } from './paths.ts';
import { sleep } from './poll.ts';

const t = translator('podsec-k8s');

interface Readiness {
  childPid: number;
  launcherPid: number;
}

const readTrimmed = (file: string) => {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
};

export const alive = (pid: number) => pid > 0 && existsSync(`/proc/${pid}`);

/**
 * Ready when the launcher's marker names the process rootlesskit recorded in child_pid and that
 * process lives (a marker left by an earlier run names another, dead process).
 */
export function readiness(layout: UserLayout): Readiness | undefined {
  const files = stateFiles(layout);
  const child = readTrimmed(files.childPid);
  const marker = readTrimmed(files.ready)?.split(/\s+/);
  if (!child || !marker || !/^\d+$/.test(child) || marker[0] !== child) return undefined;
  const childPid = Number(child);
  if (!alive(childPid)) return undefined;
  return { childPid, launcherPid: Number(marker[1] ?? 0) };
}

/** Waits up to `attempts` seconds for the namespace; calls `waiting` once if it has to wait. */
export async function waitReady(layout: UserLayout, attempts: number, waiting?: () => void): Promise<Readiness | undefined> {
  for (let i = 0; i < attempts; i++) {
    const ready = readiness(layout);
    if (ready) return ready;
    if (i === 0) waiting?.();
    await sleep(1000);
  }
  return readiness(layout);
}

const NAMESPACES: [string, string][] = [
  ['user', '--user'],
  ['mnt', '--mount'],
  ['net', '--net'],
  ['cgroup', '--cgroup'],
  ['pid', '--pid'],
  ['ipc', '--ipc'],
  ['uts', '--uts'],
];

/** nsenter options entering those namespaces of `pid` that are not already ours. */
export function nsenterOptions(pid: number): string[] {
  const options: string[] = [];
  for (const [ns, option] of NAMESPACES) {
    let theirs: string;
    let ours: string;
    try {
      theirs = readlinkSync(`/proc/${pid}/ns/${ns}`);
      ours = readlinkSync(`/proc/self/ns/${ns}`);
    } catch {
      continue;
    }
    if (theirs !== ours) options.push(option);
  }
  if (options.includes('--user')) options.splice(1, 0, '--preserve-credentials');
  return options;
}

export const notRunningMessage = (layout: UserLayout, seconds: number) =>
  t('the rootlesskit namespace of uid {uid} is not ready after {seconds} s (state directory {dir}); is rootlesskit.service running?', {
    uid: layout.uid,
    seconds,
    dir: layout.stateDir,
  });
