/**
 * The node rootfs as a container: a deterministic tar imported as an OCI image with
 * `podman import`, and a systemd-nspawn machine directory with its .nspawn settings.
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { fileSha256, removeTree } from './cache.ts';
import { copyTree } from './rootfs.ts';

const TAR_TIMEOUT_MS = 10 * 60_000;
const PODMAN_TIMEOUT_MS = 10 * 60_000;

/** API filesystems and scratch space: never part of an image. */
const TAR_EXCLUDES = ['./dev/*', './proc/*', './sys/*', './run/*', './tmp/*', './var/tmp/*'];

/**
 * Writes `root` as a tar that depends only on the tree's names, contents, modes, owners and
 * xattr capabilities: names sorted, numeric owners, every mtime set to `epoch`, no atime/ctime,
 * fixed pax header names. Written to a temp file and renamed. Returns the tar's sha256, which is
 * also the layer's diff ID once imported.
 */
export async function writeDeterministicTar(root: string, out: string, epoch: number): Promise<string> {
  const tmp = `${out}.tmp-${process.pid}`;
  const args = [
    '--create',
    '--file',
    tmp,
    '--directory',
    root,
    '--sort=name',
    '--format=pax',
    '--numeric-owner',
    `--mtime=@${epoch}`,
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
    '--xattrs',
    '--xattrs-include=security.capability',
    '--one-file-system',
    ...TAR_EXCLUDES.map((e) => `--exclude=${e}`),
    '.',
  ];
  const r = await execa('tar', args, { reject: false, stdin: 'ignore', timeout: TAR_TIMEOUT_MS, env: { LC_ALL: 'C' } });
  if (r.exitCode !== 0) {
    await fs.rm(tmp, { force: true });
    throw new Error(`tar of ${root} failed (${r.exitCode}): ${r.stderr.slice(-4000)}`);
  }
  await fs.rename(tmp, out);
  return fileSha256(out);
}

export interface PodmanStorage {
  root?: string;
  runroot?: string;
}

const storageArgs = (s: PodmanStorage = {}) => [...(s.root ? ['--root', s.root] : []), ...(s.runroot ? ['--runroot', s.runroot] : [])];

interface ImportResult {
  reference: string;
  imageId: string;
  /** The image's only layer, `sha256:<hex>`. */
  layer: string;
}

/** `podman import` of the tar, with the settings systemd needs as PID 1 of a container. */
export async function importOci(tar: string, reference: string, labels: Record<string, string>, storage?: PodmanStorage): Promise<ImportResult> {
  const changes = [
    'CMD ["/sbin/init"]',
    'STOPSIGNAL SIGRTMIN+3',
    'ENV container=oci',
    ...Object.entries(labels).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`),
  ];
  const args = [...storageArgs(storage), 'import', '--quiet', ...changes.flatMap((c) => ['--change', c]), tar, reference];
  const r = await execa('podman', args, { reject: false, stdin: 'ignore', timeout: PODMAN_TIMEOUT_MS });
  if (r.exitCode !== 0) throw new Error(`podman import failed (${r.exitCode}): ${r.stderr.slice(-4000)}`);
  const imageId = r.stdout
    .trim()
    .split('\n')
    .pop()!
    .replace(/^sha256:/, '');
  const inspect = await execa('podman', [...storageArgs(storage), 'image', 'inspect', '--format', '{{json .RootFS.Layers}}', reference], {
    reject: false,
    stdin: 'ignore',
  });
  if (inspect.exitCode !== 0) throw new Error(`podman image inspect ${reference} failed: ${inspect.stderr}`);
  const layers = JSON.parse(inspect.stdout) as string[];
  return { reference, imageId, layer: layers[0] ?? '' };
}

/** The .nspawn settings of a node machine: booted, private network unless the caller adds one. */
export const NSPAWN_SETTINGS = `# podsec node image: systemd-nspawn --machine=<name> (or machinectl start <name>)
[Exec]
Boot=yes

[Network]
Private=yes
`;

/** Whether this host runs systemd as PID 1 (sd_booted(3): /run/systemd/system exists). */
export const systemdIsPid1 = () => existsSync('/run/systemd/system');

/**
 * The command that boots a machine directory here. Without systemd as PID 1 (a CI machine, a
 * container) there is no machined to register with and no bus: nspawn then needs --register=no
 * and --keep-unit, or it fails with "Failed to open system bus".
 */
export function nspawnBootCommand(machine: string, withSystemd: boolean): string {
  return ['systemd-nspawn', '-D', machine, '-b', '--private-network', ...(withSystemd ? [] : ['--register=no', '--keep-unit'])].join(' ');
}

/**
 * A machine directory `<dir>/<name>` (a writable copy of the rootfs) and `<dir>/<name>.nspawn`.
 * An existing machine of that name is replaced only once the new copy is complete.
 */
export async function writeMachineDir(rootfs: string, dir: string, name: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  const final = join(dir, name);
  const tmp = `${final}.tmp-${process.pid}`;
  await removeTree(tmp);
  await copyTree(rootfs, tmp);
  // The copy is a new machine: let systemd give it a machine ID on its first boot.
  await fs.rm(join(tmp, 'etc/machine-id'), { force: true });
  await fs.writeFile(join(tmp, 'etc/machine-id'), '');
  const old = `${final}.old-${process.pid}`;
  if (existsSync(final)) await fs.rename(final, old);
  await fs.rename(tmp, final);
  await removeTree(old);
  const settings = join(dir, `${name}.nspawn`);
  await fs.writeFile(`${settings}.tmp-${process.pid}`, NSPAWN_SETTINGS);
  await fs.rename(`${settings}.tmp-${process.pid}`, settings);
  return final;
}
