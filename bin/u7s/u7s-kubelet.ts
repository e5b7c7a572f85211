/**
 * u7s-kubelet: kubelet of the rootless node, inside the namespace (the user unit kubelet.service
 * runs `nsenter_u7s u7s-kubelet`). Applies the rootless settings to kubeadm's kubelet
 * configuration, waits (bounded) for CRI-O's socket, and runs kubelet with kubeadm's flags.
 */
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { CommandError } from '../lib/command.ts';
import { translator } from '../lib/i18n.ts';
import { atomicWrite } from '../lib/safe-fs.ts';
import { runWrapper } from './lib/cli.ts';
import { runContext } from './lib/context.ts';
import { parseEnvFile } from './lib/envfile.ts';
import { cgroupMode } from './lib/cgroups.ts';
import { kubeadmFlags, kubeletMinor, patchKubeletConfig } from './lib/kubelet-config.ts';
import { logger } from './lib/log.ts';
import { SYSTEM_PROGRAMS, U7S_PATH } from './lib/paths.ts';
import { capture, cleanStop, stand, stopRequested } from '../lib/proc.ts';
import { poll } from './lib/poll.ts';

const t = translator('podsec-k8s');
const log = logger('u7s-kubelet');
const CONFIG = '/var/lib/kubelet/config.yaml';
const FLAGS = '/var/lib/kubelet/kubeadm-flags.env';

const socketAccepts = (path: string) =>
  new Promise<true | undefined>((resolve) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(undefined));
  });

runWrapper(
  {
    name: 'u7s-kubelet',
    summary: 'Run kubelet for the rootless Kubernetes node, inside its namespace.',
    usage: ['[--socket-timeout SECONDS] [KUBELET-OPTION...]'],
    options: { 'socket-timeout': { type: 'string', valueName: 'SECONDS', description: "how long to wait for CRI-O's socket (default 120)" } },
    description: [
      'Run by kubelet.service through nsenter_u7s. Merges the settings a kubelet in a user namespace ' +
        'needs (KubeletInUserNamespace, cgroupfs, no swap check, no local storage isolation; without ' +
        'delegated cgroup v2 controllers also no QoS cgroups, no node-allocatable enforcement and ' +
        'failCgroupV1: false) into /var/lib/kubelet/config.yaml, waits until CRI-O accepts connections, ' +
        "and runs kubelet with kubeadm's flags from /var/lib/kubelet/kubeadm-flags.env and the " +
        'KUBELET-OPTIONs.',
    ],
    files: {
      '/var/lib/kubelet/config.yaml': "kubeadm's kubelet configuration, patched in place",
      '/var/lib/kubelet/kubeadm-flags.env': "kubeadm's kubelet flags (read as data)",
    },
    exitCodes: { 1: 'kubeadm has not configured this node yet, or CRI-O did not come up in time' },
    otherExitCodes: 'the exit status of kubelet',
    seeAlso: ['kubelet(8)', 'nsenter_u7s(8)'],
  },
  t,
  async ({ values }, extra) => {
    const { layout, inNamespace } = runContext();
    if (!inNamespace) throw new CommandError(t('u7s-kubelet runs inside the node namespace: nsenter_u7s u7s-kubelet'));
    let text: string;
    try {
      text = readFileSync(CONFIG, 'utf8');
    } catch {
      throw new CommandError(t('{file} does not exist: kubeadm init or join has not configured this node yet', { file: CONFIG }));
    }
    const version = await capture(SYSTEM_PROGRAMS.kubelet, ['--version'], { timeoutMs: 30_000 }).catch(() => undefined);
    const cgroups = cgroupMode();
    if (cgroups === 'none')
      log(t('no cgroup v2 controllers are delegated to the node: pods run without QoS cgroups and their ' + 'resource limits are not enforced'));
    let patched: string | undefined;
    try {
      patched = patchKubeletConfig(text, layout.home, { cgroups, minor: kubeletMinor(version?.stdout ?? '') });
    } catch (error) {
      throw new CommandError(t('{file}: {reason}', { file: CONFIG, reason: (error as Error).message }));
    }
    if (patched !== undefined) {
      atomicWrite(CONFIG, patched, { mode: 0o644, root: '/var/lib/kubelet' });
      log(t('{file}: rootless settings applied', { file: CONFIG }));
    }
    let flags: string[] = [];
    try {
      flags = kubeadmFlags(parseEnvFile(readFileSync(FLAGS, 'utf8'), FLAGS));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const seconds = typeof values['socket-timeout'] === 'string' ? Number(values['socket-timeout']) : 120;
    if (!Number.isFinite(seconds) || seconds < 0)
      throw new CommandError(t('--socket-timeout: {value} is not a number of seconds', { value: String(values['socket-timeout']) }), 2);
    if (!(await poll(() => socketAccepts(layout.crioSocket), seconds * 1000, 250))) {
      throw new CommandError(t('CRI-O does not accept connections on {socket} after {seconds} s', { socket: layout.crioSocket, seconds }));
    }
    const args = [
      `--config=${CONFIG}`,
      '--kubeconfig=/etc/kubernetes/kubelet.conf',
      '--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf',
      ...flags.filter((flag) => !flag.startsWith('--container-runtime-endpoint=')),
      `--container-runtime-endpoint=unix://${layout.crioSocket}`,
      ...extra,
    ];
    const stopping = stopRequested();
    return cleanStop(await stand(SYSTEM_PROGRAMS.kubelet, args, { env: { ...process.env, PATH: U7S_PATH } }), stopping);
  },
);
