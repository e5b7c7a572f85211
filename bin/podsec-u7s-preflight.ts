/**
 * podsec-u7s-preflight: is this host ready to be a rootless Kubernetes node? Each prerequisite
 * is checked and a problem is named with its fix; the exit status says ready (0) or not (1).
 */
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { U7S_ADMIN_USER } from './lib/names.ts';
import { liveProbe, ready, runChecks } from './u7s/lib/preflight.ts';

const t = translator('podsec-k8s');

runCommand(
  {
    name: 'podsec-u7s-preflight',
    summary: 'Check the host prerequisites of a rootless Kubernetes node (u7s).',
    usage: ['[--json] [--role control-plane|worker] [--no-ports] [--user NAME] [--root DIR]'],
    options: {
      json: { type: 'boolean', description: 'print the results as a JSON array of {id, status, detail, fix}' },
      role: { type: 'string', valueName: 'ROLE', description: 'control-plane (default) or worker: which ports must be free' },
      'no-ports': { type: 'boolean', description: 'do not check that the node ports are free (the node is running)' },
      user: { type: 'string', valueName: 'NAME', description: 'the node account (default u7s-admin)' },
    },
    description: [
      'Checks: kernel 5.15 or newer; cgroup v2 with cpu, memory and pids delegated to the node account; ' +
        'lingering; subordinate uid and gid ranges; user namespaces; /dev/net/tun; rootlesskit, ' +
        'rootlessctl, slirp4netns, crun, nsenter, setpriv, mount, ip, setuid newuidmap and newgidmap; the ' +
        'kernel modules of u7s.conf; and that the ports of the role are free. Warnings do not make the ' +
        'host unready.',
    ],
    exitCodes: { 0: 'ready', 1: 'not ready: at least one check failed' },
    examples: { 'podsec-u7s-preflight': 'check before kubeadm init', 'podsec-u7s-preflight --json --role worker': 'machine-readable check of a worker' },
    seeAlso: ['podsec-u7s-kubeadm(1)'],
  },
  t,
  async ({ values, root }) => {
    const role = (values.role as string | undefined) ?? 'control-plane';
    if (role !== 'control-plane' && role !== 'worker') throw new CommandError(t('--role: {value} is not control-plane or worker', { value: role }), 2);
    const results = await runChecks(liveProbe(root), { user: (values.user as string | undefined) ?? U7S_ADMIN_USER, role, ports: values['no-ports'] !== true });
    if (values.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
    else {
      const label = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;
      for (const r of results) process.stdout.write(`${label[r.status]} ${r.id}: ${r.detail}${r.fix ? ` — ${t('fix:')} ${r.fix}` : ''}\n`);
      process.stdout.write((ready(results) ? t('ready') : t('not ready')) + '\n');
    }
    return ready(results) ? 0 : 1;
  },
);
