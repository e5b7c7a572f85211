/**
 * CRI-O's configuration for the node account (crio.conf(5), TOML): rootless storage and state in
 * the account's directories, cgroupfs and crun, the namespace's CNI directories, and podsec's
 * signature policy, so the cluster runs only images signed as /etc/containers/policy.json says.
 * CRI-O never warns about a key it does not know: test/cluster compares every key set here with
 * the effective configuration (`crio config`).
 */
import { dirname, join } from 'node:path';
import type { CgroupMode } from './cgroups.ts';
import type { NodeSettings } from './node-env.ts';
import { SYSTEM_PROGRAMS, type UserLayout } from './paths.ts';
import { stringify } from 'smol-toml';

/** Dotted table name -> its keys (strings, booleans, lists of strings), in the order written. */
type CrioTables = [string, Record<string, string | boolean | string[]>][];

export const SIGNATURE_POLICY = '/etc/containers/policy.json';

export interface ImageStore {
  driver: string;
  root: string;
  runroot: string;
}

/** CRI-O's image store (containers-storage) of the node account, as the namespace sees it. */
export function crioImageStore(layout: UserLayout): ImageStore {
  return { driver: 'overlay', root: join(layout.dataDir, 'containers', 'storage'), runroot: join(layout.usernetesRun, 'containers', 'storage') };
}

/** CRI-O's namespace pinner: ALT's cri-o package installs it beside crio (CRI-O fails at start without it). */
export const PINNS = join(dirname(SYSTEM_PROGRAMS.crio), 'pinns');

type CrioSettings = Pick<NodeSettings, 'registry' | 'pauseImage'> & { cgroups: CgroupMode };

export function crioTables(layout: UserLayout, settings: CrioSettings): CrioTables {
  const run = layout.usernetesRun;
  // Inside the namespace /var/lib is a copy-up tmpfs: what must outlive a restart goes to the account's data.
  const persistent = join(layout.dataDir, 'crio');
  const store = crioImageStore(layout);
  const image: Record<string, string> = { signature_policy: SIGNATURE_POLICY };
  if (settings.registry && settings.pauseImage) image.pause_image = `${settings.registry}/${settings.pauseImage}`;
  return [
    [
      'crio',
      {
        root: store.root,
        runroot: store.runroot,
        storage_driver: store.driver,
        version_file: join(run, 'crio', 'version'),
        version_file_persist: join(persistent, 'version'),
        // Absent after an unclean stop, which makes CRI-O check its storage at the next start.
        clean_shutdown_file: join(persistent, 'clean.shutdown'),
      },
    ],
    ['crio.api', { listen: layout.crioSocket }],
    [
      'crio.runtime',
      {
        cgroup_manager: 'cgroupfs',
        default_runtime: 'crun',
        pinns_path: PINNS,
        // A dropped infra container needs a pod cgroup CRI-O can create: only with delegated cgroup v2.
        drop_infra_ctr: settings.cgroups === 'delegated',
        container_exits_dir: join(run, 'crio', 'exits'),
        container_attach_socket_dir: join(run, 'crio'),
        namespaces_dir: join(run, 'crio', 'ns'),
        hooks_dir: [join(layout.configDir, 'containers', 'oci', 'hooks.d')],
      },
    ],
    [
      'crio.runtime.runtimes.crun',
      // monitor_cgroup replaces the deprecated crio.runtime.conmon_cgroup.
      { runtime_path: SYSTEM_PROGRAMS.crun, runtime_type: 'oci', runtime_root: join(layout.runtimeDir, 'crio', 'crun'), monitor_cgroup: 'pod' },
    ],
    ['crio.image', image],
    ['crio.network', { network_dir: '/etc/cni/net.d/', plugin_dirs: ['/opt/cni/bin/'] }],
    // The default /var/run/nri is root's on a host that also runs a rootful CRI-O or containerd.
    ['crio.nri', { nri_listen: join(run, 'crio', 'nri.sock') }],
  ];
}

export function crioConfig(layout: UserLayout, settings: CrioSettings): string {
  const document: Record<string, any> = {};
  for (const [table, entries] of crioTables(layout, settings)) {
    let node = document;
    for (const part of table.split('.')) node = node[part] ??= {};
    Object.assign(node, entries);
  }
  const header = ['# Written by u7s-crio at every start of the rootless node; edits are lost.', '# Local changes: a file in crio.conf.d next to this one.'];
  return `${header.join('\n')}\n\n${stringify(document)}`;
}
