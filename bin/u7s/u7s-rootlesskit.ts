/**
 * u7s-rootlesskit: the node's namespace (ExecStart of the user unit rootlesskit.service).
 *
 * Host phase (as the node account): starts rootlesskit with slirp4netns and the builtin port
 * driver, copy-up of /etc, /run, /var/lib and /opt, new pid/ipc/uts (and, on cgroup v2, cgroup)
 * namespaces, and runs itself again inside as the namespace phase.
 *
 * Namespace phase (as namespace root): private directories bound from the account's data
 * directory, /run/crio/crio.sock, the namespace's own sysctls, the role's ports published
 * through rootlesskit's API, the host's external address on tap0 as /32; then the readiness
 * marker, and the command (CRI-O's launcher) runs until it exits or we are stopped.
 *
 * --wait-ready (ExecStartPost) waits, bounded, until that marker names the running namespace.
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, statfsSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CommandError, type Invocation } from '../lib/command.ts';
import { translator } from '../lib/i18n.ts';
import { atomicWrite, safeMkdir } from '../lib/safe-fs.ts';
import { runWrapper } from './lib/cli.ts';
import { envFileOf, LAUNCH_ENV, launchContext, runContext, type RunContext } from './lib/context.ts';
import { debugged, logger } from './lib/log.ts';
import { readiness, alive } from './lib/namespace.ts';
import { readNodeSettings, type NodeSettings } from './lib/node-env.ts';
import {
  CNI_PLUGIN_DIRS,
  NAMESPACE_CRI_SOCKET,
  PRIVATE_DIRS,
  PRIVATE_RUN_ENTRIES,
  privateSource,
  stateFiles,
  SYSTEM_PROGRAMS,
  U7S_CNI_FLANNEL,
} from './lib/paths.ts';
import { hostServiceRoutes, servicesOn } from './lib/own-services.ts';
import { rolePorts, portText } from './lib/ports.ts';
import { capture, cleanStop, stand, stopRequested, SYSTEM_PATH, systemTool } from '../lib/proc.ts';
import { poll } from './lib/poll.ts';
import { addPort } from './lib/rootlesskit-api.ts';
import { nthAddress, parseCidr } from './lib/values.ts';

const t = translator('podsec-k8s');
const NAME = 'u7s-rootlesskit';
const log = logger(NAME);

/** Directories copied up (tmpfs + links to the host's entries) so the namespace may change them. */
const COPY_UP = ['/etc', '/run', '/var/lib', '/opt'];
const OLD_LOOPBACK_NETWORK = '99-loopback.conf';
const CGROUP2_MAGIC = 0x63677270;

async function waitReady(timeoutValue: unknown): Promise<number> {
  const seconds = typeof timeoutValue === 'string' ? Number(timeoutValue) : 90;
  if (!Number.isFinite(seconds) || seconds <= 0) throw new CommandError(t('--timeout: {value} is not a number of seconds', { value: String(timeoutValue) }), 2);
  const { layout } = runContext();
  const mainPid = Number(process.env.MAINPID ?? 0);
  const ready = await poll(() => {
    if (mainPid && !alive(mainPid)) throw new CommandError(t('the launcher (PID {pid}) exited before its namespace was ready', { pid: mainPid }));
    const state = readiness(layout);
    return state && (!mainPid || state.launcherPid === mainPid) ? state : undefined;
  }, seconds * 1000);
  if (!ready) throw new CommandError(t('the rootlesskit namespace was not ready within {seconds} s; see the journal of rootlesskit.service', { seconds }));
  log(t('namespace ready, PID {pid}', { pid: ready.childPid }));
  return 0;
}

function isCgroup2(): boolean {
  try {
    return statfsSync('/sys/fs/cgroup').type === CGROUP2_MAGIC;
  } catch {
    return false;
  }
}

const isDirectory = (path: string) => {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
};

/** The rootlesskit command line of a node with these settings. */
function rootlesskitArguments(context: RunContext, settings: NodeSettings, cgroup2: boolean): string[] {
  const args = [
    `--state-dir=${context.layout.stateDir}`,
    '--net=slirp4netns',
    `--mtu=${settings.mtu}`,
    `--cidr=${settings.slirpCidr}`,
    '--disable-host-loopback',
    '--slirp4netns-sandbox=auto',
    '--slirp4netns-seccomp=auto',
    '--port-driver=builtin',
    ...COPY_UP.filter(isDirectory).map((dir) => `--copy-up=${dir}`),
    '--pidns',
    '--ipcns',
    '--utsns',
    '--propagation=rslave',
  ];
  // Without cgroup v2 there is nothing to delegate; kubelet will not run (preflight says so), but
  // the namespace itself still works, which is what tests on hybrid hosts need.
  if (cgroup2) args.push('--cgroupns', '--evacuate-cgroup2=rootlesskit_evac');
  return [...args, ...settings.rootlesskitFlags];
}

async function hostPhase(envFile: string, commandArgs: string[]): Promise<number> {
  const context = runContext();
  if (context.inNamespace) throw new CommandError(t('already inside a user namespace; start the launcher on the host'));
  const settings = readNodeSettings(envFile);
  const rootlesskit = systemTool('rootlesskit') ?? SYSTEM_PROGRAMS.rootlesskit;
  const { layout } = context;
  safeMkdir(layout.usernetesRun, { mode: 0o700, root: layout.runtimeDir });
  try {
    unlinkSync(stateFiles(layout).ready);
  } catch {
    // not there
  }
  const cgroup2 = isCgroup2();
  if (!cgroup2) log(t('/sys/fs/cgroup is not cgroup v2: no cgroup namespace; kubelet needs cgroup v2 (see podsec-u7s-preflight)'));
  const self = [...process.execArgv, process.argv[1]!];
  const args = [...rootlesskitArguments(context, settings, cgroup2), process.execPath, ...self, '--namespace-phase', '--', ...commandArgs];
  const env = {
    ...process.env,
    PATH: SYSTEM_PATH,
    HOME: layout.home,
    XDG_RUNTIME_DIR: layout.runtimeDir,
    [LAUNCH_ENV]: JSON.stringify({ envFile, launcherPid: process.pid }),
  };
  log(t('starting rootlesskit for the {role} role', { role: settings.role }));
  const stopping = stopRequested();
  const code = await stand(rootlesskit, args, { env, cwd: layout.home });
  log(t('rootlesskit exited (status {code})', { code }));
  return cleanStop(code, stopping);
}

/** Inside: a path below a copied-up directory that is a link to the host's entry becomes our own directory. */
function ownDirectory(target: string): void {
  let path = '';
  for (const part of target.split('/').filter(Boolean)) {
    path += `/${part}`;
    let st;
    try {
      st = lstatSync(path);
    } catch {
      mkdirSync(path, { mode: 0o755 });
      continue;
    }
    if (st.isSymbolicLink() && COPY_UP.some((dir) => path.startsWith(`${dir}/`))) {
      unlinkSync(path);
      mkdirSync(path, { mode: 0o755 });
    } else if (!st.isDirectory() && !st.isSymbolicLink()) {
      throw new CommandError(t('{path} is not a directory', { path }));
    }
  }
}

async function tool(name: string, args: string[]): Promise<void> {
  const path = systemTool(name);
  if (!path) throw new CommandError(t('{tool} is not installed', { tool: name }));
  const result = await capture(path, args, { timeoutMs: 30_000 });
  if (result.code !== 0)
    throw new CommandError(t('{command} failed: {reason}', { command: `${name} ${args.join(' ')}`, reason: result.stderr.trim() || `exit ${result.code}` }));
}

/** Links to the host's CNI plugins in the private plugin directory; files already there (flannel's) stay. */
function linkCniPlugins(pluginDir: string): void {
  for (const dir of CNI_PLUGIN_DIRS) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      try {
        lstatSync(join(pluginDir, name));
      } catch {
        symlinkSync(join(dir, name), join(pluginDir, name));
      }
    }
  }
}

/**
 * The packaged CNI configuration in the private /etc/cni/net.d: flannel's, until its daemon set
 * writes its own. No network of loopback alone: CRI-O would take it as the default network while
 * flannel's plugin is not installed yet, report the network ready, and pods started then (coredns)
 * would get 127.0.0.1 only. CRI-O sets up every pod's loopback itself; a file of that name left by
 * an earlier version is removed.
 */
function installCniConfig(context: RunContext, settings: NodeSettings, netDir: string): void {
  try {
    unlinkSync(join(netDir, OLD_LOOPBACK_NETWORK));
  } catch {
    // not there
  }
  if (settings.cniPlugin !== 'flannel') return;
  const target = join(netDir, '10-flannel.conflist');
  try {
    lstatSync(target);
    return;
  } catch {
    // not written yet
  }
  let text: string;
  try {
    text = readFileSync(U7S_CNI_FLANNEL, 'utf8');
  } catch {
    log(t('{file} is not readable; skipped', { file: U7S_CNI_FLANNEL }));
    return;
  }
  atomicWrite(target, text, { mode: 0o644, root: context.layout.home });
}

function writeSysctl(name: string, value: string): void {
  try {
    writeFileSync(`/proc/sys/${name.replaceAll('.', '/')}`, value);
  } catch (error) {
    log(t('cannot set {name} in the namespace: {reason}', { name, reason: (error as Error).message }));
  }
}

/** The largest group id mapped into this namespace: ping sockets for every group the node's processes can have. */
function maxMappedGid(): number {
  let max = 0;
  for (const line of readFileSync('/proc/self/gid_map', 'utf8').trim().split('\n')) {
    const [inside, , count] = line.trim().split(/\s+/).map(Number);
    if (inside !== undefined && count !== undefined) max = Math.max(max, inside + count - 1);
  }
  return max;
}

/** This host is podsec's master too: its registry and signature server, reached through slirp4netns (own-services.ts). */
async function routeOwnServices(address: string, gateway: string): Promise<void> {
  let hosts = '';
  try {
    hosts = readFileSync('/etc/hosts', 'utf8');
  } catch {
    return;
  }
  const ports = servicesOn(hosts, address);
  if (!ports.length) return;
  const rules = await capture(systemTool('ip') ?? 'ip', ['-4', 'rule', 'show']);
  for (const args of hostServiceRoutes(address, ports, gateway, rules.stdout)) await tool('ip', ['-4', ...args]);
  // The answers come back with this namespace's own address as their source.
  writeSysctl('net.ipv4.conf.tap0.accept_local', '1');
  log(t("ports {ports} of {address} (this host's podsec services) are reached on the host", { ports: ports.join(', '), address }));
}

async function namespacePhase(commandArgs: string[]): Promise<number> {
  if (process.getuid!() !== 0) throw new CommandError(t('the namespace phase runs as namespace root, inside rootlesskit'));
  const launch = launchContext();
  if (!launch) throw new CommandError(t('the namespace phase is started by u7s-rootlesskit, not by hand'));
  const context = runContext();
  const { layout } = context;
  const settings = readNodeSettings(launch.envFile);
  const files = stateFiles(layout);

  writeFileSync(files.parentIp, `${settings.extIp}\n`);
  for (const entry of PRIVATE_RUN_ENTRIES) {
    try {
      if (lstatSync(entry).isSymbolicLink()) unlinkSync(entry);
    } catch {
      // absent
    }
  }

  for (const target of PRIVATE_DIRS) {
    const source = privateSource(layout, target);
    safeMkdir(source, { mode: 0o755, root: layout.home });
    if (target === '/opt/cni/bin') linkCniPlugins(source);
    if (target === '/etc/cni/net.d') installCniConfig(context, settings, source);
    ownDirectory(target);
    await tool('mount', ['--bind', source, target]);
  }
  // Volumes kubelet mounts under its directory must reach the containers (after every start, not once).
  await tool('mount', ['--make-rshared', '/var/lib/kubelet']);

  ownDirectory(dirname(NAMESPACE_CRI_SOCKET));
  safeMkdir(dirname(layout.crioSocket), { mode: 0o700, root: layout.runtimeDir });
  try {
    unlinkSync(NAMESPACE_CRI_SOCKET);
  } catch {
    // absent
  }
  symlinkSync(layout.crioSocket, NAMESPACE_CRI_SOCKET);

  // This network namespace's own settings (upstream changed ping_group_range for the whole host).
  writeSysctl('net.ipv4.ip_forward', '1');
  writeSysctl('net.ipv4.ping_group_range', `0 ${maxMappedGid()}`);
  // flannel's VXLAN packets arrive on the slirp4netns device from addresses strict reverse-path
  // filtering (1) would drop; loose (2) still drops sources no route leads back to.
  writeSysctl('net.ipv4.conf.all.rp_filter', '2');
  writeSysctl('net.ipv4.conf.default.rp_filter', '2');

  for (const forward of rolePorts(settings.role, { apiserverPort: settings.apiserverBindPort, cni: settings.cniPlugin })) {
    try {
      await addPort(files.apiSocket, { proto: forward.proto, parentIP: settings.publishAddress, parentPort: forward.parentPort, childPort: forward.childPort });
    } catch (error) {
      throw new CommandError(t('cannot publish port {port}: {reason}', { port: portText(forward), reason: (error as Error).message }));
    }
  }

  const slirp = parseCidr(settings.slirpCidr, 'U7S_SLIRP_CIDR');
  const ipTool = systemTool('ip');
  const shown = ipTool ? await capture(ipTool, ['-4', '-o', 'addr', 'show', 'dev', 'tap0']) : undefined;
  if (!shown?.stdout.includes(` ${settings.extIp}/32 `)) await tool('ip', ['addr', 'add', `${settings.extIp}/32`, 'dev', 'tap0']);
  if (shown?.stdout.includes(` ${nthAddress(slirp, 100)}/`)) await tool('ip', ['addr', 'del', `${nthAddress(slirp, 100)}/${slirp.prefix}`, 'dev', 'tap0']);
  const routes = ipTool ? await capture(ipTool, ['-4', 'route', 'show', 'default']) : undefined;
  if (!routes?.stdout.trim()) await tool('ip', ['route', 'add', 'default', 'via', nthAddress(slirp, 2), 'dev', 'tap0', 'onlink']);
  await routeOwnServices(settings.extIp, nthAddress(slirp, 2));

  const childPid = await poll(
    () => {
      try {
        const text = readFileSync(files.childPid, 'utf8').trim();
        return /^\d+$/.test(text) ? text : undefined;
      } catch {
        return undefined;
      }
    },
    10_000,
    50,
  );
  if (!childPid) throw new CommandError(t('rootlesskit did not record the namespace PID in {file}', { file: files.childPid }));
  atomicWrite(files.ready, `${childPid} ${launch.launcherPid}\n`, { mode: 0o644, root: layout.runtimeDir });
  log(t('RootlessKit ready, PID={pid}, ports of the {role} role published', { pid: childPid, role: settings.role }));

  if (commandArgs.length === 0) {
    return new Promise<number>((resolve) => {
      // Nothing else keeps the event loop alive: a timer does, until a signal ends the wait.
      const keep = setInterval(() => {}, 1 << 30);
      const stop = () => {
        clearInterval(keep);
        resolve(0);
      };
      for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, stop);
    });
  }
  const stopping = stopRequested();
  const code = await stand(commandArgs[0]!, commandArgs.slice(1), { env: { ...process.env } });
  log(t('{command} exited (status {code})', { command: commandArgs[0]!, code }));
  return cleanStop(code, stopping);
}

runWrapper(
  {
    name: NAME,
    summary: "Start the u7s node's rootlesskit namespace and run a command in it.",
    usage: ['[--env-file FILE] [COMMAND [ARG...]]', '--wait-ready [--timeout SECONDS]'],
    options: {
      'env-file': { type: 'string', valueName: 'FILE', description: 'node settings to use instead of /etc/podsec/u7s/config/env' },
      'wait-ready': { type: 'boolean', description: 'wait until the namespace of the running launcher is ready, then exit' },
      timeout: { type: 'string', valueName: 'SECONDS', description: 'how long --wait-ready waits (default 90)' },
      'namespace-phase': { type: 'boolean', description: 'internal: the phase rootlesskit runs inside the new namespaces' },
    },
    positionals: false,
    description: [
      'Runs as the node account (u7s-admin) under its user manager. rootlesskit creates user, mount, ' +
        'network (slirp4netns), pid, ipc and uts namespaces; inside, the account is root of its own ' +
        'namespace. The launcher then binds private directories, publishes the ports of the node role on ' +
        "the host and puts the host's external address on tap0, and runs COMMAND (the CRI-O launcher) " +
        'there. Without COMMAND it waits until stopped.',
      'The node settings come from the environment file, read as data.',
    ],
    files: {
      '/etc/podsec/u7s/config/env': 'node settings written by podsec-u7s-kubeadm',
      '/run/user/UID/usernetes/rootlesskit': 'rootlesskit state: child_pid, api.sock, and the readiness marker _child_pid.u7s-ready',
      '~/.local/share/usernetes/_var_lib_kubelet, ...':
        'private directories bound over /var/lib/kubelet, /var/lib/cni, /var/log, /var/lib/containers, ' + '/var/cache, /etc/cni/net.d, /opt/cni/bin',
    },
    exitCodes: { 1: 'the namespace could not be set up (one line says why)' },
    otherExitCodes: 'the exit status of COMMAND',
    seeAlso: ['rootlesskit(1)', 'nsenter_u7s(8)', 'podsec-u7s-kubeadm(1)'],
  },
  t,
  debugged(async ({ values }: Invocation, command: string[]) => {
    if (values['wait-ready']) return waitReady(values.timeout);
    if (values['namespace-phase']) return namespacePhase(command);
    return hostPhase(envFileOf(values['env-file']), command);
  }),
);
