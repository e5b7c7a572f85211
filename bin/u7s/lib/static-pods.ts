/**
 * The control plane of a kubeadm node is kubelet's static pods. They are stopped the way the
 * kubeadm documentation does it: the manifests are moved out of /etc/kubernetes/manifests (as the
 * node account, whose directory it is) and kubelet stops the pods; moving them back starts them.
 * "Stopped" is read from /proc: no process of those components left that runs as the node
 * account or one of its subordinate ids (a rootless container's root is the account itself).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import YAML from 'yaml';
import { translator } from '../../lib/i18n.ts';
import { CommandError } from '../../lib/command.ts';
import { rangesOf, readSubidFile, parseSubid, type Account } from '../../lib/accounts.ts';
import { openTrustedDir } from '../../lib/safe-fs.ts';
import type { AccountRunner, ControlPlane, EtcdMember } from './etcd-snapshot.ts';
import { KUBERNETES_DIR } from './paths.ts';
import { sleep } from './poll.ts';

const t = translator('podsec-k8s');

const MANIFESTS_DIR = join(KUBERNETES_DIR, 'manifests');
export const CONTROL_PLANE_PODS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];

/** Host uids a rootless control-plane process of `account` can run as. */
function accountUids(root: string, account: Account): (uid: number) => boolean {
  let ranges: { start: number; count: number }[] = [];
  try {
    ranges = rangesOf(parseSubid(readSubidFile(root, 'subuid')), account);
  } catch {
    // no /etc/subuid: the account's own uid only
  }
  return (uid) => uid === account.uid || ranges.some((r) => uid >= r.start && uid < r.start + r.count);
}

/** The kernel's name of a process (/proc/PID/status Name:) is its program's name cut to 15 bytes: kube-controller-manager is kube-controller. */
const COMM_LENGTH = 15;

/** The pids of running processes named one of `names` whose real uid passes `owned`. */
export function processesOf(names: string[], owned: (uid: number) => boolean, proc = '/proc'): number[] {
  const comms = names.map((name) => name.slice(0, COMM_LENGTH));
  const found: number[] = [];
  for (const entry of readdirSync(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(join(proc, entry, 'status'), 'utf8');
      const name = /^Name:\s*(.*)$/m.exec(status)?.[1];
      const uid = Number(/^Uid:\s*(\d+)/m.exec(status)?.[1]);
      if (name !== undefined && comms.includes(name) && owned(uid)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The command of a kubeadm etcd static pod. */
function etcdCommand(manifest: string): unknown[] {
  const doc = YAML.parse(manifest) as { spec?: { containers?: { command?: unknown }[] } } | null;
  const command = doc?.spec?.containers?.[0]?.command;
  if (!Array.isArray(command)) throw new CommandError(t('the etcd manifest has no command'));
  return command;
}

const flagValue = (command: unknown[], name: string) =>
  command.find((a): a is string => typeof a === 'string' && a.startsWith(`--${name}=`))?.slice(name.length + 3);

/** The etcd member a kubeadm etcd static pod runs (its command's flags). */
export function etcdMemberOf(manifest: string): EtcdMember {
  const command = etcdCommand(manifest);
  const flag = (name: string) => {
    const value = flagValue(command, name);
    if (value === undefined) throw new CommandError(t('the etcd manifest has no --{flag}', { flag: name }));
    return value;
  };
  return { dataDir: flag('data-dir'), name: flag('name'), peerUrls: flag('initial-advertise-peer-urls'), initialCluster: flag('initial-cluster') };
}

/** The etcd static pod's --quota-backend-bytes when it sets a positive number (etcd's default applies otherwise). */
export function etcdQuotaBytesOf(manifest: string): number | undefined {
  const value = flagValue(etcdCommand(manifest), 'quota-backend-bytes');
  const bytes = value !== undefined && /^\d+$/.test(value) ? Number(value) : 0;
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

/** etcd.yaml of the node, read as data from the node account's directory. */
export function readEtcdManifest(root: string, account: Account): string {
  const dir = openTrustedDir(join(root, MANIFESTS_DIR), { root, trustedOwner: account.uid });
  try {
    if (!dir.lstat('etcd.yaml'))
      throw new CommandError(t('{file} is missing: this node runs no etcd (is it a control-plane node?)', { file: join(MANIFESTS_DIR, 'etcd.yaml') }));
    return dir.readFile('etcd.yaml', 1 << 20).toString('utf8');
  } finally {
    dir.close();
  }
}

interface StaticPodOptions {
  root: string;
  account: Account;
  run: AccountRunner;
  /** The pods to stop, by manifest name without .yaml. */
  pods: string[];
  /** Seconds to wait for the processes to go. */
  waitSeconds?: number;
  /** Names the moved manifests' directory. */
  id: string;
  say?: (line: string) => void;
}

/**
 * Stops and starts static pods by moving their manifests into /etc/kubernetes/manifests.stopped-ID
 * and back; stop returns once none of their processes runs (bounded), start once they run again.
 */
export function staticPodControlPlane(options: StaticPodOptions): ControlPlane {
  const aside = `${MANIFESTS_DIR}.stopped-${options.id}`;
  const owned = accountUids(options.root, options.account);
  const wait = options.waitSeconds ?? 180;
  const present = () => options.pods.filter((pod) => existsSync(join(options.root, MANIFESTS_DIR, `${pod}.yaml`)));
  let moved: string[] = [];
  const moveBack = async () => {
    for (const pod of moved) {
      const back = await options.run(['mv', '-T', '--', join(aside, `${pod}.yaml`), join(MANIFESTS_DIR, `${pod}.yaml`)]);
      if (back.code !== 0)
        throw new CommandError(t('cannot move the manifest {file} back: {reason}', { file: join(aside, `${pod}.yaml`), reason: back.stderr.trim() }));
    }
    moved = [];
    await options.run(['rmdir', '--', aside]);
  };
  return {
    async stop() {
      const pods = present();
      const made = await options.run(['mkdir', '-m', '0700', '--', aside]);
      if (made.code !== 0) throw new CommandError(t('cannot create {dir}: {reason}', { dir: aside, reason: made.stderr.trim() }));
      for (const pod of pods) {
        const r = await options.run(['mv', '-T', '--', join(MANIFESTS_DIR, `${pod}.yaml`), join(aside, `${pod}.yaml`)]);
        if (r.code !== 0) {
          await moveBack();
          throw new CommandError(t('cannot move the manifest {file}: {reason}', { file: `${pod}.yaml`, reason: r.stderr.trim() }));
        }
        moved.push(pod);
      }
      const names = options.pods.map((pod) => basename(pod));
      for (let i = 0; i < wait; i++) {
        if (!processesOf(names, owned).length) return;
        if (i === 0) options.say?.(t('Waiting for kubelet to stop {pods}', { pods: names.join(', ') }));
        await sleep(1000);
      }
      await moveBack();
      throw new CommandError(
        t('{pods} did not stop within {seconds} s after their manifests were moved; the manifests are back, nothing was changed', {
          pods: names.join(', '),
          seconds: wait,
        }),
      );
    },
    async start() {
      await moveBack();
      for (let i = 0; i < wait; i++) {
        if (processesOf(['etcd'], owned).length || !options.pods.includes('etcd')) return;
        await sleep(1000);
      }
      options.say?.(t('etcd has not started again within {seconds} s; see journalctl _UID={uid} -t kubelet', { seconds: wait, uid: options.account.uid }));
    },
  };
}
