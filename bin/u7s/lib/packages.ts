/**
 * Kubernetes packages of ALT (kubernetes1.MINOR-kubeadm, -kubelet, -crio, cri-tools1.MINOR),
 * installed by the wrapper on init/join when kubeadm is missing, never for --help or other
 * commands (upstream ran apt-get update on every call). Minors are compared as numbers.
 */
import { translator } from '../../lib/i18n.ts';
import { CommandError } from '../../lib/command.ts';
import { capture, stand, systemTool } from '../../lib/proc.ts';
import type { KubeVersion } from './values.ts';

const t = translator('podsec-k8s');

export const packagesFor = (minor: number) => [
  `kubernetes1.${minor}-kubeadm`,
  `kubernetes1.${minor}-kubelet`,
  `kubernetes1.${minor}-crio`,
  `cri-tools1.${minor}`,
];

/** Minors that have a kubeadm package, newest first, from `apt-cache pkgnames kubernetes1` output. */
export function availableMinors(pkgnames: string): number[] {
  const minors = new Set<number>();
  for (const name of pkgnames.split('\n')) {
    const match = /^kubernetes1\.(\d+)-kubeadm$/.exec(name.trim());
    if (match) minors.add(Number(match[1]));
  }
  return [...minors].sort((a, b) => b - a);
}

export async function installKubernetes(wanted: KubeVersion | undefined, minMinor: number): Promise<void> {
  const aptGet = systemTool('apt-get');
  const aptCache = systemTool('apt-cache');
  if (!aptGet || !aptCache) throw new CommandError(t('kubeadm is not installed and there is no apt-get to install it'));
  const update = await capture(aptGet, ['update', '-q'], { timeoutMs: 300_000 });
  if (update.code !== 0) throw new CommandError(t('apt-get update failed: {reason}', { reason: update.stderr.trim().split('\n').at(-1) ?? '' }));
  const names = await capture(aptCache, ['pkgnames', 'kubernetes1'], { timeoutMs: 60_000 });
  const minors = availableMinors(names.stdout).filter((m) => m >= minMinor);
  const minor = wanted ? wanted.minor : minors[0];
  if (minor === undefined || !minors.includes(minor)) {
    throw new CommandError(
      t('no kubernetes1.{minor}-kubeadm package in the apt sources (available: {available})', {
        minor: minor ?? '?',
        available: minors.map((m) => `1.${m}`).join(', ') || '-',
      }),
    );
  }
  process.stderr.write(t('Installing Kubernetes 1.{minor}: {packages}', { minor, packages: packagesFor(minor).join(' ') }) + '\n');
  const code = await stand(aptGet, ['install', '-y', '-q', ...packagesFor(minor)], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (code !== 0) throw new CommandError(t('apt-get install of Kubernetes 1.{minor} failed (status {code})', { minor, code }));
}
