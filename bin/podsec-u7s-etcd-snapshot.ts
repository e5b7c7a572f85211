/**
 * podsec-u7s-etcd-snapshot save [FILE] | restore FILE: etcd snapshots of a rootless control-plane
 * node, taken and restored as u7s-admin inside the node namespace, kept by root in a root-only
 * directory (bin/u7s/lib/etcd-snapshot.ts says how the bytes cross between the two).
 */
import { join, resolve } from 'node:path';
import { CommandError, runCommand, type CommandSpec } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { restoreSnapshot, saveSnapshot, snapshotMaxBytes, snapshotName } from './u7s/lib/etcd-snapshot.ts';
import { nodeOps, PODSEC_ETCD_SNAPSHOT_DIR } from './u7s/lib/node-ops.ts';
import { etcdMemberOf, etcdQuotaBytesOf, readEtcdManifest, staticPodControlPlane, CONTROL_PLANE_PODS } from './u7s/lib/static-pods.ts';

const t = translator('podsec-k8s');
const say = (line: string) => process.stderr.write(`${line}\n`);

const spec: CommandSpec = {
  name: 'podsec-u7s-etcd-snapshot',
  summary: 'Save and restore etcd snapshots of a rootless Kubernetes control-plane node.',
  usage: ['save [FILE]', 'restore FILE'],
  options: {},
  positionals: true,
  description: [
    'save runs etcdctl snapshot save as u7s-admin inside the node namespace (https://127.0.0.1:2379 with the client ' +
      'certificate /etc/kubernetes/pki/etcd/healthcheck-client.crt) into a staging directory of u7s-admin, checks the ' +
      'snapshot with etcdutl snapshot status, and copies it as root into FILE (default: ' +
      '/var/lib/podsec/u7s/etcd-snapshots/etcd-snapshot-YYYYMMDDTHHMMSSZ.db, the directory made 0700 root). FILE must be ' +
      'in a directory owned by root with mode 0700, every directory above it owned by root and not writable by others; ' +
      'an existing file, a symlink included, is never replaced. The snapshot is 0600 root: it holds every Secret of the cluster. ' +
      "A staged snapshot larger than etcd's backend quota (--quota-backend-bytes in /etc/kubernetes/manifests/etcd.yaml, " +
      'at least the default 2 GiB) plus 256 MiB is refused: u7s-admin owns it and could grow it while it is copied.',
    'restore copies FILE (in such a root-only directory) into a staging directory of u7s-admin and restores it with ' +
      'etcdutl snapshot restore into a new directory next to the etcd data (the member name, peer URL and data directory ' +
      'come from /etc/kubernetes/manifests/etcd.yaml); a snapshot that does not restore (missing, truncated, corrupt) ' +
      'changes nothing. Then the control-plane static pods are stopped (their manifests moved out of ' +
      '/etc/kubernetes/manifests until no etcd, kube-apiserver, kube-controller-manager or kube-scheduler of u7s-admin runs), ' +
      "the data directory's member/ is moved to member.before-restore-TIME, the restored member/ moved in, and the " +
      'manifests moved back. Only single-member etcd clusters are restored.',
    'etcdctl and etcdutl are run from /usr/bin inside the node namespace.',
  ],
  files: {
    '/var/lib/podsec/u7s/etcd-snapshots/': 'the default snapshot directory (0700 root)',
    '/var/lib/podsec/u7s/etcd/': "etcd's data directory (u7s-admin's); member.before-restore-TIME keeps the data a restore replaced",
    '/etc/kubernetes/manifests/etcd.yaml': "etcd's static pod: data directory, member name and peer URL",
    '/var/lib/u7s-admin/.local/share/usernetes/': "u7s-admin's private directory, where the staging directories are made and removed",
  },
  exitCodes: {
    1: 'etcdctl or etcdutl failed, the snapshot or its directory was refused, the namespace is not running, or the control plane did not stop',
    2: 'invalid arguments',
  },
  usageExitCode: 2,
  examples: {
    'podsec-u7s-etcd-snapshot save': 'a snapshot into /var/lib/podsec/u7s/etcd-snapshots',
    'podsec-u7s-etcd-snapshot restore /var/lib/podsec/u7s/etcd-snapshots/etcd-snapshot-20260101T120000Z.db': 'go back to that snapshot',
  },
  seeAlso: ['podsec-u7s-kubeadm(1)', 'podsec-u7s-certs(1)', 'etcdctl(1)', 'etcdutl(1)'],
};

runCommand(spec, t, async ({ positionals, root }) => {
  const [command, file, ...extra] = positionals;
  if (extra.length) throw new CommandError(t('unexpected argument: {arg}; see --help', { arg: extra[0]! }), 2);
  if (command === 'save') {
    const ops = nodeOps(root);
    const target = file !== undefined ? resolve(file) : join(PODSEC_ETCD_SNAPSHOT_DIR, snapshotName(new Date()));
    const maxBytes = snapshotMaxBytes(etcdQuotaBytesOf(readEtcdManifest(root, ops.account)));
    const size = await saveSnapshot({ run: ops.run, client: ops.client, staging: ops.staging, target, createDir: file === undefined, maxBytes, root });
    process.stdout.write(`${target}\n`);
    say(t('etcd snapshot saved: {file} ({size} bytes)', { file: target, size }));
    return 0;
  }
  if (command === 'restore') {
    if (file === undefined) throw new CommandError(t('restore needs the snapshot file; see --help'), 2);
    const ops = nodeOps(root);
    const manifest = readEtcdManifest(root, ops.account);
    const member = etcdMemberOf(manifest);
    const now = new Date();
    const controlPlane = staticPodControlPlane({ root, account: ops.account, run: ops.run, pods: CONTROL_PLANE_PODS, id: now.getTime().toString(36), say });
    const maxBytes = snapshotMaxBytes(etcdQuotaBytesOf(manifest));
    const result = await restoreSnapshot({
      run: ops.run,
      client: ops.client,
      staging: ops.staging,
      member,
      controlPlane,
      snapshot: file,
      maxBytes,
      root,
      now,
      say,
    });
    say(t('etcd restored from {file}; the previous data is in {dir}', { file: resolve(file), dir: result.previous }));
    return 0;
  }
  throw new CommandError(t('unknown command {command}: use save or restore', { command: JSON.stringify(command ?? '') }), 2);
});
