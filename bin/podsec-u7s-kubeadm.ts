/**
 * podsec-u7s-kubeadm (also `kubeadm` in /usr/libexec/podsec/u7s/bin): kubeadm for a rootless
 * node. `init` and `join` deploy the node (deploy-plan.ts, deploy-run.ts); `reset` and every other
 * kubeadm command run as u7s-admin inside the node namespace. Help changes nothing on the host.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { existsSync, unlinkSync } from 'node:fs';
import { CommandError, helpText, runCommand, type CommandSpec } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { U7S_ADMIN_USER } from './lib/names.ts';
import { osReleaseFields, platformFromOsRelease, UnknownPlatformError } from './lib/platform.ts';
import type { Account } from './u7s/lib/accounts.ts';
import { splitAtCommand } from './u7s/lib/cli.ts';
import type { HostFacts } from './u7s/lib/deploy-plan.ts';
import type { DeployCommand } from './u7s/lib/kubeadm-flags.ts';

// The modules the commands run with (child processes, YAML, HTTP, TLS) are imported by each
// command, just those it uses, when it runs: --help and --version start with little more than node.

const t = translator('podsec-k8s');
const NAME = 'podsec-u7s-kubeadm';

const spec: CommandSpec = {
  name: NAME,
  summary: 'kubeadm for a rootless Kubernetes node (u7s): deploy with init or join, run other kubeadm commands inside the node namespace.',
  usage: [
    'init [FLAG...]',
    'join HOST:PORT --token TOKEN --discovery-token-ca-cert-hash sha256:HASH [--control-plane --certificate-key KEY] [FLAG...]',
    'reset [KUBEADM-FLAG...]',
    'COMMAND [ARG...]',
    '[--plan] init|join ...',
  ],
  options: {
    plan: { type: 'boolean', description: 'print the node settings, the kubeadm documents and the kubeadm command of an init or join, and change nothing' },
  },
  positionals: true,
  description: [
    'The node runs as the user u7s-admin inside a rootlesskit namespace; kubeadm, kubelet and CRI-O ' +
      "run there. Put /usr/libexec/podsec/u7s/bin first in root's PATH and `kubeadm` is this wrapper.",
    "init and join check every flag and the environment, refuse networks that overlap the host's, " +
      'write the node settings (/etc/podsec/u7s/config/env) and the kubeadm documents, start the ' +
      'namespace (rootlesskit.service of u7s-admin, kept by lingering), pull the images the node runs ' +
      'into its CRI-O store one by one (a progress bar on a terminal, one line per image otherwise; an ' +
      'image the signature policy refuses stops the deployment before kubeadm), run kubeadm there as ' +
      'u7s-admin, then copy admin.conf for root, apply flannel (init) and enable u7s.service. kubeadm ' +
      'init --help and join --help list the flags; each has an effect, unknown ones are refused.',
    'The kubeadm documents are written in the kubeadm API that the installed kubeadm (kubeadm version -o short) ' +
      'reads: kubeadm.k8s.io/v1beta4 for kubeadm 1.31 and later (1.37 no longer reads v1beta3), v1beta3 before. ' +
      'Documents of --config and the templates may be v1beta3 or v1beta4: v1beta3 ones are converted (extraArgs ' +
      'maps become name/value lists, merged flag by flag; the timeouts move to timeouts:), a v1beta4 one for an ' +
      'older kubeadm is refused. --plan shows the API used.',
    'Before a join changes anything, the wrapper asks the cluster, as kubeadm discovery does, whether a rootless node can join it: ' +
      'kube-public/cluster-info anonymously (its CA must match a --discovery-token-ca-cert-hash, its signature the token), ' +
      'then, over TLS checked with that CA and with the token, the ConfigMaps kube-system/kube-proxy and (for --control-plane) ' +
      'kube-system/kubeadm-config. A control plane ' +
      "set up rootful with kubeadm's defaults leaves kube-proxy's conntrack.maxPerCore, tcpEstablishedTimeout and tcpCloseWaitTimeout " +
      'unset (kube-proxy would write the nf_conntrack sysctls, which fails in a user namespace) and etcd.local.dataDir at /var/lib/etcd; ' +
      'the wrapper then refuses (exit status 3) and prints the kubectl commands that set 0, 0s, 0s and /var/lib/podsec/u7s/etcd, to run ' +
      'on a control-plane node of that cluster. An endpoint that does not answer refuses the join too (U7S_JOIN_CHECK=no skips the check).',
    'reset and any other command (token, config, version, init phase, ...) run as /usr/bin/kubeadm ' +
      'inside the namespace. reset also stops and disables the node. certs renew and certs check-expiration are ' +
      'podsec-u7s-certs: after a renewal the control plane is restarted and /root/.kube/config refreshed. upgrade plan, ' +
      'upgrade apply and upgrade node are podsec-u7s-upgrade: every check before any change, the node drained, kubelet restarted in the namespace.',
    'A leading -v N is passed on to kubeadm.',
  ],
  environment: {
    U7S_KUBEVERSION: 'Kubernetes version v1.MINOR.PATCH (default: the installed kubeadm; packages are installed for it when kubeadm is missing)',
    U7S_REGISTRY: 'registry of the images: empty means registry.k8s.io; unset means registry.local when /etc/hosts names it, else registry.altlinux.org',
    U7S_PLATFORM: 'image path of the platform (default from /etc/os-release: c10f, p10, p11, sisyphus)',
    U7S_CNI_PLUGIN: 'flannel (default) or calico',
    U7S_SETAVAILABLEIMAGES: 'yes: use the newest tags on the registry where the expected ones are missing',
    U7S_IMAGE_CHECK: 'no: do not ask the registry for the image tags',
    U7S_JOIN_CHECK: 'no: a join does not ask the cluster whether a rootless node can join it (kube-proxy conntrack settings, etcd data directory)',
    U7S_PULL_IMAGES:
      "no: do not pull the node's images into u7s-admin's CRI-O store before kubeadm (with progress, " +
      'checked against /etc/containers/policy.json); CRI-O then pulls them when kubelet asks',
    U7S_ARCHIMAGES:
      "more images for the node's own workloads, <platform>/<name>:<tag> separated by spaces (as podsec-k8s-save-oci saves them): " +
      "pulled with the node's images, through the same signature check",
    U7S_FLANNEL_TAG: 'tag of the flannel image',
    U7S_FLANNELCNIPLUGIN_TAG: 'tag of the flannel-cni-plugin image',
    U7S_SKIP_PHASES: 'kubeadm phases to skip when --skip-phases is not given',
    U7S_SLIRP_CIDR: "slirp4netns' network inside the namespace (default 10.0.2.0/24)",
    U7S_MTU:
      "the node namespace's MTU (default 65520, the fastest; flannel's VXLAN then crosses the network between nodes as IP fragments): " +
      "set the host's interface MTU where fragments do not pass",
    U7S_PUBLISH_ADDRESS: 'host address the node ports are published on (default 0.0.0.0)',
    U7S_ROOTLESSKIT_FLAGS: 'extra rootlesskit options, --name[=value] separated by spaces',
  },
  files: {
    '/etc/podsec/u7s/config/env': 'node settings (root-owned, read by u7s-admin as data)',
    '/etc/podsec/u7s/config/kubeadm-configs/': 'the kubeadm documents the configuration starts from',
    '/etc/podsec/u7s/config/rendered/': "the documents of the last init (a join's are removed after use: they hold the join secrets)",
    '/root/.kube/config': "root's copy of admin.conf, checked to hold no commands or file references",
  },
  usageExitCode: 2,
  exitCodes: {
    1: 'invalid input, a check failed, or kubeadm failed (one line says why)',
    2: 'invalid arguments, or no admin.conf after init',
    3: "join: the cluster's kube-proxy or kubeadm-config settings do not allow a rootless node; the message prints the commands that change them",
  },
  examples: {
    'kubeadm init': 'deploy the first control-plane node with the defaults',
    'kubeadm init --apiserver-advertise-address 192.0.2.10 --control-plane-endpoint 192.0.2.100:8443': 'a control plane behind a load balancer',
    'kubeadm join 192.0.2.10:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:<hash>': 'join a worker',
    'kubeadm --plan init --pod-network-cidr 10.200.0.0/16': 'show what init would do',
    'kubeadm token create --print-join-command': 'a new join command, from inside the node namespace',
  },
  seeAlso: ['podsec-u7s-preflight(1)', 'podsec-u7s-loadbalancer(1)', 'nsenter_u7s(8)', 'u7s-start-stop(8)', 'kubeadm(1)'],
};

const argv = process.argv.slice(2);
const [leading, rest] = splitAtCommand(argv, ['root', 'v', '-v'], ['plan', 'help', 'version', '-h', '-V']);
// -v N before the command belongs to kubeadm, not to our option parser.
const ours: string[] = [];
let verbose: string | undefined;
for (let i = 0; i < leading.length; i++) {
  const arg = leading[i]!;
  if (arg === '-v' || arg === '--v') verbose = leading[++i];
  else if (arg.startsWith('--v=') || arg.startsWith('-v=')) verbose = arg.slice(arg.indexOf('=') + 1);
  else ours.push(arg);
}

function requireRoot(what: string): void {
  if (process.getuid!() !== 0) throw new CommandError(t('kubeadm {command} through the u7s wrapper must be run as root', { command: what }));
}

async function platformOf(root: string): Promise<string> {
  const { platformName } = await import('./u7s/lib/values.ts');
  if (process.env.U7S_REGISTRY === '') return '';
  if (process.env.U7S_PLATFORM) return platformName(process.env.U7S_PLATFORM, 'U7S_PLATFORM');
  try {
    return platformFromOsRelease(osReleaseFields(root)).platform;
  } catch (error) {
    if (error instanceof UnknownPlatformError) {
      throw new CommandError(t('cannot determine the platform: {reason}; set U7S_PLATFORM', { reason: error.in(t) }));
    }
    throw error;
  }
}

async function kubeadmInstalled(): Promise<boolean> {
  const { SYSTEM_PROGRAMS } = await import('./u7s/lib/paths.ts');
  return existsSync(SYSTEM_PROGRAMS.kubeadm);
}

async function kubeadmVersion(): Promise<string | undefined> {
  const { capture } = await import('./lib/proc.ts');
  const { SYSTEM_PROGRAMS } = await import('./u7s/lib/paths.ts');
  if (!(await kubeadmInstalled())) return undefined;
  const result = await capture(SYSTEM_PROGRAMS.kubeadm, ['version', '-o', 'short'], { timeoutMs: 30_000, cwd: '/' });
  return result.code === 0 ? result.stdout.trim() : undefined;
}

async function imageList(version: string | undefined, repository: string): Promise<string[]> {
  const { capture } = await import('./lib/proc.ts');
  const { SYSTEM_PROGRAMS } = await import('./u7s/lib/paths.ts');
  if (!version || !(await kubeadmInstalled())) return [];
  const result = await capture(SYSTEM_PROGRAMS.kubeadm, ['config', 'images', 'list', `--kubernetes-version=${version}`, `--image-repository=${repository}`], {
    timeoutMs: 60_000,
    cwd: '/',
  });
  if (result.code !== 0) throw new CommandError(t('kubeadm config images list failed: {reason}', { reason: result.stderr.trim() }));
  return result.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

async function deploy(command: DeployCommand, args: string[], root: string, plan: boolean): Promise<number> {
  const { flagsHelp, parseDeployArgs } = await import('./u7s/lib/kubeadm-flags.ts');
  const parsed = parseDeployArgs(command, args);
  if (parsed.values.has('help')) {
    const note =
      command === 'join'
        ? `\n${t(
            'Before changing anything, join asks the cluster whether a rootless node can join it (kube-proxy conntrack.maxPerCore, ' +
              'tcpEstablishedTimeout and tcpCloseWaitTimeout 0; for --control-plane, etcd.local.dataDir /var/lib/podsec/u7s/etcd) and otherwise ' +
              'refuses (exit status 3) with the kubectl commands that change them. --plan does not ask; U7S_JOIN_CHECK=no skips the check.',
          )}\n`
        : '';
    process.stdout.write(
      `${t('Usage:')} kubeadm ${command} ${command === 'join' ? 'HOST:PORT ' : ''}[FLAG...]\n\n${t('Flags:')}\n${flagsHelp(command, t)}\n${note}`,
    );
    return 0;
  }
  if (!plan) requireRoot(command);
  const { nodeAccount } = await import('./u7s/lib/accounts.ts');
  const { chooseVersion, planDeploy, planText, Problems } = await import('./u7s/lib/deploy-plan.ts');
  const { checkJoinPlan, executeDeploy } = await import('./u7s/lib/deploy-run.ts');
  const { readHostNetwork } = await import('./u7s/lib/host-network.ts');
  const { formatNodeEnv } = await import('./u7s/lib/node-env.ts');
  const { installKubernetes } = await import('./u7s/lib/packages.ts');
  const { SYSTEM_PROGRAMS, U7S_ENV_FILE } = await import('./u7s/lib/paths.ts');
  const { chooseRegistry } = await import('./u7s/lib/registry.ts');
  // Every missing input is named in one run (the account, the platform, the version, the flags).
  const problems = new Problems();
  const account = problems.check(() => nodeAccount(root, U7S_ADMIN_USER));
  const platform = await problems.checkAsync(() => platformOf(root));
  // An unknown platform is already a problem; the rest is checked with a stand-in name.
  const checkedPlatform = platform ?? 'unknown';
  // Without the node account the plan is still checked, with a stand-in that is never used.
  const checked = account ?? { name: U7S_ADMIN_USER, uid: 0, gid: 0, home: `/home/${U7S_ADMIN_USER}`, shell: '/bin/false' };
  const network = await readHostNetwork();
  let installed = await kubeadmVersion();
  if (!plan && command === 'join') {
    // Before any change to the host, the packages included: does the cluster take a rootless node?
    // Only the join's documents are needed for that, not kubeadm's image list.
    const facts: HostFacts = { network, hostname: hostname(), platform: checkedPlatform, installedVersion: installed, images: [] };
    const early = problems.check(() => planDeploy({ parsed, env: process.env, root, account: checked, facts }));
    problems.report();
    await checkJoinPlan(early!, { root, env: process.env });
  }
  if (!plan && !(await kubeadmInstalled())) {
    problems.report();
    const wanted = chooseVersion(parsed, process.env, undefined, false);
    await installKubernetes(wanted, 26);
    installed = await kubeadmVersion();
  }
  const version = problems.check(() => chooseVersion(parsed, process.env, installed, command === 'init'));
  const registry = chooseRegistry(process.env, checkedPlatform, root);
  const repository = parsed.values.get('image-repository')?.at(-1) ?? registry.repository;
  const images = (await problems.checkAsync(() => imageList(version?.text ?? installed, repository))) ?? [];
  const facts: HostFacts = { network, hostname: hostname(), platform: checkedPlatform, installedVersion: installed, images };
  const deployPlan = problems.check(() => planDeploy({ parsed, env: process.env, root, account: checked, facts }));
  problems.report();
  if (!deployPlan || !account) throw new Error('unreachable: problems were reported');
  if (plan) {
    process.stdout.write(
      `# ${U7S_ENV_FILE}\n${formatNodeEnv(deployPlan.settings)}\n# ${deployPlan.configFile}\n${planText(deployPlan)}` +
        `\n# ${t('kubeadm command, run as {user} inside the node namespace:', { user: account.name })}` +
        `\n${[SYSTEM_PROGRAMS.kubeadm, ...deployPlan.kubeadmArgs].join(' ')}\n` +
        (command === 'join'
          ? `# ${t('Before any change, the join asks the cluster at {endpoint} whether a rootless node can join it (--plan does not ask).', {
              endpoint: deployPlan.settings.apiserverEndpoint,
            })}\n`
          : ''),
    );
    return 0;
  }
  return executeDeploy(deployPlan, images, { root, account, env: process.env });
}

async function namespaceRunning(account: Account): Promise<boolean> {
  const { userSystemctl } = await import('./u7s/lib/node-service.ts');
  const state = await userSystemctl(account, ['is-active', 'rootlesskit.service'], 30_000).catch(() => undefined);
  return state?.stdout.trim() === 'active';
}

async function reset(args: string[], root: string): Promise<number> {
  requireRoot('reset');
  const { capture, systemTool } = await import('./lib/proc.ts');
  const { nodeAccount } = await import('./u7s/lib/accounts.ts');
  const { inNamespace } = await import('./u7s/lib/deploy-run.ts');
  const { ensureUserManager, NODE_UNITS, startUnits, stopUnits, systemSystemctl } = await import('./u7s/lib/node-service.ts');
  const { SYSTEM_PROGRAMS, U7S_ENV_FILE, U7S_RENDERED_DIR } = await import('./u7s/lib/paths.ts');
  const account = nodeAccount(root, U7S_ADMIN_USER);
  if (!existsSync(join(root, U7S_ENV_FILE)))
    throw new CommandError(t('this node was not deployed by the u7s wrapper ({file} is missing); nothing to reset', { file: U7S_ENV_FILE }));
  await ensureUserManager(account);
  if (!(await namespaceRunning(account))) await startUnits(account, ['rootlesskit.service']);
  const code = await inNamespace(account, [SYSTEM_PROGRAMS.kubeadm, 'reset', ...args]);
  if (code !== 0) throw new CommandError(t('kubeadm reset failed (exit status {code})', { code }));
  await stopUnits(account, [...NODE_UNITS].reverse());
  await systemSystemctl(['disable', 'u7s.service']);
  for (const name of ['init.yaml', 'join.yaml']) {
    try {
      unlinkSync(join(root, U7S_RENDERED_DIR, name));
    } catch {
      // not there
    }
  }
  const loginctl = systemTool('loginctl');
  if (loginctl) await capture(loginctl, ['disable-linger', account.name], { timeoutMs: 30_000, cwd: '/' });
  process.stderr.write(
    t('The node is stopped and u7s.service disabled. CNI configuration of the node is in {dir}.', {
      dir: `${account.home}/.local/share/usernetes/_etc_cni_net.d`,
    }) + '\n',
  );
  return 0;
}

async function passthrough(args: string[]): Promise<number> {
  requireRoot(args[0]!);
  const { nodeAccount } = await import('./u7s/lib/accounts.ts');
  const { inNamespace } = await import('./u7s/lib/deploy-run.ts');
  const { SYSTEM_PROGRAMS } = await import('./u7s/lib/paths.ts');
  const account = nodeAccount('/', U7S_ADMIN_USER);
  return inNamespace(account, [SYSTEM_PROGRAMS.kubeadm, ...args]);
}

runCommand(
  spec,
  t,
  async ({ values, root }) => {
    if (verbose !== undefined) (await import('./u7s/lib/values.ts')).verbosity(verbose, '-v');
    const [command, ...args] = rest;
    if (command === undefined) {
      process.stdout.write(helpText(spec, t));
      return 0;
    }
    let plan = values.plan === true;
    if ((command === 'init' || command === 'join') && args[0] !== 'phase') {
      const flags = args.filter((arg) => arg !== '--plan');
      plan ||= flags.length !== args.length;
      return deploy(command, verbose !== undefined ? [`--v=${verbose}`, ...flags] : flags, root, plan);
    }
    if (plan) throw new CommandError(t('--plan is for init and join'), 2);
    const withVerbosity = verbose !== undefined ? [`--v=${verbose}`] : [];
    if (command === 'reset') return reset([...withVerbosity, ...args], root);
    if (command === 'certs' && (args[0] === 'renew' || args[0] === 'check-expiration')) {
      const { certsThroughWrapper } = await import('./u7s/lib/certs.ts');
      const { nodeOps } = await import('./u7s/lib/node-ops.ts');
      return certsThroughWrapper(args[0], args.slice(1), root, nodeOps);
    }
    if (command === 'upgrade' && ['plan', 'apply', 'node'].includes(args[0]!)) {
      const { upgradeCommand } = await import('./u7s/lib/upgrade-run.ts');
      const { nodeOps } = await import('./u7s/lib/node-ops.ts');
      return upgradeCommand(
        args.filter((arg) => arg !== '--yes' && arg !== '-y'),
        () => nodeOps(root),
      );
    }
    return passthrough([command, ...args, ...withVerbosity]);
  },
  ours,
);
