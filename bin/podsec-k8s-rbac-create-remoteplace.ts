/**
 * podsec-k8s-rbac-create-remoteplace <host>
 *
 * Run by a cluster user on their own workstation: copies ~/.kube/config from the administrator's
 * workstation <host> (where podsec-k8s-rbac-create-kubeconfig wrote it) with scp into ~/.kube
 * (0700), as a 0600 file replaced atomically. Upstream copied from the literal host "clusterIP"
 * into ./.kube of the current directory.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CommandError, runCommand } from './lib/command.ts';
import { t, usageError, withClientErrors } from './rbac/common.ts';
import { isRemoteHost, remoteOperand } from './rbac/names.ts';
import { runSync } from './lib/proc.ts';
import { atomicWrite, safeMkdir } from './lib/safe-fs.ts';

const NAME = 'podsec-k8s-rbac-create-remoteplace';
runCommand(
  {
    name: NAME,
    summary: "Copy your kubeconfig from the administrator's workstation into ~/.kube/config.",
    usage: ['[--root DIR] [<user>@]<host>'],
    options: {},
    positionals: true,
    description: [
      'Run by a cluster user on their own workstation. Copies .kube/config from the home directory of ' +
        "the same user (or of USER) on HOST, the administrator's workstation where " +
        'podsec-k8s-rbac-create-kubeconfig wrote it, with scp into ~/.kube/config.',
      '~/.kube is created 0700 when missing; the copy is made in a private temporary directory and then ' +
        'replaces ~/.kube/config atomically with mode 0600, so a failed copy leaves the old file in ' +
        'place. HOST is a host name, an IPv4 address or an IPv6 address.',
    ],
    environment: {
      HOME: 'the home directory whose .kube/config is written',
      PATH: 'where scp is looked for',
    },
    files: {
      '~/.kube/config': 'the copied kubeconfig, 0600',
      '~/.ssh/': "scp's keys, known hosts and configuration",
    },
    exitCodes: { 1: 'not exactly one argument, an invalid host, or scp failed' },
    examples: {
      'podsec-k8s-rbac-create-remoteplace 192.168.10.5': 'fetch your kubeconfig from the workstation 192.168.10.5',
      'podsec-k8s-rbac-create-remoteplace alice@admin.example.org': 'fetch the kubeconfig of alice from admin.example.org',
    },
    seeAlso: ['podsec-k8s-rbac-create-kubeconfig(1)', 'scp(1)', 'kubectl(1)'],
  },
  t,
  ({ positionals, root }) =>
    withClientErrors(async () => {
      if (positionals.length !== 1) throw usageError(`${NAME} <IP_cluster>`);
      const host = positionals[0]!;
      if (!isRemoteHost(host)) throw new CommandError(t('Invalid host {host}', { host: JSON.stringify(host) }), 1);
      const uid = process.geteuid?.() ?? 0;
      const gid = process.getegid?.() ?? 0;
      const kubeDir = join(root, homedir(), '.kube');
      safeMkdir(kubeDir, { mode: 0o700, uid, gid, root });
      // scp writes into a private temp directory; the result is published atomically with mode 0600.
      const scratch = mkdtempSync(join(kubeDir, '.remoteplace-'));
      try {
        const target = join(scratch, 'config');
        const result = runSync('scp', ['-q', '--', remoteOperand(host, '.kube/config'), target], { interactive: true, cwd: process.cwd(), timeoutMs: 0 });
        if (result.error) throw new CommandError(t('Copying certificate failed: {message}', { message: result.error.message }), 1);
        if (result.status !== 0)
          throw new CommandError(t('Copying the kubeconfig from {host} failed (scp exit {code})', { host, code: String(result.status) }), 1);
        atomicWrite(join(kubeDir, 'config'), readFileSync(target), { mode: 0o600, uid, gid, root });
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
      process.stderr.write(t('Kubeconfig copied to {path}', { path: join(kubeDir, 'config') }) + '\n');
    }),
);
