/**
 * podsec-k8s-rbac-create-remoteplace <host>
 *
 * Run by a cluster user on their own workstation: copies ~/.kube/config from the administrator's
 * workstation <host> (where podsec-k8s-rbac-create-kubeconfig wrote it) with scp into ~/.kube
 * (0700), as a 0600 file replaced atomically. Upstream copied from the literal host "clusterIP"
 * into ./.kube of the current directory.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CommandError, runCommand } from './lib/command.ts';
import { t, usageError, withClientErrors } from './lib/rbac-common.ts';
import { isRemoteHost, remoteOperand } from './lib/rbac-names.ts';
import { atomicWrite, safeMkdir } from './lib/safe-fs.ts';

const NAME = 'podsec-k8s-rbac-create-remoteplace';
runCommand(
  {
    name: NAME,
    summary: "Copy your kubeconfig from the administrator's workstation into ~/.kube/config.",
    usage: ['[--root DIR] [<user>@]<host>'],
    options: {},
    positionals: true,
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
        const result = spawnSync('scp', ['-q', '--', remoteOperand(host, '.kube/config'), target], { stdio: ['inherit', 'inherit', 'inherit'] });
        if (result.error) throw new CommandError(t('Copying certificate failed: {message}', { message: result.error.message }), 1);
        if (result.status !== 0) throw new CommandError(t('Copying the kubeconfig from {host} failed (scp exit {code})', { host, code: String(result.status) }), 1);
        atomicWrite(join(kubeDir, 'config'), readFileSync(target), { mode: 0o600, uid, gid, root });
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
      process.stderr.write(t('Kubeconfig copied to {path}', { path: join(kubeDir, 'config') }) + '\n');
    }),
);
