/**
 * Host prerequisites of a rootless node, each checked on its own and reported with the fix
 * (Usernetes Gen2's check-preflight, extended to what podsec's node needs). The probes read
 * files under a root prefix and the live system (kernel, ports); tests give fake probes.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { release } from 'node:os';
import { join } from 'node:path';
import { translator } from '../../lib/i18n.ts';
import { findAccountBy, type Account } from './accounts.ts';
import { parseSubid, rangesOf } from '../../lib/accounts.ts';
import { hostCgroupProbe, REQUIRED_CONTROLLERS } from './cgroups.ts';
import { PINNS } from './crio-config.ts';
import { rolePorts, portText, type Role } from './ports.ts';
import { SYSTEM_PATH } from '../../lib/proc.ts';
import { SYSTEM_PROGRAMS, U7S_ENV_FILE, U7S_MODULES_LOAD } from './paths.ts';
import { parseEnvFile } from './envfile.ts';
import { MAX_MTU } from './values.ts';

const t = translator('podsec-k8s');

type Status = 'ok' | 'fail' | 'warn';

interface CheckResult {
  id: string;
  status: Status;
  /** What was found. */
  detail: string;
  /** What to do about it (fail and warn). */
  fix?: string;
}

export interface Probe {
  root: string;
  kernelRelease(): string;
  readFile(path: string): string | undefined;
  exists(path: string): boolean;
  stat(path: string): { mode: number; uid: number } | undefined;
  isCgroup2(path: string): boolean;
  moduleLoaded(name: string): boolean;
  portFree(proto: 'tcp' | 'udp', port: number): Promise<boolean>;
}

const MIN_KERNEL = [5, 15];
const REQUIRED_TOOLS = ['rootlesskit', 'rootlessctl', 'slirp4netns', 'crun', 'nsenter', 'setpriv', 'mount', 'ip', 'newuidmap', 'newgidmap'];

export function liveProbe(root: string): Probe {
  const under = (path: string) => join(root, path);
  return {
    root,
    kernelRelease: () => release(),
    readFile: (path) => {
      try {
        return readFileSync(under(path), 'utf8');
      } catch {
        return undefined;
      }
    },
    exists: (path) => existsSync(under(path)),
    stat: (path) => {
      try {
        const st = statSync(under(path));
        return { mode: st.mode, uid: st.uid };
      } catch {
        return undefined;
      }
    },
    isCgroup2: hostCgroupProbe.isCgroup2,
    moduleLoaded: (name) => {
      const dashed = name.replaceAll('-', '_');
      if (existsSync(`/sys/module/${dashed}`)) return true;
      const builtin = (() => {
        try {
          return readFileSync(`/lib/modules/${release()}/modules.builtin`, 'utf8');
        } catch {
          return '';
        }
      })();
      return builtin.split('\n').some((line) => line.endsWith(`/${name}.ko`) || line.endsWith(`/${dashed}.ko`));
    },
    portFree: (proto, port) =>
      new Promise((resolve) => {
        if (proto === 'tcp') {
          const server = createServer();
          server.once('error', () => resolve(false));
          server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
        } else {
          const socket = createSocket('udp4');
          socket.once('error', () => {
            socket.close();
            resolve(false);
          });
          socket.bind({ port, address: '0.0.0.0', exclusive: true }, () => socket.close(() => resolve(true)));
        }
      }),
  };
}

function versionAtLeast(releaseText: string, min: number[]): boolean {
  const parts = (releaseText.match(/^(\d+)\.(\d+)/) ?? []).slice(1).map(Number);
  return parts.length === 2 && (parts[0]! > min[0]! || (parts[0] === min[0] && parts[1]! >= min[1]!));
}

function findTool(probe: Probe, name: string): string | undefined {
  for (const dir of SYSTEM_PATH.split(':')) {
    const path = join(dir, name);
    if (probe.exists(path)) return path;
  }
  return undefined;
}

function modulesWanted(probe: Probe): string[] {
  for (const path of ['/etc/modules-load.d/u7s.conf', ...U7S_MODULES_LOAD]) {
    const text = probe.readFile(path);
    if (text !== undefined)
      return text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'));
  }
  return ['tun', 'br_netfilter', 'veth', 'vxlan', 'ip_tables', 'iptable_nat', 'overlay'];
}

interface PreflightOptions {
  user: string;
  role: Role;
  /** Check the ports (skip when the node runs: its own rootlesskit holds them). */
  ports: boolean;
}

export async function runChecks(probe: Probe, options: PreflightOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const add = (id: string, ok: boolean, detail: string, fix: string, status: Status = 'fail') =>
    results.push(ok ? { id, status: 'ok', detail } : { id, status, detail, fix });

  const kernel = probe.kernelRelease();
  add('kernel', versionAtLeast(kernel, MIN_KERNEL), t('kernel {release}', { release: kernel }), t('boot a kernel 5.15 or newer (ALT: update-kernel)'));

  const cgroup2 = probe.isCgroup2('/sys/fs/cgroup');
  // Without cgroup v2 the node still runs (cgroups.ts), but no pod's resource limits are enforced.
  add(
    'cgroup-v2',
    cgroup2,
    cgroup2
      ? t('/sys/fs/cgroup is cgroup v2')
      : t('/sys/fs/cgroup is not cgroup v2 (hybrid or v1): pods will run without QoS cgroups and their ' + 'resource limits will not be enforced'),
    t('boot with systemd.unified_cgroup_hierarchy=1 (and without cgroup_no_v1 overrides)'),
    'warn',
  );

  let account: Account | undefined;
  try {
    account = findAccountBy(probe.root, { name: options.user });
  } catch {
    account = undefined;
  }
  add(
    'user',
    account !== undefined,
    account ? t('{user} has uid {uid}', { user: options.user, uid: account.uid }) : t('no user {user}', { user: options.user }),
    t('install podsec-k8s (its %pre creates u7s-admin)'),
  );

  if (account) {
    const lingering = probe.exists(`/var/lib/systemd/linger/${account.name}`);
    add(
      'linger',
      lingering,
      lingering ? t('lingering is enabled for {user}', { user: account.name }) : t('lingering is not enabled for {user}', { user: account.name }),
      t('loginctl enable-linger {user} (kubeadm init/join and u7s.service do it)', { user: account.name }),
      'warn',
    );

    for (const kind of ['subuid', 'subgid']) {
      const ranges = rangesOf(parseSubid(probe.readFile(`/etc/${kind}`) ?? ''), account);
      const count = ranges.reduce((n, r) => n + r.count, 0);
      add(
        kind,
        count >= 65536,
        t.n('{count} subordinate id in /etc/{kind}', '{count} subordinate ids in /etc/{kind}', count, { kind }),
        t('kubeadm init/join adds a range; by hand: usermod --add-{kind}s 200000-265535 {user}', { kind, user: account.name }),
      );
    }

    const controllersFile = `/sys/fs/cgroup/user.slice/user-${account.uid}.slice/user@${account.uid}.service/cgroup.controllers`;
    const controllers = (probe.readFile(controllersFile) ?? '').split(/\s+/).filter(Boolean);
    const missing = REQUIRED_CONTROLLERS.filter((c) => !controllers.includes(c));
    if (!cgroup2) add('delegation', false, t('no cgroup v2, nothing can be delegated'), t('fix cgroup v2 first'), 'warn');
    else if (!controllers.length)
      add(
        'delegation',
        false,
        t("{user}'s user manager is not running ({file} missing)", { user: account.name, file: controllersFile }),
        t('systemctl start u7s.service (or loginctl enable-linger {user}), then check again', { user: account.name }),
        'warn',
      );
    else
      add(
        'delegation',
        missing.length === 0,
        t('delegated to {user}: {controllers}', { user: account.name, controllers: controllers.join(' ') }),
        t('missing {controllers}: install podsec-k8s (user@.service.d/delegate.conf) and systemctl ' + 'daemon-reload; restart the user manager', {
          controllers: missing.join(' '),
        }),
      );
  }

  const userns = probe.readFile('/proc/sys/user/max_user_namespaces')?.trim();
  add(
    'user-namespaces',
    userns !== undefined && Number(userns) > 0,
    t('user.max_user_namespaces = {value}', { value: userns ?? '?' }),
    t('sysctl -w user.max_user_namespaces=28633 (and in /etc/sysctl.d)'),
  );
  const clone = probe.readFile('/proc/sys/kernel/unprivileged_userns_clone')?.trim();
  if (clone !== undefined)
    add(
      'unprivileged-userns',
      clone === '1',
      t('kernel.unprivileged_userns_clone = {value}', { value: clone }),
      t('sysctl -w kernel.unprivileged_userns_clone=1 (and in /etc/sysctl.d)'),
    );

  const tun = probe.stat('/dev/net/tun');
  add(
    'dev-net-tun',
    tun !== undefined && (tun.mode & 0o006) === 0o006,
    tun ? t('/dev/net/tun mode {mode}', { mode: (tun.mode & 0o777).toString(8) }) : t('/dev/net/tun is missing'),
    t('modprobe tun; the device must be 0666 (udev does it on a normal boot)'),
  );

  for (const tool of REQUIRED_TOOLS) {
    const path = findTool(probe, tool);
    add(
      `tool-${tool}`,
      path !== undefined,
      path ? t('{tool}: {path}', { tool, path }) : t('{tool} is not installed', { tool }),
      t('install the package that provides {tool} (podsec-k8s requires rootlesskit, slirp4netns, crun; ' + 'util-linux, iproute2, shadow-submap)', { tool }),
    );
    if (path && (tool === 'newuidmap' || tool === 'newgidmap')) {
      const st = probe.stat(path);
      const usable = st !== undefined && st.uid === 0 && (st.mode & 0o4000) !== 0 && (st.mode & 0o001) !== 0;
      add(
        `${tool}-setuid`,
        usable,
        st ? t('{path} mode {mode}', { path, mode: (st.mode & 0o7777).toString(8) }) : path,
        t('{tool} must be setuid root and executable by u7s-admin (ALT: control {tool} public)', { tool }),
      );
    }
  }

  if (probe.exists(SYSTEM_PROGRAMS.crio)) {
    const pinns = probe.exists(PINNS);
    add(
      'tool-pinns',
      pinns,
      pinns ? t('{tool}: {path}', { tool: 'pinns', path: PINNS }) : t('{path} is missing: CRI-O cannot start without it', { path: PINNS }),
      t("install CRI-O's pinns at {path} (ALT's cri-o package has it)", { path: PINNS }),
    );
  }

  const missingModules = modulesWanted(probe).filter((m) => !probe.moduleLoaded(m));
  add(
    'kernel-modules',
    missingModules.length === 0,
    missingModules.length ? t('not loaded: {modules}', { modules: missingModules.join(' ') }) : t('all modules of u7s.conf are loaded'),
    t('systemctl restart systemd-modules-load (or modprobe {modules})', { modules: missingModules.join(' ') }),
  );

  // flannel's VXLAN backend: the device is created in the node namespace, which cannot load modules.
  const vxlan = probe.moduleLoaded('vxlan');
  add(
    'vxlan',
    vxlan,
    vxlan ? t('the vxlan module is loaded') : t("the vxlan module is not loaded: flannel's VXLAN between nodes cannot start"),
    t('modprobe vxlan (podsec-k8s loads it at boot through /usr/lib/modules-load.d/u7s.conf)'),
  );
  // The node namespace starts with the host's IPv4 settings (net.core.devconf_inherit_init_net=0);
  // u7s-rootlesskit sets loose filtering there, but a namespace made by other tools would drop VXLAN.
  const strict = ['all', 'default'].filter((i) => probe.readFile(`/proc/sys/net/ipv4/conf/${i}/rp_filter`)?.trim() === '1');
  add(
    'rp-filter',
    strict.length === 0,
    strict.length
      ? t('strict reverse-path filtering (rp_filter=1) on the host for {interfaces}', { interfaces: strict.join(', ') })
      : t('reverse-path filtering is off or loose (rp_filter 0 or 2)'),
    t(
      'sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.default.rp_filter=2 (and in /etc/sysctl.d); ' +
        "flannel's VXLAN packets reach the node namespace from addresses strict filtering drops",
    ),
    'warn',
  );

  const mtu = nodeMtu(probe);
  if (mtu)
    add(
      'mtu',
      mtu.node <= mtu.link,
      mtu.node <= mtu.link
        ? t("the node namespace's MTU {mtu} fits {dev}'s {link}", { mtu: mtu.node, dev: mtu.dev, link: mtu.link })
        : t("the node namespace's MTU {mtu} is above {dev}'s {link}: flannel's VXLAN datagrams cross the network between nodes as IP fragments", {
            mtu: mtu.node,
            dev: mtu.dev,
            link: mtu.link,
          }),
      t(
        'let IP fragments of UDP 8472 pass between the nodes (firewalls, cloud security groups), ' +
          'or deploy with U7S_MTU={link} (no fragments, slower pod traffic through slirp4netns)',
        { link: mtu.link },
      ),
      'warn',
    );

  if (options.ports) {
    for (const forward of rolePorts(options.role)) {
      const free = await probe.portFree(forward.proto, forward.parentPort);
      add(
        `port-${forward.parentPort}-${forward.proto}`,
        free,
        free ? t('{port} is free', { port: portText(forward) }) : t('{port} is in use', { port: portText(forward) }),
        t("stop what listens on it (ss -lnp 'sport = :{port}'); the node publishes it", { port: forward.parentPort }),
      );
    }
  }
  return results;
}

/**
 * The node namespace's MTU (the deployed node's U7S_MTU, else rootlesskit's default) and the MTU of
 * the host interface its traffic leaves by (U7S_EXTDEV, else the default route's); undefined when
 * the host has no such interface.
 */
function nodeMtu(probe: Probe): { node: number; dev: string; link: number } | undefined {
  let env = new Map<string, string>();
  try {
    env = parseEnvFile(probe.readFile(U7S_ENV_FILE) ?? '', U7S_ENV_FILE);
  } catch {
    // a damaged file: the launcher reports it; the defaults are checked here
  }
  const node = Number(env.get('U7S_MTU') || MAX_MTU);
  const dev = env.get('U7S_EXTDEV')?.split(':')[0] || defaultRouteDevice(probe.readFile('/proc/net/route') ?? '');
  const link = dev && /^[\w.-]+$/.test(dev) ? Number(probe.readFile(`/sys/class/net/${dev}/mtu`)?.trim()) : NaN;
  return dev && Number.isInteger(link) && link > 0 ? { node, dev, link } : undefined;
}

/** The device of the IPv4 default route in the kernel's route table (columns: Iface Destination …; 00000000 is default). */
const defaultRouteDevice = (table: string) =>
  table
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .find((columns) => columns[1] === '00000000')?.[0];

export const ready = (results: CheckResult[]) => results.every((r) => r.status !== 'fail');
