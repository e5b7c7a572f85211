/**
 * Benchmarks of podsec-inotify (registered by test/bench/run.ts):
 * - policy-detect: median time from a write of <root>/etc/containers/policy.json to the journal
 *   line of check-policy --watch, over 21 changes, beside upstream's worst case (hourly timer).
 * - monitor-idle: CPU seconds used by check-policy --watch and check-containers watching an
 *   unchanged tree for 60 s (from /proc/<pid>/stat utime+stime, children included).
 */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMPLIANT_POLICY, podsecTree } from '../support/inotify-tree.ts';
import { Daemon, inotifyProgram } from '../support/inotify-programs.ts';

const UPSTREAM_WORST_MS = 3600 * 1000;

async function policyDetect(_work: string): Promise<string> {
  const tree = podsecTree('podsec-bench-');
  const daemon = new Daemon(await inotifyProgram('podsec-inotify-check-policy'), ['--root', tree.root, '--watch', '-v']);
  const times: number[] = [];
  try {
    await daemon.waitFor(/^Debug: watching/);
    for (let i = 0; i < 21; i++) {
      const bad = i % 2 === 0;
      const start = Date.now();
      tree.write('etc/containers/policy.json', JSON.stringify(bad ? { ...COMPLIANT_POLICY, default: [{ type: 'insecureAcceptAnything' }] } : COMPLIANT_POLICY));
      await daemon.waitFor(bad ? /Critical\(102\)/ : /finding 102 resolved/, 10_000, start);
      times.push(Date.now() - start);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await daemon.stop();
    tree.cleanup();
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  return (
    `policy-detect: median ${median} ms over ${times.length} changes (min ${times[0]}, max ${times.at(-1)})` +
    `; upstream worst case 3600 s (hourly timer): ${(UPSTREAM_WORST_MS / median).toFixed(0)}x faster`
  );
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime stime cutime cstime are fields 14-17 (1-based) of stat; after "comm) " they start at index 11.
  const ticks = fields.slice(11, 15).reduce((sum, f) => sum + Number(f), 0);
  return ticks / 100;
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function monitorIdle(_work: string, seconds = 60): Promise<string> {
  const tree = podsecTree('podsec-bench-');
  tree.addUser('u1', 2001, ['podman']);
  for (let l = 0; l < 20; l++) {
    const diff = join(tree.root, 'var/lib/containers/storage/overlay', String(l).padStart(64, '0'), 'diff');
    for (let d = 0; d < 50; d++) mkdirSync(join(diff, 'usr/share', `d${d}`), { recursive: true });
    writeFileSync(join(diff, 'usr/share/d0/f'), 'x');
  }
  const policy = new Daemon(await inotifyProgram('podsec-inotify-check-policy'), ['--root', tree.root, '--watch', '-v']);
  const containers = new Daemon(await inotifyProgram('podsec-inotify-check-containers'), ['--root', tree.root, '-v']);
  try {
    await policy.waitFor(/^Debug: watching/);
    await containers.waitFor(/^Debug: watching/);
    // Both monitors with their inotifywait children (check-policy has one since it watches for CLOSE_WRITE).
    const pids = (d: Daemon) => [d.child.pid!, ...childPids(d.child.pid!)];
    const cpu = (list: number[]) => new Map(list.map((p) => [p, cpuSeconds(p)]));
    const before = [cpu(pids(policy)), cpu(pids(containers))];
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const after = [cpu(pids(policy)), cpu(pids(containers))];
    const used = after.map((m, i) => [...m].reduce((sum, [p, v]) => sum + v - (before[i]!.get(p) ?? 0), 0));
    return (
      `monitor-idle: ${seconds} s on an unchanged tree (20 layers x 50 dirs): check-policy ${used[0]!.toFixed(2)} s CPU` +
      `, check-containers ${used[1]!.toFixed(2)} s CPU (each incl. inotifywait)`
    );
  } finally {
    await policy.stop();
    await containers.stop();
    tree.cleanup();
  }
}

export const benchmarks = { 'policy-detect': policyDetect, 'monitor-idle': monitorIdle };
