/**
 * The host pieces of the trust setup: accounts looked up in the tree's own /etc/group and
 * /etc/passwd (under --root those decide the owners, not the host's), groupadd, the sysctl drop-in,
 * ALT's control(8) states for newuidmap/newgidmap, and spawning tools with argument arrays only.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError } from '../lib/command.ts';
import { translator } from '../lib/i18n.ts';
import { readRegularFile } from '../lib/safe-fs.ts';
import { faultPoint } from '../lib/fault-point.ts';

const t = translator('podsec');

const DEFAULT_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

export interface ToolResult {
  status: number | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

/** Runs a tool with an argument array (never a shell), bounded in time. */
export function runTool(command: string, args: string[], options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): ToolResult {
  faultPoint(`run ${command}`);
  const result = spawnSync(command, args, {
    input: options.input,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
    env: { ...(options.env ?? process.env), PATH: (options.env ?? process.env).PATH || DEFAULT_PATH },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  faultPoint(`ran ${command}`);
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '', error: result.error };
}

/** The last line of a tool's stderr, for one-line messages. */
export function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

function readAccounts(root: string, file: string): string[][] {
  try {
    return readRegularFile(join(root, file), { maxBytes: 64 * 1024 * 1024 })
      .toString('utf8')
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => line.split(':'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** The gid of group `name` in `<root>/etc/group`, or undefined. */
export function groupId(root: string, name: string): number | undefined {
  const entry = readAccounts(root, '/etc/group').find((fields) => fields[0] === name);
  return entry && /^\d+$/.test(entry[2] ?? '') ? Number(entry[2]) : undefined;
}

/** The gid of a group that must exist (it is created by an earlier step of the same plan). */
export function requireGroupId(root: string, name: string): number {
  const gid = groupId(root, name);
  if (gid === undefined) throw new CommandError(t('the group {group} does not exist in {file}', { group: name, file: join(root, '/etc/group') }), 1);
  return gid;
}

/** The passwd entry of user `name` in `<root>/etc/passwd`, or undefined. */
export function userEntry(root: string, name: string): { uid: number; gid: number; home: string; shell: string } | undefined {
  const fields = readAccounts(root, '/etc/passwd').find((f) => f[0] === name);
  if (!fields || !/^\d+$/.test(fields[2] ?? '') || !/^\d+$/.test(fields[3] ?? '')) return undefined;
  return { uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] ?? '', shell: fields[6] ?? '' };
}

/** groupadd -r (with --root for a tree other than /). */
export function addSystemGroup(root: string, name: string): void {
  const result = runTool('groupadd', ['-r', ...(root === '/' ? [] : ['--root', root]), name]);
  if (result.status !== 0 && groupId(root, name) === undefined) {
    throw new CommandError(t('groupadd {group} failed: {reason}', { group: name, reason: lastLine(result.stderr) || result.error?.message || String(result.status) }), 1);
  }
}

export const SYSCTL_FILE = '/etc/sysctl.d/99-podman.conf';
export const USERNS_SYSCTL = 'kernel.unprivileged_userns_clone';
export const SYSCTL_CONTENT = `${USERNS_SYSCTL}=1\n`;

/** The running kernel's value of kernel.unprivileged_userns_clone, or undefined when it has no such setting. */
export function usernsSysctlValue(): string | undefined {
  const path = `/proc/sys/${USERNS_SYSCTL.replace(/\./g, '/')}`;
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function applyUsernsSysctl(): void {
  const result = runTool('sysctl', ['-w', `${USERNS_SYSCTL}=1`]);
  if (result.status !== 0) throw new CommandError(t('sysctl -w {setting}=1 failed: {reason}', { setting: USERNS_SYSCTL, reason: lastLine(result.stderr) }), 1);
}

/** ALT's control(8) facilities that podsec sets to podmanonly: only group podman may map sub-ids. */
export const CONTROL_FACILITIES = ['newuidmap', 'newgidmap'] as const;
export const CONTROL_STATE = 'podmanonly';

/** Whether control(8) knows `facility` in this tree (ALT only). */
export function hasControlFacility(root: string, facility: string): boolean {
  return existsSync(join(root, '/etc/control.d/facilities', facility));
}

export function controlState(facility: string): string | undefined {
  const result = runTool('control', [facility]);
  return result.status === 0 ? result.stdout.trim() : undefined;
}

export function setControlState(facility: string, state: string): void {
  const result = runTool('control', [facility, state]);
  if (result.status !== 0) throw new CommandError(t('control {facility} {state} failed: {reason}', { facility, state, reason: lastLine(result.stderr) }), 1);
}
