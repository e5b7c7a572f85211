/**
 * Load balancer configuration for several control-plane nodes (upstream's "HAProxy – Masters –
 * Workers" and "HAProxies – Masters – Workers" with a keepalived VIP): a TCP frontend passing
 * TLS through to the API servers, with HTTPS health checks of /healthz, and a VRRP instance that
 * moves the VIP away from a host whose haproxy is gone (pgrep, run as nobody: no check runs
 * as root). Every value is validated before it is written into the text.
 */
import { translator } from '../../lib/i18n.ts';
import * as v from './values.ts';

const t = translator('podsec-k8s');

interface HaproxyOptions {
  masters: string[];
  bind: string;
  checkIntervalMs: number;
  caFile?: string;
}

interface Backend {
  host: string;
  port: number;
}

function backend(value: string): Backend {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(value)) return { host: v.ipv4(value, '--master'), port: 6443 };
  const { host, port } = v.endpoint(value, '--master');
  return { host, port };
}

function bindAddress(value: string): { address: string; port: number } {
  const match = /^(\*|\d{1,3}(?:\.\d{1,3}){3})?:(\d+)$/.exec(value);
  if (!match) throw new v.ValueError(t('--bind: {value} is not [ADDRESS]:PORT', { value: v.shown(value) }));
  const address = !match[1] || match[1] === '*' ? '0.0.0.0' : v.ipv4(match[1], '--bind');
  return { address, port: v.port(match[2]!, '--bind') };
}

export function renderHaproxy(options: HaproxyOptions): string {
  if (!options.masters.length) throw new v.ValueError(t('at least one --master is needed'));
  const servers = options.masters.map(backend);
  const bind = bindAddress(options.bind);
  if (!Number.isInteger(options.checkIntervalMs) || options.checkIntervalMs < 100 || options.checkIntervalMs > 600_000) {
    throw new v.ValueError(t('--check-interval: {value} is not a number of milliseconds (100-600000)', { value: String(options.checkIntervalMs) }));
  }
  const verify = options.caFile ? `verify required ca-file ${v.absolutePath(options.caFile, '--ca-file')}` : 'verify none';
  return [
    '# podsec-u7s-loadbalancer: haproxy in front of the Kubernetes API servers of a u7s cluster.',
    "# TCP passthrough (clients see the API servers' certificates); a server is used while its",
    '# /healthz answers 200 over HTTPS. Clients use --control-plane-endpoint <this host>:<port>.',
    'global',
    '    log /dev/log local0',
    '    maxconn 4096',
    '',
    'defaults',
    '    mode tcp',
    '    log global',
    '    option tcplog',
    '    option dontlognull',
    '    retries 3',
    '    option redispatch',
    '    timeout connect 5s',
    '    timeout client 1h',
    '    timeout server 1h',
    '    timeout check 5s',
    '',
    'frontend kube-apiserver',
    `    bind ${bind.address}:${bind.port}`,
    '    default_backend kube-apiserver',
    '',
    'backend kube-apiserver',
    '    balance roundrobin',
    '    option httpchk GET /healthz',
    '    http-check expect status 200',
    `    default-server check check-ssl ${verify} inter ${options.checkIntervalMs} fall 3 rise 2`,
    ...servers.map((s, i) => `    server master-${i + 1} ${s.host}:${s.port}`),
    '',
  ].join('\n');
}

interface KeepalivedOptions {
  vip: string;
  interface: string;
  state: string;
  priority: number;
  routerId: number;
  authPass?: string;
  process: string;
}

export function renderKeepalived(options: KeepalivedOptions): string {
  const match = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(options.vip);
  if (!match || Number(match[2]) > 32) throw new v.ValueError(t('--vip: {value} is not ADDRESS/PREFIX', { value: v.shown(options.vip) }));
  v.ipv4(match[1]!, '--vip');
  v.interfaceName(options.interface, '--interface');
  if (options.state !== 'MASTER' && options.state !== 'BACKUP')
    throw new v.ValueError(t('--state: {value} is not MASTER or BACKUP', { value: v.shown(options.state) }));
  if (!Number.isInteger(options.priority) || options.priority < 1 || options.priority > 254)
    throw new v.ValueError(t('--priority: {value} is not 1-254', { value: String(options.priority) }));
  if (!Number.isInteger(options.routerId) || options.routerId < 1 || options.routerId > 255)
    throw new v.ValueError(t('--router-id: {value} is not 1-255', { value: String(options.routerId) }));
  if (options.authPass !== undefined && !/^[A-Za-z0-9]{1,8}$/.test(options.authPass)) throw new v.ValueError(t('--auth-pass: 1 to 8 letters and digits'));
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(options.process))
    throw new v.ValueError(t('--process: {value} is not a process name', { value: v.shown(options.process) }));
  const auth = options.authPass ? ['    authentication {', '        auth_type PASS', `        auth_pass ${options.authPass}`, '    }'] : [];
  const track = `track_${options.process.replace(/[^A-Za-z0-9_]/g, '_')}`;
  return [
    '# podsec-u7s-loadbalancer: keepalived keeps the API endpoint address on a host whose haproxy runs.',
    '# The same file on every load balancer host, with --state MASTER and a higher priority on one.',
    "# The process is looked for by pgrep as nobody, every second: keepalived's own process tracking",
    "# needs the kernel's process events, which reach only the host's first network namespace (in a",
    '# container it would hold every load balancer in FAULT, and the address on none).',
    'global_defs {',
    '    router_id u7s_lb',
    '    enable_script_security',
    '    script_user nobody',
    '}',
    '',
    `vrrp_script ${track} {`,
    `    script "/usr/bin/pgrep -x ${options.process}"`,
    '    interval 1',
    '    fall 2',
    '    rise 2',
    '}',
    '',
    'vrrp_instance u7s_api {',
    `    state ${options.state}`,
    `    interface ${options.interface}`,
    `    virtual_router_id ${options.routerId}`,
    `    priority ${options.priority}`,
    '    advert_int 1',
    ...auth,
    '    virtual_ipaddress {',
    `        ${options.vip}`,
    '    }',
    '    track_script {',
    `        ${track}`,
    '    }',
    '}',
    '',
  ].join('\n');
}
