/**
 * podsec-u7s-loadbalancer: haproxy and keepalived configuration for a u7s cluster with several
 * control-plane nodes (lb-config.ts). Prints the file, or writes it atomically with --output.
 */
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { atomicWrite } from './lib/safe-fs.ts';
import { renderHaproxy, renderKeepalived } from './u7s/lib/lb-config.ts';
import { join } from 'node:path';

const t = translator('podsec-k8s');

const number = (value: unknown, fallback: number, what: string) => {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\d+$/.test(value)) throw new CommandError(t('{what}: {value} is not a number', { what, value: String(value) }), 2);
  return Number(value);
};

runCommand(
  {
    name: 'podsec-u7s-loadbalancer',
    summary: 'Write haproxy or keepalived configuration for the API servers of a u7s cluster.',
    usage: [
      'haproxy --master IP[:PORT] [--master ...] [--bind [ADDRESS]:PORT] [--check-interval MS] ' + '[--ca-file FILE] [--output FILE]',
      'keepalived --vip ADDRESS/PREFIX --interface NAME [--state MASTER|BACKUP] [--priority N] ' + '[--router-id N] [--auth-pass PASS] [--output FILE]',
    ],
    options: {
      master: { type: 'string', multiple: true, valueName: 'IP[:PORT]', description: 'a control-plane node (port 6443 unless given); repeat for each' },
      bind: { type: 'string', valueName: '[ADDRESS]:PORT', description: 'where haproxy listens (default *:8443)' },
      'check-interval': { type: 'string', valueName: 'MS', description: 'milliseconds between health checks (default 2000)' },
      'ca-file': { type: 'string', valueName: 'FILE', description: "the cluster CA: health checks verify the API servers' certificates" },
      vip: { type: 'string', valueName: 'ADDRESS/PREFIX', description: 'the virtual address clients use (--control-plane-endpoint VIP:PORT)' },
      interface: { type: 'string', valueName: 'NAME', description: 'the interface that carries the virtual address' },
      state: { type: 'string', valueName: 'STATE', description: 'MASTER on one host, BACKUP (default) on the others' },
      priority: { type: 'string', valueName: 'N', description: 'VRRP priority (default 101 for MASTER, 100 for BACKUP)' },
      'router-id': { type: 'string', valueName: 'N', description: 'virtual_router_id, the same on every host (default 51)' },
      'auth-pass': { type: 'string', valueName: 'PASS', description: 'VRRP password, 1 to 8 letters and digits (default: none)' },
      process: { type: 'string', valueName: 'NAME', description: 'process whose absence moves the address away (default haproxy)' },
      output: { type: 'string', valueName: 'FILE', description: 'write the configuration to FILE (atomically) instead of printing it' },
    },
    positionals: true,
    description: [
      'haproxy: a TCP frontend that passes TLS through to the API servers, round robin, with HTTPS ' +
        'health checks of /healthz; a stopped API server is skipped (and a connection that fails is ' +
        'retried on another). Check it with haproxy -c -f FILE.',
      'keepalived: a VRRP instance holding the virtual address on a load balancer whose haproxy process runs (pgrep, run as nobody, ' +
        "every second; keepalived's process tracking would fail in a container's network namespace). Check it with keepalived -t -f FILE " +
        '(keepalived 2.2.8 or later: the check of 2.2.7 stops itself on any vrrp_script).',
    ],
    examples: {
      'podsec-u7s-loadbalancer haproxy --master 192.0.2.11 --master 192.0.2.12 --output /etc/haproxy/haproxy.cfg': 'haproxy for two control-plane nodes',
      'podsec-u7s-loadbalancer keepalived --vip 192.0.2.100/24 --interface eth0 --state MASTER': 'the first of the load balancer hosts',
    },
    exitCodes: { 1: 'an invalid value (one line names it)' },
    seeAlso: ['haproxy(1)', 'keepalived(8)', 'podsec-u7s-kubeadm(1)'],
  },
  t,
  ({ values, positionals, root }) => {
    const [kind, ...extra] = positionals;
    if (extra.length || (kind !== 'haproxy' && kind !== 'keepalived')) throw new CommandError(t('expected haproxy or keepalived; see --help'), 2);
    let text: string;
    if (kind === 'haproxy') {
      text = renderHaproxy({
        masters: (values.master as string[] | undefined) ?? [],
        bind: (values.bind as string | undefined) ?? '*:8443',
        checkIntervalMs: number(values['check-interval'], 2000, '--check-interval'),
        caFile: values['ca-file'] as string | undefined,
      });
    } else {
      if (typeof values.vip !== 'string' || typeof values.interface !== 'string') throw new CommandError(t('keepalived needs --vip and --interface'), 2);
      const state = (values.state as string | undefined) ?? 'BACKUP';
      text = renderKeepalived({
        vip: values.vip,
        interface: values.interface,
        state,
        priority: number(values.priority, state === 'MASTER' ? 101 : 100, '--priority'),
        routerId: number(values['router-id'], 51, '--router-id'),
        authPass: values['auth-pass'] as string | undefined,
        process: (values.process as string | undefined) ?? 'haproxy',
      });
    }
    if (typeof values.output === 'string') atomicWrite(join(root, values.output), text, { mode: 0o644, root });
    else process.stdout.write(text);
  },
);
