/**
 * CRI-O's configuration for the node account (crio.conf(5), TOML): rootless storage and state in
 * the account's directories, cgroupfs and crun, the namespace's CNI directories, and podsec's
 * signature policy, so the cluster runs only images signed as /etc/containers/policy.json says.
 */
import { join } from 'node:path';
import type { NodeSettings } from './node-env.ts';
import type { UserLayout } from './paths.ts';
import { toToml, type TomlTables } from './toml.ts';

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

export function crioTables(layout: UserLayout, settings: Pick<NodeSettings, 'registry' | 'pauseImage'>): TomlTables {
  const run = layout.usernetesRun;
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
      },
    ],
    ['crio.api', { listen: layout.crioSocket }],
    [
      'crio.runtime',
      {
        cgroup_manager: 'cgroupfs',
        conmon_cgroup: 'pod',
        default_runtime: 'crun',
        container_exits_dir: join(run, 'crio', 'exits'),
        container_attach_socket_dir: join(run, 'crio'),
        namespaces_dir: join(run, 'crio', 'ns'),
        hooks_dir: [join(layout.configDir, 'containers', 'oci', 'hooks.d')],
      },
    ],
    ['crio.runtime.runtimes.crun', { runtime_path: '/usr/bin/crun', runtime_type: 'oci', runtime_root: join(layout.runtimeDir, 'crio', 'crun') }],
    ['crio.image', image],
    ['crio.network', { network_dir: '/etc/cni/net.d/', plugin_dirs: ['/opt/cni/bin/'] }],
  ];
}

export function crioConfig(layout: UserLayout, settings: Pick<NodeSettings, 'registry' | 'pauseImage'>): string {
  return toToml(crioTables(layout, settings), ['Written by u7s-crio at every start of the rootless node; edits are lost.', 'Local changes: a file in crio.conf.d next to this one.']);
}
