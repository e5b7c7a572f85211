/**
 * etcd snapshots of a rootless control plane. etcdctl and etcdutl run as the node account (inside
 * its namespace on a node); root only moves bytes between the account's staging directory and a
 * root-only snapshot directory, through descriptors:
 *
 * - save: the account writes the snapshot into a staging directory of its own; root opens it
 *   without following links (safe-fs walk, O_NOFOLLOW, a regular file), copies it into a temp file
 *   it created with O_EXCL in the root-only directory, fsyncs and links it to its final name (never
 *   replacing a file that exists), then removes the staging directory as the account. The account
 *   owns the staged file and could grow it during the copy: past snapshotMaxBytes it is refused.
 * - restore: root copies the snapshot into a new staging directory of the account (O_EXCL there),
 *   the account restores it into a new data directory next to the live one, and only when that
 *   worked is the control plane stopped, the old member directory moved aside, the new one moved
 *   in and the control plane started again. A bad snapshot changes nothing.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants as C, fstatSync, openSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { translator } from '../../lib/i18n.ts';
import { CommandError } from '../../lib/command.ts';
import { openTrustedDir, safeMkdir, UnsafePathError, type TrustedDir } from '../../lib/safe-fs.ts';
import { lastLines, type Captured } from '../../lib/proc.ts';

const t = translator('podsec-k8s');

/** Runs argv as the node account (inside its namespace on a node). */
export type AccountRunner = (argv: string[], timeoutMs?: number) => Promise<Captured>;

export interface EtcdClient {
  etcdctl: string;
  etcdutl: string;
  endpoint: string;
  /** TLS client files as the account sees them (a node's etcd requires them). */
  tls?: { cacert: string; cert: string; key: string };
}

/** The account's private scratch directory: created by the account, opened by root with the trust rule. */
export interface Staging {
  /** Where the account creates staging directories (its own directory, e.g. in its home). */
  parent: string;
  /** Host uid of the account, who owns parent and what is made in it. */
  uid: number;
  gid: number;
}

const brief = (r: Captured) => lastLines(r.stderr.trim() ? r.stderr : r.stdout, 3);

const stamp = (now: Date) =>
  now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

/** The default file name of a snapshot taken at `now`: etcd-snapshot-YYYYMMDDTHHMMSSZ.db. */
export const snapshotName = (now: Date) => `etcd-snapshot-${stamp(now)}.db`;

/**
 * The directory a snapshot is written to or read from must be root's alone: every component owned
 * by root and not writable by others (safe-fs), the directory itself with no access for group or
 * others (a snapshot holds every Secret of the cluster).
 */
function openRootOnlyDir(dir: string, root: string): TrustedDir {
  const opened = openTrustedDir(dir, { root });
  const st = fstatSync(opened.fd);
  if (st.uid !== 0 || st.mode & 0o077) {
    opened.close();
    throw new UnsafePathError(
      dir,
      t('a snapshot directory must be owned by root with mode 0700 (it is uid {uid}, mode {mode})', {
        uid: st.uid,
        mode: (st.mode & 0o7777).toString(8).padStart(4, '0'),
      }),
    );
  }
  return opened;
}

/** Opens `name` in `dir` for reading: a regular file, no link followed, owned by `uid` when given. */
function openRegular(dir: TrustedDir, name: string, uid?: number): number {
  let fd: number;
  try {
    fd = openSync(dir.at(name), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new UnsafePathError(`${dir.path}/${name}`, t('it is a symlink'));
    if (code === 'ENOENT') throw new CommandError(t('{file}: no such file', { file: `${dir.path}/${name}` }));
    throw error;
  }
  const st = fstatSync(fd);
  if (!st.isFile() || (uid !== undefined && st.uid !== uid)) {
    closeSync(fd);
    throw new UnsafePathError(`${dir.path}/${name}`, t('not a regular file'));
  }
  return fd;
}

/** etcd's backend quota when --quota-backend-bytes is not set (etcd's DefaultQuotaBytes). */
export const ETCD_DEFAULT_QUOTA_BYTES = 2 * 1024 ** 3;

/**
 * What a snapshot may hold beyond the backend quota: etcd refuses a write once the database has
 * reached the quota, so a snapshot is at most the quota plus the last transaction before the
 * alarm (a request is at most --max-request-bytes, 1.5 MiB by default; a batch commits every
 * 100 ms), bbolt's pages around it and the 32-byte hash etcdctl appends. 256 MiB covers that
 * with room to spare and stays far below what a disk filling on purpose would take.
 */
const SNAPSHOT_HEADROOM_BYTES = 256 * 1024 ** 2;

/**
 * The largest snapshot copied between the account's staging directory and root's: the account owns
 * the staged file and could grow it while root copies it (to fill root's disk). The bound follows
 * the larger of etcd's default quota and the cluster's --quota-backend-bytes.
 */
export const snapshotMaxBytes = (quotaBackendBytes?: number) => Math.max(ETCD_DEFAULT_QUOTA_BYTES, quotaBackendBytes ?? 0) + SNAPSHOT_HEADROOM_BYTES;

/**
 * Copies descriptor `from` as a new file `name` in `dir` (safe-fs: O_EXCL temp, fsync, link(2) to
 * the name, which fails if anything, a file or a symlink, is there already). A source growing past
 * `maxBytes` is refused and nothing is published.
 */
function publishNew(dir: TrustedDir, name: string, from: { fd: number; path: string }, maxBytes: number, owner: { uid: number; gid: number }): number {
  try {
    return dir.copyFile(name, { ...from, maxBytes }, { mode: 0o600, uid: owner.uid, gid: owner.gid, noReplace: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CommandError(t('{file} exists; a snapshot never replaces a file', { file: `${dir.path}/${name}` }));
    }
    throw error;
  }
}

/** A fresh staging directory made by the account in `staging.parent`; removed by `done`. */
async function withStaging<T>(run: AccountRunner, staging: Staging, root: string, body: (dir: TrustedDir, path: string) => Promise<T>): Promise<T> {
  const path = join(staging.parent, `.etcd-snapshot-${randomBytes(6).toString('hex')}`);
  const made = await run(['mkdir', '-m', '0700', '--', path]);
  if (made.code !== 0) throw new CommandError(t('cannot create the staging directory {dir}: {reason}', { dir: path, reason: brief(made) }));
  try {
    const dir = openTrustedDir(join(root, path), { root, trustedOwner: staging.uid });
    try {
      return await body(dir, path);
    } finally {
      dir.close();
    }
  } finally {
    await run(['rm', '-rf', '--one-file-system', '--', path]);
  }
}

const clientArgs = (client: EtcdClient) => [
  `--endpoints=${client.endpoint}`,
  ...(client.tls ? [`--cacert=${client.tls.cacert}`, `--cert=${client.tls.cert}`, `--key=${client.tls.key}`] : []),
];

interface SaveOptions {
  run: AccountRunner;
  client: EtcdClient;
  staging: Staging;
  /** The snapshot file: in a root-only directory (made 0700 when it is the default one and missing). */
  target: string;
  /** Create the target's directory 0700 root when missing. */
  createDir?: boolean;
  /** The largest snapshot accepted from the account (default: snapshotMaxBytes() for etcd's default quota). */
  maxBytes?: number;
  root?: string;
}

/** Takes a snapshot of the running etcd into `target`; returns its size in bytes. */
export async function saveSnapshot(options: SaveOptions): Promise<number> {
  const root = resolve(options.root ?? '/');
  const target = resolve(options.target);
  const name = basename(target);
  if (options.createDir) safeMkdir(join(root, dirname(target)), { mode: 0o700, uid: 0, gid: 0, root });
  // Refuse a bad target before etcd is asked for anything.
  const targetDir = openRootOnlyDir(join(root, dirname(target)), root);
  try {
    if (targetDir.lstat(name)) throw new CommandError(t('{file} exists; a snapshot never replaces a file', { file: target }));
    return await withStaging(options.run, options.staging, root, async (staging, path) => {
      const file = join(path, 'snapshot.db');
      const saved = await options.run([options.client.etcdctl, ...clientArgs(options.client), 'snapshot', 'save', file], 600_000);
      if (saved.code !== 0) throw new CommandError(t('etcdctl snapshot save failed: {reason}', { reason: brief(saved) }));
      const status = await options.run([options.client.etcdutl, 'snapshot', 'status', file, '--write-out=json'], 300_000);
      if (status.code !== 0) throw new CommandError(t('the snapshot etcdctl wrote does not check out: {reason}', { reason: brief(status) }));
      const from = openRegular(staging, 'snapshot.db', options.staging.uid);
      try {
        return publishNew(targetDir, name, { fd: from, path: `${staging.path}/snapshot.db` }, options.maxBytes ?? snapshotMaxBytes(), { uid: 0, gid: 0 });
      } finally {
        closeSync(from);
      }
    });
  } finally {
    targetDir.close();
  }
}

/** What a restore needs to know about the member it restores (from etcd's static pod on a node). */
export interface EtcdMember {
  /** --data-dir, as the account sees it; the new member directory replaces <dataDir>/member. */
  dataDir: string;
  name: string;
  /** --initial-advertise-peer-urls */
  peerUrls: string;
  /** --initial-cluster: only single-member clusters are restored here. */
  initialCluster: string;
}

export interface ControlPlane {
  /** Stops etcd (and whatever needs it) and returns only once etcd no longer runs on the data directory. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

interface RestoreOptions {
  run: AccountRunner;
  client: Pick<EtcdClient, 'etcdutl'>;
  staging: Staging;
  member: EtcdMember;
  controlPlane: ControlPlane;
  /** The snapshot file, in a root-only directory. */
  snapshot: string;
  /** The largest snapshot copied (default: snapshotMaxBytes() for etcd's default quota). */
  maxBytes?: number;
  root?: string;
  now?: Date;
  say?: (line: string) => void;
}

interface RestoreResult {
  /** Where the data directory's previous member directory was kept. */
  previous: string;
}

/** Whether a member directory exists in the data directory, as the account sees it. */
async function exists(run: AccountRunner, path: string): Promise<boolean> {
  return (await run(['test', '-e', path])).code === 0;
}

export async function restoreSnapshot(options: RestoreOptions): Promise<RestoreResult> {
  const root = resolve(options.root ?? '/');
  const say = options.say ?? (() => undefined);
  const { run, member } = options;
  const peers = member.initialCluster.split(',').filter(Boolean);
  if (peers.length > 1)
    throw new CommandError(
      t('etcd members: {count} ({cluster}); restore a multi-member cluster member by member as the etcd documentation describes', {
        count: peers.length,
        cluster: member.initialCluster,
      }),
    );
  const snapshot = resolve(options.snapshot);
  const sourceDir = openRootOnlyDir(join(root, dirname(snapshot)), root);
  let from: number;
  try {
    from = openRegular(sourceDir, basename(snapshot));
  } finally {
    sourceDir.close();
  }
  const id = stamp(options.now ?? new Date());
  const restored = join(member.dataDir, `restore-${id}`);
  const previous = join(member.dataDir, `member.before-restore-${id}`);
  const live = join(member.dataDir, 'member');
  try {
    await withStaging(run, options.staging, root, async (staging, path) => {
      publishNew(staging, 'snapshot.db', { fd: from, path: snapshot }, options.maxBytes ?? snapshotMaxBytes(), {
        uid: options.staging.uid,
        gid: options.staging.gid,
      });
      if (await exists(run, restored)) throw new CommandError(t('{dir} exists; remove it and try again', { dir: restored }));
      // The new data directory first: a snapshot that does not restore changes nothing.
      const made = await run(
        [
          options.client.etcdutl,
          'snapshot',
          'restore',
          join(path, 'snapshot.db'),
          `--data-dir=${restored}`,
          `--name=${member.name}`,
          `--initial-cluster=${member.initialCluster}`,
          `--initial-advertise-peer-urls=${member.peerUrls}`,
        ],
        600_000,
      );
      if (made.code !== 0) {
        await run(['rm', '-rf', '--one-file-system', '--', restored]);
        throw new CommandError(t('etcdutl snapshot restore failed, nothing was changed: {reason}', { reason: brief(made) }));
      }
    });
  } finally {
    closeSync(from);
  }
  say(t('Stopping the control plane'));
  await options.controlPlane.stop();
  try {
    if (await exists(run, live)) {
      const moved = await run(['mv', '-T', '--', live, previous]);
      if (moved.code !== 0) throw new CommandError(t('cannot move {from} to {to}: {reason}', { from: live, to: previous, reason: brief(moved) }));
    }
    const swapped = await run(['mv', '-T', '--', join(restored, 'member'), live]);
    if (swapped.code !== 0) {
      if (await exists(run, previous)) await run(['mv', '-T', '--', previous, live]);
      throw new CommandError(t('cannot move {from} to {to}: {reason}', { from: join(restored, 'member'), to: live, reason: brief(swapped) }));
    }
    await run(['rmdir', '--', restored]);
  } finally {
    say(t('Starting the control plane'));
    await options.controlPlane.start();
  }
  return { previous };
}
