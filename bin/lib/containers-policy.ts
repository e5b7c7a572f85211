/**
 * The containers/image trust configuration as data: policy.json (containers-policy.json(5)) and
 * registries.d YAML (containers-registries.d(5)). Parsing is strict: an unknown requirement type or
 * a malformed file is an error naming the file and where it is broken, so no command ever edits or
 * trusts a file it does not understand.
 */
import YAML from 'yaml';

export type KeyType = 'GPGKeys' | 'signedByGPGKeys' | 'signedBySigstoreKeys';

export type PolicyRequirement =
  | { type: 'reject' }
  | { type: 'insecureAcceptAnything' }
  | {
      type: 'signedBy';
      keyType: KeyType;
      keyPath?: string;
      keyPaths?: string[];
      keyData?: string;
      signedIdentity?: Record<string, unknown>;
    }
  | {
      type: 'sigstoreSigned';
      keyPath?: string;
      keyPaths?: string[];
      keyData?: string;
      fulcio?: Record<string, unknown>;
      rekorPublicKeyPath?: string;
      rekorPublicKeyData?: string;
      signedIdentity?: Record<string, unknown>;
    };

export interface ContainersPolicy {
  default: PolicyRequirement[];
  transports?: Record<string, Record<string, PolicyRequirement[]>>;
}

export class PolicySyntaxError extends Error {
  constructor(
    readonly file: string,
    readonly where: string,
    reason: string,
  ) {
    super(`${file}${where ? `:${where}` : ''}: ${reason}`);
  }
  /** Bad input, not a crash: runCommand prints the message and exits 1. */
  readonly expected = true;
}

const REQUIREMENT_KEYS: Record<PolicyRequirement['type'], readonly string[]> = {
  reject: ['type'],
  insecureAcceptAnything: ['type'],
  signedBy: ['type', 'keyType', 'keyPath', 'keyPaths', 'keyData', 'signedIdentity'],
  sigstoreSigned: ['type', 'keyPath', 'keyPaths', 'keyData', 'fulcio', 'rekorPublicKeyPath', 'rekorPublicKeyData', 'signedIdentity'],
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** line:column of a character offset, for messages. */
function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `${before.length}:${(before[before.length - 1]?.length ?? 0) + 1}`;
}

/** Does JSON.parse fail on `prefix` only because the text ends early? */
function failsOnlyAtEnd(prefix: string): boolean {
  try {
    JSON.parse(prefix);
    return true;
  } catch (error) {
    const message = (error as Error).message;
    const position = /at position (\d+)/.exec(message)?.[1];
    if (position !== undefined) return Number(position) >= prefix.length;
    return /end of (JSON )?input|Unterminated/i.test(message);
  }
}

/**
 * The offset of the first character that makes `text` invalid JSON. Node's messages do not
 * always carry a position, so find it: every prefix shorter than the bad character fails only
 * for ending early, every longer one fails on the bad character.
 */
function jsonErrorOffset(text: string): number {
  let low = 0;
  let high = text.length;
  while (low < high) {
    const middle = Math.floor((low + high + 1) / 2);
    if (failsOnlyAtEnd(text.slice(0, middle))) low = middle;
    else high = middle - 1;
  }
  return low;
}

function checkRequirements(value: unknown, file: string, where: string): PolicyRequirement[] {
  if (!Array.isArray(value) || value.length === 0) throw new PolicySyntaxError(file, '', `${where}: must be a non-empty list of requirements`);
  return value.map((item, index) => {
    const at = `${where}[${index}]`;
    if (!isObject(item) || typeof item.type !== 'string') throw new PolicySyntaxError(file, '', `${at}: a requirement needs a "type"`);
    const allowed = REQUIREMENT_KEYS[item.type as PolicyRequirement['type']];
    if (!allowed) throw new PolicySyntaxError(file, '', `${at}: unknown requirement type ${JSON.stringify(item.type)}`);
    const unknown = Object.keys(item).find((k) => !allowed.includes(k));
    if (unknown) throw new PolicySyntaxError(file, '', `${at}: unknown field ${JSON.stringify(unknown)} for ${item.type}`);
    if (item.type === 'signedBy') {
      if (!['GPGKeys', 'signedByGPGKeys', 'signedBySigstoreKeys'].includes(String(item.keyType))) {
        throw new PolicySyntaxError(file, '', `${at}: signedBy needs keyType GPGKeys`);
      }
    }
    if (item.type === 'signedBy' || item.type === 'sigstoreSigned') {
      const sources = ['keyPath', 'keyPaths', 'keyData', 'fulcio'].filter((k) => k in item);
      if (sources.length !== 1)
        throw new PolicySyntaxError(
          file,
          '',
          `${at}: exactly one of keyPath, keyPaths, keyData${item.type === 'sigstoreSigned' ? ', fulcio' : ''} is required`,
        );
    }
    return item as PolicyRequirement;
  });
}

/** Parses and validates policy.json. `file` names the file in messages. */
export function parsePolicy(text: string, file: string): ContainersPolicy {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0];
    throw new PolicySyntaxError(file, lineColumn(text, jsonErrorOffset(text)), `not valid JSON (${reason})`);
  }
  if (!isObject(data)) throw new PolicySyntaxError(file, '', 'the top level must be an object');
  const unknown = Object.keys(data).find((k) => k !== 'default' && k !== 'transports');
  if (unknown) throw new PolicySyntaxError(file, '', `unknown top-level field ${JSON.stringify(unknown)}`);
  const policy: ContainersPolicy = { default: checkRequirements(data.default, file, 'default') };
  if (data.transports !== undefined) {
    if (!isObject(data.transports)) throw new PolicySyntaxError(file, '', 'transports must be an object');
    policy.transports = {};
    for (const [transport, scopes] of Object.entries(data.transports)) {
      if (!isObject(scopes)) throw new PolicySyntaxError(file, '', `transports.${transport} must be an object`);
      policy.transports[transport] = {};
      for (const [scope, requirements] of Object.entries(scopes)) {
        policy.transports[transport]![scope] = checkRequirements(requirements, file, `transports.${transport}[${JSON.stringify(scope)}]`);
      }
    }
  }
  return policy;
}

/** policy.json as podsec writes it: 2-space JSON and a final newline. */
export function serializePolicy(policy: ContainersPolicy): string {
  return JSON.stringify(policy, null, 2) + '\n';
}

/** The master's starting policy: everything rejected until an image maker is added. */
export function rejectAllPolicy(): ContainersPolicy {
  return { default: [{ type: 'reject' }], transports: { docker: {} } };
}

/**
 * The scopes a docker reference can match, most specific first, as containers-policy.json(5)
 * orders them: the full reference (with tag or digest), the repository, each parent namespace,
 * the host[:port], then wildcard domains (*.example.com) from the longest.
 */
export function dockerScopesFor(reference: string): string[] {
  const scopes: string[] = [reference];
  const repository = reference.replace(/@sha256:[0-9a-f]+$/, '').replace(/:[^/:@]+$/, '');
  if (repository !== reference) scopes.push(repository);
  const parts = repository.split('/');
  for (let n = parts.length - 1; n >= 1; n--) scopes.push(parts.slice(0, n).join('/'));
  const host = (parts[0] ?? '').replace(/:\d+$/, '');
  const labels = host.split('.');
  for (let i = 1; i < labels.length; i++) scopes.push(`*.${labels.slice(i).join('.')}`);
  return [...new Set(scopes)];
}

/** The requirements that apply to a docker reference: the most specific scope, else the transport default (""), else `default`. */
export function requirementsFor(policy: ContainersPolicy, reference: string): { scope: string | undefined; requirements: PolicyRequirement[] } {
  const docker = policy.transports?.docker ?? {};
  for (const scope of [...dockerScopesFor(reference), '']) {
    const requirements = docker[scope];
    if (requirements) return { scope, requirements };
  }
  return { scope: undefined, requirements: policy.default };
}

export interface LookasideConfig {
  lookaside?: string;
  'lookaside-staging'?: string;
  sigstore?: string;
  'sigstore-staging'?: string;
  'use-sigstore-attachments'?: boolean;
}

export interface RegistriesD {
  'default-docker'?: LookasideConfig;
  docker?: Record<string, LookasideConfig>;
}

const LOOKASIDE_KEYS = ['lookaside', 'lookaside-staging', 'sigstore', 'sigstore-staging', 'use-sigstore-attachments'];

function checkLookaside(value: unknown, file: string, where: string): LookasideConfig {
  if (!isObject(value)) throw new PolicySyntaxError(file, '', `${where} must be a mapping`);
  const unknown = Object.keys(value).find((k) => !LOOKASIDE_KEYS.includes(k));
  if (unknown) throw new PolicySyntaxError(file, '', `${where}: unknown key ${JSON.stringify(unknown)}`);
  return value as LookasideConfig;
}

export function parseRegistriesD(text: string, file: string): RegistriesD {
  const document = YAML.parseDocument(text, { prettyErrors: false });
  const error = document.errors[0];
  if (error) throw new PolicySyntaxError(file, lineColumn(text, error.pos[0]), error.message.split('\n')[0]!);
  const data: unknown = document.toJS() ?? {};
  if (!isObject(data)) throw new PolicySyntaxError(file, '', 'the top level must be a mapping');
  const result: RegistriesD = {};
  for (const [key, value] of Object.entries(data)) {
    if (key === 'default-docker') result['default-docker'] = checkLookaside(value, file, key);
    else if (key === 'docker') {
      if (!isObject(value)) throw new PolicySyntaxError(file, '', 'docker must be a mapping');
      result.docker = Object.fromEntries(Object.entries(value).map(([scope, v]) => [scope, checkLookaside(v, file, `docker.${scope}`)]));
    } else throw new PolicySyntaxError(file, '', `unknown top-level key ${JSON.stringify(key)}`);
  }
  return result;
}

export function serializeRegistriesD(config: RegistriesD): string {
  return YAML.stringify(config, { indent: 2, lineWidth: 0 });
}

/** The lookaside (read) URL for a reference: the longest matching `docker:` scope, else `default-docker`. */
export function lookasideFor(config: RegistriesD, reference: string): string | undefined {
  for (const scope of dockerScopesFor(reference)) {
    const entry = config.docker?.[scope];
    if (entry?.lookaside ?? entry?.sigstore) return entry.lookaside ?? entry.sigstore;
  }
  return config['default-docker']?.lookaside ?? config['default-docker']?.sigstore;
}

/** Where containers/image looks for the signatures of `repository@sha256:hex` under a lookaside URL. */
export function signatureUrl(lookaside: string, repository: string, digest: string, index = 1): string {
  const path = repository.replace(/^[^/]+\//, '');
  return `${lookaside.replace(/\/$/, '')}/${path}@${digest.replace(':', '=')}/signature-${index}`;
}
