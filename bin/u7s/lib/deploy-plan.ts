/**
 * What one `kubeadm init` or `kubeadm join` through the wrapper will do, computed before anything
 * changes: the node settings (environment file), the kubeadm documents and kubeadm's argument
 * list. Every input is validated here; a bad value or a network overlap stops the wrapper
 * before the first write. Pure but for reading the installed templates and --config.
 */
import { join } from 'node:path';
import { DEFAULT_APISERVER_BIND_PORT, DEFAULT_DNS_DOMAIN, DEFAULT_POD_NETWORK_CIDR, DEFAULT_SERVICE_CIDR } from './kubeadm-fields.ts';
import { CommandError } from '../../lib/command.ts';
import { TranslatableError, translator } from '../../lib/i18n.ts';
import { readRegularFile } from '../../lib/safe-fs.ts';
import type { Account } from './accounts.ts';
import { crossing, externalAddress, type HostNetwork } from './host-network.ts';
import { flag, flagAll, isSet, passedFlags, type ParsedFlags } from './kubeadm-flags.ts';
import {
  documentsText,
  fillTemplate,
  findKind,
  getPath,
  KUBEADM_V1BETA4,
  kubeadmApiFor,
  mergeUserDocuments,
  readTemplate,
  toKubeadmApi,
  type Doc,
  type KubeadmApi,
  type TemplateKind,
} from './kubeadm-documents.ts';
import { rootlesskitFlags, type NodeSettings } from './node-env.ts';
import { U7S_KUBEADM_CONFIG_DIR, U7S_RENDERED_DIR } from './paths.ts';
import type { CniPlugin } from './ports.ts';
import { chooseRegistry, parseImage, type RegistryChoice } from './registry.ts';
import * as v from './values.ts';

const t = translator('podsec-k8s');

const MIN_MINOR = 26;
const CALICO_POD_CIDR = '192.168.0.0/16';
const DEFAULT_SLIRP_CIDR = '10.0.2.0/24';
const BOOTSTRAP_GROUPS = ['system:bootstrappers:kubeadm:default-node-token'];

export interface HostFacts {
  network: HostNetwork;
  hostname: string;
  platform: string;
  /** `kubeadm version -o short`, when kubeadm is installed. */
  installedVersion?: string;
  /** `kubeadm config images list` for the chosen version and repository (pause, etcd, ...). */
  images: string[];
}

export interface DeployPlan {
  command: 'init' | 'join';
  settings: NodeSettings;
  registry: RegistryChoice;
  documents: Doc[];
  /** Where the documents are written for kubeadm (readable by u7s-admin inside the namespace). */
  configFile: string;
  /** The documents carry join secrets: removed after kubeadm ran. */
  secret: boolean;
  /** kubeadm's arguments, from the subcommand on. */
  kubeadmArgs: string[];
  version?: v.KubeVersion;
  /** The kubeadm API of the documents, and the kubeadm version it was chosen for (undefined: not known). */
  api: { version: KubeadmApi; reader?: string };
}

class PlanError extends Error {
  readonly expected = true;
}

/** Every refusal of a deployment's inputs, reported together so that one run names all that is missing. */
class ProblemsError extends Error {
  readonly expected = true;
  constructor(readonly problems: string[]) {
    super(
      problems.length === 1
        ? problems[0]
        : [t.n('{count} problem stops the deployment:', '{count} problems stop the deployment:', problems.length), ...problems.map((p) => `  - ${p}`)].join(
            '\n',
          ),
    );
  }
}

/** Collects the refusals (expected errors) of checks that do not depend on each other. */
export class Problems {
  private readonly found: string[] = [];

  check<T>(step: () => T): T | undefined {
    try {
      return step();
    } catch (error) {
      this.add(error);
      return undefined;
    }
  }

  async checkAsync<T>(step: () => Promise<T>): Promise<T | undefined> {
    try {
      return await step();
    } catch (error) {
      this.add(error);
      return undefined;
    }
  }

  private first: unknown;

  /** Throws one ProblemsError naming every refusal collected (a single one as it was thrown), if there is any. */
  report(): void {
    if (this.found.length === 1 && !(this.first instanceof TranslatableError)) throw this.first;
    if (this.found.length) throw new ProblemsError(this.found);
  }

  private add(error: unknown): void {
    this.first ??= error;
    const messages =
      error instanceof ProblemsError
        ? error.problems
        : error instanceof TranslatableError
          ? [error.in(t)]
          : error instanceof CommandError || (error as { expected?: unknown })?.expected === true
            ? [(error as Error).message]
            : undefined;
    if (!messages) throw error;
    for (const message of messages) if (!this.found.includes(message)) this.found.push(message);
  }
}

function chooseCni(env: NodeJS.ProcessEnv): CniPlugin {
  const value = env.U7S_CNI_PLUGIN ?? 'flannel';
  if (value !== 'flannel' && value !== 'calico') throw new PlanError(t('U7S_CNI_PLUGIN: {value} is not flannel or calico', { value: v.shown(value) }));
  return value;
}

/**
 * The kubeadm API of the documents: the one the installed kubeadm reads (it is the one that reads
 * them), else that of the chosen version (which is what gets installed); when neither is known
 * (a --plan of a join on a host without kubeadm), v1beta4, which every kubeadm from 1.31 on reads.
 */
export function chooseKubeadmApi(installed: string | undefined, chosen: v.KubeVersion | undefined): DeployPlan['api'] {
  const reader = installed ? v.kubeVersion(installed.trim(), 'kubeadm version') : chosen;
  return reader ? { version: kubeadmApiFor(reader.minor), reader: reader.text } : { version: KUBEADM_V1BETA4 };
}

/** --kubernetes-version, else U7S_KUBEVERSION, else the installed kubeadm's; 1.26 or newer. */
export function chooseVersion(parsed: ParsedFlags, env: NodeJS.ProcessEnv, installed: string | undefined, required: boolean): v.KubeVersion | undefined {
  const explicit = flag(parsed, 'kubernetes-version') ?? env.U7S_KUBEVERSION;
  const source = explicit !== undefined ? (flag(parsed, 'kubernetes-version') !== undefined ? '--kubernetes-version' : 'U7S_KUBEVERSION') : 'kubeadm version';
  const text = explicit ?? installed;
  if (text === undefined || text === '') {
    if (!required) return undefined;
    throw new PlanError(t('cannot tell the Kubernetes version: set U7S_KUBEVERSION=v1.MINOR.PATCH or install kubeadm'));
  }
  const version = v.kubeVersion(text.trim(), source);
  if (version.major !== 1 || version.minor < MIN_MINOR)
    throw new PlanError(t('Kubernetes {version} is not supported: 1.{min} or newer is needed', { version: version.text, min: MIN_MINOR }));
  if (explicit !== undefined && installed) {
    const have = v.kubeVersion(installed.trim(), 'kubeadm version');
    if (have.minor !== version.minor) {
      throw new PlanError(
        t('the installed kubeadm is {have} but {version} was asked for; install ' + 'kubernetes1.{minor}-kubeadm, -kubelet and -crio', {
          have: have.text,
          version: version.text,
          minor: version.minor,
        }),
      );
    }
  }
  return version;
}

function joinEndpoint(parsed: ParsedFlags): string | undefined {
  if (parsed.command !== 'join') {
    if (parsed.positionals.length) throw new PlanError(t('kubeadm init takes no arguments, got {arg}', { arg: v.shown(parsed.positionals[0]!) }));
    return undefined;
  }
  if (flag(parsed, 'discovery-file') !== undefined) {
    if (parsed.positionals.length) throw new PlanError(t('kubeadm join with --discovery-file takes no endpoint'));
    return undefined;
  }
  if (parsed.positionals.length !== 1) throw new PlanError(t('kubeadm join needs exactly one argument, the API server endpoint HOST:PORT'));
  return v.endpoint(parsed.positionals[0]!, t('the API server endpoint')).text;
}

/** The discovery flags a join needs. */
function checkDiscovery(parsed: ParsedFlags): void {
  const discoveryFile = flag(parsed, 'discovery-file');
  const token = flag(parsed, 'token');
  if (!discoveryFile) {
    if (!(flag(parsed, 'discovery-token') ?? token)) throw new PlanError(t('kubeadm join needs --token (or --discovery-token), or --discovery-file'));
    if (!flagAll(parsed, 'discovery-token-ca-cert-hash').length && !isSet(parsed, 'discovery-token-unsafe-skip-ca-verification'))
      throw new PlanError(t('kubeadm join needs --discovery-token-ca-cert-hash, or ' + '--discovery-token-unsafe-skip-ca-verification'));
  } else if (!(flag(parsed, 'tls-bootstrap-token') ?? token)) {
    throw new PlanError(t('kubeadm join with --discovery-file needs --tls-bootstrap-token or --token'));
  }
}

interface PlanInput {
  parsed: ParsedFlags;
  env: NodeJS.ProcessEnv;
  root: string;
  account: Account;
  facts: HostFacts;
}

export function planDeploy({ parsed, env, root, account, facts }: PlanInput): DeployPlan {
  const command = parsed.command;
  const controlPlaneJoin = command === 'join' && isSet(parsed, 'control-plane');
  const controlPlane: NodeSettings['controlPlane'] = command === 'init' ? 'initMaster' : controlPlaneJoin ? 'master' : '';
  // The inputs are checked independently and every refusal is reported at once.
  const problems = new Problems();
  const cni = problems.check(() => chooseCni(env)) ?? 'flannel';
  const version = problems.check(() => chooseVersion(parsed, env, facts.installedVersion, command === 'init'));
  const registry = chooseRegistry(env, facts.platform, root);
  const repository = flag(parsed, 'image-repository') ?? registry.repository;
  const endpoint = problems.check(() => joinEndpoint(parsed));

  const ext = externalAddress(facts.network);
  const advertise = flag(parsed, 'apiserver-advertise-address') ?? ext?.address;
  if (!advertise)
    problems.check(() => {
      throw new PlanError(
        t("cannot find the host's external address (no default route with an address on its network); give " + '--apiserver-advertise-address'),
      );
    });
  const bindPort = Number(flag(parsed, 'apiserver-bind-port') ?? DEFAULT_APISERVER_BIND_PORT);
  const nodeName = problems.check(() => flag(parsed, 'node-name') ?? v.dnsSubdomain(facts.hostname.toLowerCase(), t('the host name (give --node-name)')));
  const podCidr = flag(parsed, 'pod-network-cidr') ?? (cni === 'calico' ? CALICO_POD_CIDR : DEFAULT_POD_NETWORK_CIDR);
  const serviceCidr = flag(parsed, 'service-cidr') ?? DEFAULT_SERVICE_CIDR;
  const slirpCidr = problems.check(() => v.parseCidr(env.U7S_SLIRP_CIDR ?? DEFAULT_SLIRP_CIDR, 'U7S_SLIRP_CIDR').text);
  const mtu = problems.check(() => v.mtu(env.U7S_MTU ?? String(v.MAX_MTU), 'U7S_MTU'));
  const token = flag(parsed, 'token');
  const certificateKey = flag(parsed, 'certificate-key');
  const skipPhases = flag(parsed, 'skip-phases') ?? (env.U7S_SKIP_PHASES ? env.U7S_SKIP_PHASES : undefined);
  if (skipPhases !== undefined) problems.check(() => v.nameList(skipPhases, flag(parsed, 'skip-phases') ? '--skip-phases' : 'U7S_SKIP_PHASES'));
  const phases = skipPhases?.split(',');
  if (controlPlaneJoin && !certificateKey)
    problems.check(() => {
      throw new PlanError(t('kubeadm join --control-plane needs --certificate-key (printed by kubeadm init)'));
    });
  if (command === 'join' && !controlPlaneJoin && certificateKey)
    problems.check(() => {
      throw new PlanError(t('--certificate-key is for a control-plane join (--control-plane)'));
    });
  if (command === 'join') problems.check(() => checkDiscovery(parsed));
  problems.report();

  const template = (kind: TemplateKind) => readTemplate(root, command, kind);
  const documents: Doc[] = [];
  if (command === 'init') {
    const tokenTtl = flag(parsed, 'token-ttl');
    documents.push(
      fillTemplate('InitConfiguration', template('InitConfiguration'), {
        'localAPIEndpoint.advertiseAddress': advertise,
        'localAPIEndpoint.bindPort': bindPort,
        'nodeRegistration.name': nodeName,
        certificateKey,
        bootstrapTokens:
          token || tokenTtl
            ? [{ ...(token ? { token } : {}), ...(tokenTtl ? { ttl: tokenTtl } : {}), groups: BOOTSTRAP_GROUPS, usages: ['signing', 'authentication'] }]
            : undefined,
        skipPhases: phases,
      }),
    );
  } else {
    const discoveryFile = flag(parsed, 'discovery-file');
    const discoveryToken = flag(parsed, 'discovery-token') ?? token;
    const hashes = flagAll(parsed, 'discovery-token-ca-cert-hash');
    const unsafe = isSet(parsed, 'discovery-token-unsafe-skip-ca-verification');
    const tlsToken = flag(parsed, 'tls-bootstrap-token') ?? token;
    const values: Record<string, unknown> = {
      'discovery.bootstrapToken.apiServerEndpoint': endpoint,
      'discovery.bootstrapToken.token': discoveryFile ? undefined : discoveryToken,
      'discovery.bootstrapToken.caCertHashes': discoveryFile || !hashes.length ? undefined : hashes,
      'discovery.bootstrapToken.unsafeSkipCAVerification': unsafe && !discoveryFile ? true : undefined,
      'discovery.tlsBootstrapToken': tlsToken,
      'discovery.file.kubeConfigPath': discoveryFile,
      'nodeRegistration.name': nodeName,
      skipPhases: phases,
    };
    if (discoveryFile) values['discovery.bootstrapToken'] = undefined;
    if (controlPlaneJoin) {
      Object.assign(values, {
        'controlPlane.localAPIEndpoint.advertiseAddress': advertise,
        'controlPlane.localAPIEndpoint.bindPort': bindPort,
        'controlPlane.certificateKey': certificateKey,
      });
    }
    const kind = controlPlaneJoin ? 'JoinControlPlaneConfiguration' : 'JoinConfiguration';
    documents.push(fillTemplate(kind, template(kind), values));
  }
  if (command === 'init' || controlPlaneJoin) {
    const gates = flag(parsed, 'feature-gates');
    documents.push(
      fillTemplate('ClusterConfiguration', template('ClusterConfiguration'), {
        controlPlaneEndpoint: flag(parsed, 'control-plane-endpoint') ?? (command === 'init' ? `${advertise}:${bindPort}` : endpoint),
        kubernetesVersion: version ? version.text.slice(1) : undefined,
        imageRepository: repository,
        'etcd.local.imageRepository': repository,
        'etcd.local.serverCertSANs': [advertise, '127.0.0.1'],
        'etcd.local.peerCertSANs': [advertise],
        'controllerManager.extraArgs.cluster-cidr': podCidr,
        'controllerManager.extraArgs.service-cluster-ip-range': serviceCidr,
        'networking.podSubnet': podCidr,
        'networking.serviceSubnet': serviceCidr,
        'networking.dnsDomain': flag(parsed, 'service-dns-domain') ?? DEFAULT_DNS_DOMAIN,
        certificatesDir: flag(parsed, 'cert-dir'),
        featureGates: gates ? v.featureGates(gates, '--feature-gates') : undefined,
        'etcd.local.imageTag': undefined,
        'dns.imageTag': undefined,
      }),
    );
  }
  documents.push(fillTemplate('KubeletConfiguration', template('KubeletConfiguration'), {}));
  documents.push(fillTemplate('KubeProxyConfiguration', template('KubeProxyConfiguration'), {}));

  const api = chooseKubeadmApi(facts.installedVersion, version);
  const mainKind = command === 'init' ? 'InitConfiguration' : 'JoinConfiguration';
  const reader = api.reader ?? t('of unknown version');
  const generated = toKubeadmApi(documents, api.version, mainKind, reader, U7S_KUBEADM_CONFIG_DIR);
  const userConfig = flag(parsed, 'config');
  const merged = userConfig
    ? mergeUserDocuments(generated, readRegularFile(join(root, userConfig), { maxBytes: 1 << 20 }).toString('utf8'), userConfig, api.version, mainKind, reader)
    : generated;

  // The node settings follow the documents kubeadm will get (so --config can set them too).
  const main = findKind(merged, mainKind)!;
  const cluster = findKind(merged, 'ClusterConfiguration');
  const effective = {
    advertise: String(getPath(main, command === 'init' ? 'localAPIEndpoint.advertiseAddress' : 'controlPlane.localAPIEndpoint.advertiseAddress') ?? advertise),
    bindPort: String(getPath(main, command === 'init' ? 'localAPIEndpoint.bindPort' : 'controlPlane.localAPIEndpoint.bindPort') ?? bindPort),
    podCidr: String(cluster ? (getPath(cluster, 'networking.podSubnet') ?? podCidr) : podCidr),
    serviceCidr: String(cluster ? (getPath(cluster, 'networking.serviceSubnet') ?? serviceCidr) : serviceCidr),
    nodeName: String(getPath(main, 'nodeRegistration.name') ?? nodeName),
  };
  const what = userConfig ? `--config ${userConfig}` : t('the generated documents');
  v.ipv4(effective.advertise, `${what}: advertiseAddress`);
  v.port(effective.bindPort, `${what}: bindPort`);
  v.dnsSubdomain(effective.nodeName, `${what}: nodeRegistration.name`);
  const service = v.parseCidr(effective.serviceCidr, `${what}: networking.serviceSubnet`);
  const pods = v.parseCidr(effective.podCidr, `${what}: networking.podSubnet`);
  const slirp = v.parseCidr(slirpCidr!, 'U7S_SLIRP_CIDR');
  const problem =
    crossing(facts.network, [
      { name: t('service network'), cidr: service },
      { name: t('pod network'), cidr: pods },
    ]) ??
    crossing({ addresses: [], defaultRoutes: [] }, [
      { name: t('service network'), cidr: service },
      { name: t('pod network'), cidr: pods },
      { name: t('slirp4netns network (U7S_SLIRP_CIDR)'), cidr: slirp },
    ]);
  if (problem) throw new PlanError(problem);

  const pause = facts.images.find((image) => /\/pause:[^/]+$/.test(image));
  const pauseRef = pause ? parseImage(pause) : undefined;
  const flannelTag = env.U7S_FLANNEL_TAG;
  if (flannelTag) v.imageTag(flannelTag, 'U7S_FLANNEL_TAG');
  const publishAddress = env.U7S_PUBLISH_ADDRESS ? v.ipv4(env.U7S_PUBLISH_ADDRESS, 'U7S_PUBLISH_ADDRESS') : '0.0.0.0';

  const settings: NodeSettings = {
    role: controlPlane === '' ? 'worker' : 'control-plane',
    controlPlane,
    kubeVersion: version?.text ?? '',
    platform: registry.platform,
    registry: pauseRef?.registryHost ?? registry.registry.split('/')[0]!,
    registryPlatform: repository,
    pauseImage: pauseRef ? `${pauseRef.name}:${pauseRef.tag}` : '',
    uid: account.uid,
    extIp: effective.advertise,
    extDev: ext && ext.address === effective.advertise ? ext.label : '',
    apiserverBindPort: Number(effective.bindPort),
    apiserverEndpoint: endpoint ?? String(getPath(cluster ?? {}, 'controlPlaneEndpoint') ?? `${effective.advertise}:${effective.bindPort}`),
    serviceCidr: service.text,
    podNetworkCidr: pods.text,
    slirpCidr: slirp.text,
    mtu: mtu!,
    cniPlugin: cni,
    publishAddress,
    rootlesskitFlags: rootlesskitFlags(env.U7S_ROOTLESSKIT_FLAGS ?? '', 'U7S_ROOTLESSKIT_FLAGS'),
    flannelRegistry: registry.flannelRepository,
    flannelTag: flannelTag ?? '',
    nodeName: effective.nodeName,
  };

  const configFile = `${U7S_RENDERED_DIR}/${command}.yaml`;
  const kubeadmArgs = [command, `--config=${configFile}`, ...(command === 'init' ? ['--upload-certs'] : []), ...passedFlags(parsed)];
  const secret = Boolean(token || certificateKey || command === 'join');
  return { command, settings, registry, documents: merged, configFile, secret, kubeadmArgs, version, api };
}

export function planText(plan: DeployPlan): string {
  const reader = plan.api.reader ? `kubeadm ${plan.api.reader}` : 'a kubeadm of unknown version';
  return documentsText(plan.documents, [
    `Generated by podsec-u7s-kubeadm for kubeadm ${plan.command}; kubeadm reads it inside the node namespace.`,
    `kubeadm API ${plan.api.version}, for ${reader}.`,
  ]);
}
