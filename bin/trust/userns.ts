/**
 * Who may use unprivileged user namespaces (rootless podman needs them): the kernel switch
 * kernel.unprivileged_userns_clone (a sysctl drop-in and the running value) and ALT's control(8)
 * states for newuidmap/newgidmap, which podsec sets so that only group podman may map sub-ids.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError } from '../lib/command.ts';
import { translator } from '../lib/i18n.ts';
import { lastLine, runSync } from '../lib/proc.ts';

const t = translator('podsec');

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

/**
 * Whether create-policy writes the sysctl drop-in: on this host only when its kernel has the
 * switch (a drop-in for a setting the kernel lacks only makes systemd-sysctl fail); under --root
 * always, as the tree is another node's, whose kernel is not this one.
 */
export const writesUsernsSysctl = (root: string, runningValue: string | undefined) => root !== '/' || runningValue !== undefined;

export function applyUsernsSysctl(): void {
  const result = runSync('sysctl', ['-w', `${USERNS_SYSCTL}=1`], { timeoutMs: 60_000 });
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
  const result = runSync('control', [facility], { timeoutMs: 60_000 });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

export function setControlState(facility: string, state: string): void {
  const result = runSync('control', [facility, state], { timeoutMs: 60_000 });
  if (result.status !== 0) throw new CommandError(t('control {facility} {state} failed: {reason}', { facility, state, reason: lastLine(result.stderr) }), 1);
}
