/**
 * u7s-crio: CRI-O of the rootless node, started inside the namespace by u7s-rootlesskit.
 * Writes CRI-O's configuration for the node account (crio-config.ts) and runs crio with it.
 */
import { dirname, join } from 'node:path';
import { translator } from '../lib/i18n.ts';
import { atomicWrite, safeMkdir } from '../lib/safe-fs.ts';
import { runWrapper } from './lib/cli.ts';
import { envFileOf, runContext } from './lib/context.ts';
import { cgroupMode } from './lib/cgroups.ts';
import { crioConfig } from './lib/crio-config.ts';
import { readNodeSettings } from './lib/node-env.ts';
import { SYSTEM_PROGRAMS, U7S_PATH } from './lib/paths.ts';
import { cleanStop, stand, stopRequested } from '../lib/proc.ts';

const t = translator('podsec-k8s');

runWrapper(
  {
    name: 'u7s-crio',
    summary: 'Run CRI-O for the rootless Kubernetes node, with its generated configuration.',
    usage: ['[--env-file FILE] [CRIO-OPTION...]'],
    options: { 'env-file': { type: 'string', valueName: 'FILE', description: 'node settings to use instead of /etc/podsec/u7s/config/env' } },
    description: [
      'Started by u7s-rootlesskit inside the node namespace. Writes ~/.config/usernetes/crio/crio.conf ' +
        '(storage under ~/.local/share/usernetes/containers, state under /run/user/UID/usernetes, the ' +
        'clean-shutdown marker under ~/.local/share/usernetes/crio, cgroupfs, crun, pinns beside crio, ' +
        'signature_policy /etc/containers/policy.json; without delegated cgroup v2 controllers an infra ' +
        'container per pod) and runs crio --config with it; CRIO-OPTIONs are passed on. Files in ' +
        '~/.config/usernetes/crio/crio.conf.d override it.',
    ],
    files: { '~/.config/usernetes/crio/crio.conf': 'the generated CRI-O configuration', '/etc/containers/policy.json': 'the signature policy CRI-O enforces' },
    otherExitCodes: 'the exit status of crio',
    seeAlso: ['crio(8)', 'crio.conf(5)', 'u7s-rootlesskit(8)'],
  },
  t,
  async ({ values }, extra) => {
    const { layout } = runContext();
    const settings = readNodeSettings(envFileOf(values['env-file']));
    const crioDir = join(layout.configDir, 'crio');
    const dropIns = join(crioDir, 'crio.conf.d');
    const config = join(crioDir, 'crio.conf');
    safeMkdir(dropIns, { mode: 0o700, root: layout.home });
    safeMkdir(join(layout.configDir, 'containers', 'oci', 'hooks.d'), { mode: 0o700, root: layout.home });
    safeMkdir(dirname(layout.crioSocket), { mode: 0o700, root: layout.runtimeDir });
    safeMkdir(join(layout.dataDir, 'crio'), { mode: 0o700, root: layout.home });
    atomicWrite(config, crioConfig(layout, { ...settings, cgroups: cgroupMode() }), { mode: 0o600, root: layout.home });
    const env = { ...process.env, PATH: U7S_PATH, _CRIO_ROOTLESS: '1' };
    const stopping = stopRequested();
    return cleanStop(await stand(SYSTEM_PROGRAMS.crio, ['--config', config, '--config-dir', dropIns, ...extra], { env }), stopping);
  },
);
