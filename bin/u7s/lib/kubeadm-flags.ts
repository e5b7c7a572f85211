/**
 * The command line of `kubeadm init` and `kubeadm join` through the u7s wrapper. Every flag
 * listed here has an effect (a field of the generated documents, a kubeadm flag passed on, or a
 * node setting); anything else is refused with one line naming it (upstream accepted and
 * silently ignored many, and garbled unknown ones). Forms: --name value, --name=value, -v N.
 * Hand-written: it must mirror kubeadm's own pflag table (which flags exist, which take values), which no parser library knows.
 */
import { CommandError } from '../../lib/command.ts';
import { translator } from '../../lib/i18n.ts';
import * as v from './values.ts';

const t = translator('podsec-k8s');

export type DeployCommand = 'init' | 'join';

/** A command-line mistake: one line, exit status 2 (the frame's "invalid arguments"). */
class FlagError extends CommandError {
  constructor(message: string) {
    super(message, 2);
  }
}

interface FlagDef {
  /** Takes no value. */
  boolean?: boolean;
  /** May be given more than once (values collected in order). */
  repeatable?: boolean;
  commands: DeployCommand[];
  check?: (value: string, what: string) => unknown;
  valueName?: string;
  /** The help line (a msgid; `description` so the message extractor finds it). */
  description: string;
}

const BOTH: DeployCommand[] = ['init', 'join'];

/** Help texts are msgids; they are translated when shown. */
export const FLAGS: Record<string, FlagDef> = {
  'apiserver-advertise-address': {
    commands: BOTH,
    check: v.ipv4,
    valueName: 'IP',
    description: "address the API server advertises (default: the host's address on the default route's network); " + 'also the node address on tap0',
  },
  'apiserver-bind-port': {
    commands: BOTH,
    check: v.port,
    valueName: 'PORT',
    description: 'API server port (default 6443); this port is the one published on the host',
  },
  'certificate-key': {
    commands: BOTH,
    check: v.certificateKey,
    valueName: 'KEY',
    description: 'init: key that encrypts the uploaded control-plane certificates; join: key to download them ' + '(with --control-plane)',
  },
  config: {
    commands: BOTH,
    check: v.absolutePath,
    valueName: 'FILE',
    description:
      'kubeadm documents (v1beta3 or v1beta4) merged over the generated ones (their values win, extraArgs flag by flag); ' +
      'the node settings follow the merged result',
  },
  'dry-run': { boolean: true, commands: BOTH, description: 'passed to kubeadm: change nothing, print what would be done' },
  'ignore-preflight-errors': {
    repeatable: true,
    commands: BOTH,
    check: (value, what) => v.nameList(value, what),
    valueName: 'LIST',
    description: "passed to kubeadm: preflight checks whose errors become warnings ('all' for all)",
  },
  'node-name': { commands: BOTH, check: v.dnsSubdomain, valueName: 'NAME', description: 'node name (default: the host name)' },
  patches: {
    commands: BOTH,
    check: v.absolutePath,
    valueName: 'DIR',
    description: 'passed to kubeadm: directory of patches for the generated manifests (readable by u7s-admin)',
  },
  'skip-phases': {
    commands: BOTH,
    check: (value, what) => v.nameList(value, what),
    valueName: 'LIST',
    description: 'kubeadm phases to skip (skipPhases of the init or join document)',
  },
  token: {
    commands: BOTH,
    check: v.bootstrapToken,
    valueName: 'TOKEN',
    description: 'init: the bootstrap token to create; join: the token for discovery and TLS bootstrap',
  },
  'control-plane-endpoint': {
    commands: ['init'],
    check: v.endpoint,
    valueName: 'HOST:PORT',
    description: 'shared endpoint of the control plane, e.g. a load balancer (default: advertise address and bind ' + 'port)',
  },
  'cert-dir': {
    commands: ['init'],
    check: v.absolutePath,
    valueName: 'DIR',
    description: 'where the certificates are kept (certificatesDir; default /etc/kubernetes/pki)',
  },
  'feature-gates': { commands: ['init'], check: v.featureGates, valueName: 'LIST', description: 'kubeadm feature gates, Name=true|false,... (featureGates)' },
  'image-repository': {
    commands: ['init'],
    check: v.imageRepository,
    valueName: 'REPOSITORY',
    description: 'registry and path of the control-plane images (default from U7S_REGISTRY and the platform)',
  },
  'kubernetes-version': {
    commands: ['init'],
    check: v.kubeVersion,
    valueName: 'VERSION',
    description: 'Kubernetes version v1.MINOR.PATCH (default: U7S_KUBEVERSION, else the installed kubeadm)',
  },
  'pod-network-cidr': {
    commands: ['init'],
    check: v.parseCidr,
    valueName: 'CIDR',
    description: "pod network (default 10.244.0.0/16; 192.168.0.0/16 with calico); also flannel's Network",
  },
  'service-cidr': { commands: ['init'], check: v.parseCidr, valueName: 'CIDR', description: 'service network (default 10.96.0.0/12)' },
  'service-dns-domain': { commands: ['init'], check: v.dnsSubdomain, valueName: 'DOMAIN', description: 'cluster DNS domain (default cluster.local)' },
  'skip-certificate-key-print': { boolean: true, commands: ['init'], description: 'passed to kubeadm: do not print the certificate key' },
  'skip-token-print': { boolean: true, commands: ['init'], description: 'passed to kubeadm: do not print the token' },
  'token-ttl': {
    commands: ['init'],
    check: v.duration,
    valueName: 'DURATION',
    description: 'lifetime of the bootstrap token, e.g. 24h0m0s (0: never expires)',
  },
  'upload-certs': { boolean: true, commands: ['init'], description: 'upload the control-plane certificates (always done on init, so that masters can join)' },
  'control-plane': { boolean: true, commands: ['join'], description: 'join as a control-plane node (with --certificate-key)' },
  'discovery-file': {
    commands: ['join'],
    check: v.absolutePath,
    valueName: 'FILE',
    description: 'kubeconfig for file-based discovery instead of a token (readable by u7s-admin)',
  },
  'discovery-token': { commands: ['join'], check: v.bootstrapToken, valueName: 'TOKEN', description: 'token for discovery only' },
  'discovery-token-ca-cert-hash': {
    repeatable: true,
    commands: ['join'],
    check: v.caCertHash,
    valueName: 'sha256:HASH',
    description: 'hash of the cluster CA public key; may be repeated',
  },
  'discovery-token-unsafe-skip-ca-verification': { boolean: true, commands: ['join'], description: 'join without checking the CA hash (unsafe)' },
  'tls-bootstrap-token': { commands: ['join'], check: v.bootstrapToken, valueName: 'TOKEN', description: 'token for the TLS bootstrap only' },
  v: { commands: BOTH, check: v.verbosity, valueName: 'N', description: 'log level of kubeadm (passed on)' },
  help: { boolean: true, commands: BOTH, description: 'show this help and change nothing' },
};

/** Flags of kubeadm that the wrapper refuses, with the reason. */
const REFUSED: Record<string, { description: string }> = {
  'cri-socket': { description: 'the node always uses CRI-O at unix:///run/crio/crio.sock in its namespace' },
  rootfs: { description: 'kubeadm runs inside the node namespace; another root file system makes no sense there' },
  'experimental-upload-certs': { description: 'removed from kubeadm; init always uploads the certificates' },
};

export interface ParsedFlags {
  command: DeployCommand;
  /** Positional arguments (join: the endpoint). */
  positionals: string[];
  values: Map<string, string[]>;
}

export function parseDeployArgs(command: DeployCommand, argv: string[]): ParsedFlags {
  const values = new Map<string, string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    const eq = body.indexOf('=');
    let name = eq >= 0 ? body.slice(0, eq) : body;
    if (!arg.startsWith('--')) {
      // Single-dash: -v N, -v=N, -h; nothing else.
      if (name !== 'v' && name !== 'h')
        throw new FlagError(t('unknown flag {flag} for kubeadm {command}; see kubeadm {command} --help', { flag: arg, command }));
      if (name === 'h') name = 'help';
    }
    if (REFUSED[name]) throw new FlagError(t('--{flag} is not supported by the u7s wrapper: {reason}', { flag: name, reason: t(REFUSED[name]!.description) }));
    const def = FLAGS[name];
    if (!def) throw new FlagError(t('unknown flag {flag} for kubeadm {command}; see kubeadm {command} --help', { flag: `--${name}`, command }));
    if (!def.commands.includes(command))
      throw new FlagError(t('--{flag} is a flag of kubeadm {other}, not of kubeadm {command}', { flag: name, other: def.commands[0]!, command }));
    let value: string;
    if (def.boolean) {
      if (eq >= 0) {
        const raw = body.slice(eq + 1);
        if (raw !== 'true' && raw !== 'false') throw new FlagError(t('--{flag} takes no value (or =true, =false)', { flag: name }));
        value = raw;
      } else value = 'true';
    } else if (eq >= 0) value = body.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new FlagError(t('--{flag} needs a value', { flag: name }));
      value = argv[++i]!;
    }
    if (def.check && !def.boolean) {
      try {
        def.check(value, `--${name}`);
      } catch (error) {
        throw new FlagError((error as Error).message);
      }
    }
    const previous = values.get(name);
    if (previous && !def.repeatable) throw new FlagError(t('--{flag} is given twice', { flag: name }));
    values.set(name, [...(previous ?? []), value]);
  }
  return { command, positionals, values };
}

export const flag = (parsed: ParsedFlags, name: string) => parsed.values.get(name)?.at(-1);
export const flagAll = (parsed: ParsedFlags, name: string) => parsed.values.get(name) ?? [];
export const isSet = (parsed: ParsedFlags, name: string) => flag(parsed, name) === 'true';

/** The flags kubeadm itself gets (besides --config); everything else went into the documents. */
export function passedFlags(parsed: ParsedFlags): string[] {
  const out: string[] = [];
  const verbosity = flag(parsed, 'v');
  if (verbosity !== undefined) out.push(`--v=${verbosity}`);
  if (isSet(parsed, 'dry-run')) out.push('--dry-run');
  const ignored = flagAll(parsed, 'ignore-preflight-errors');
  if (ignored.length) out.push(`--ignore-preflight-errors=${ignored.join(',')}`);
  const patches = flag(parsed, 'patches');
  if (patches) out.push(`--patches=${patches}`);
  if (isSet(parsed, 'skip-certificate-key-print')) out.push('--skip-certificate-key-print');
  if (isSet(parsed, 'skip-token-print')) out.push('--skip-token-print');
  return out;
}

export function flagsHelp(command: DeployCommand, translate: (msgid: string) => string): string {
  const rows = Object.entries(FLAGS)
    .filter(([, def]) => def.commands.includes(command))
    .map(([name, def]) => [`${name === 'v' ? '-v, --v' : `    --${name}`}${def.valueName ? ` ${def.valueName}` : ''}`, translate(def.description)] as const);
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`).join('\n');
}
