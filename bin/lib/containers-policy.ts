/**
 * The containers/image trust configuration as data: policy.json (containers-policy.json(5)) and
 * registries.d YAML (containers-registries.d(5)). Parsing is strict: an unknown requirement type or
 * a malformed file is an error naming the file and where it is broken, so no command ever edits or
 * trusts a file it does not understand.
 */
import { parse as parseJson, traverse, type AnyNode, type DocumentNode, type ObjectNode } from '@humanwhocodes/momoa';
import YAML from 'yaml';

type KeyType = 'GPGKeys' | 'signedByGPGKeys' | 'X509Certificates' | 'signedByX509CAs';

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
      keyDatas?: string[];
      fulcio?: Record<string, unknown>;
      pki?: Record<string, unknown>;
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
  sigstoreSigned: [
    'type',
    'keyPath',
    'keyPaths',
    'keyData',
    'keyDatas',
    'fulcio',
    'pki',
    'rekorPublicKeyPath',
    'rekorPublicKeyPaths',
    'rekorPublicKeyData',
    'rekorPublicKeyDatas',
    'signedIdentity',
  ],
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** line:column of a character offset, for messages. */
function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `${before.length}:${(before[before.length - 1]?.length ?? 0) + 1}`;
}

const GPG_KEY_TYPES = ['GPGKeys', 'signedByGPGKeys', 'X509Certificates', 'signedByX509CAs'];
const IDENTITY_TYPES = ['matchExact', 'matchRepoDigestOrExact', 'matchRepository', 'exactReference', 'exactRepository', 'remapIdentity'];
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The key sources of a signature requirement, as containers/image counts them: a keyPath only
 * when not empty, a list (keyPaths, keyDatas) when present (sigstoreSigned: and not empty), a
 * keyData when present (valid base64, even empty); exactly one of them.
 */
function checkKeySources(item: Record<string, unknown>, file: string, at: string): void {
  const refuse = (reason: string): never => {
    throw new PolicySyntaxError(file, '', `${at}: ${reason}`);
  };
  const sigstore = item.type === 'sigstoreSigned';
  const names = sigstore ? ['keyPath', 'keyPaths', 'keyData', 'keyDatas', 'fulcio', 'pki'] : ['keyPath', 'keyPaths', 'keyData'];
  let set = 0;
  for (const name of names) {
    const value = item[name];
    if (value === undefined || value === null) continue;
    if (name === 'keyPath' || name === 'keyData') {
      if (typeof value !== 'string') refuse(`${name} must be a string`);
      if (name === 'keyData' && !BASE64.test(value as string)) refuse('keyData is not base64');
      if (name === 'keyPath' && value === '') continue;
    } else if (name === 'keyPaths' || name === 'keyDatas') {
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) refuse(`${name} must be a list of strings`);
      if (sigstore && (value as unknown[]).length === 0) refuse(`${name} contains no entries`);
      if (name === 'keyDatas' && (value as string[]).some((v) => !BASE64.test(v))) refuse('keyDatas has an entry that is not base64');
    } else if (!isObject(value)) {
      refuse(`${name} must be an object`);
    } else if (name === 'fulcio' && value.caPath === undefined && value.caData === undefined) {
      refuse('fulcio needs caPath or caData');
    } else if (name === 'pki' && value.caRootsPath === undefined && value.caRootsData === undefined) {
      refuse('pki needs caRootsPath or caRootsData');
    }
    set++;
  }
  if (set !== 1) refuse(`exactly one of ${names.join(', ')} is required (a keyPath that is not empty)`);
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
    if (item.type === 'signedBy' && !GPG_KEY_TYPES.includes(String(item.keyType))) {
      throw new PolicySyntaxError(file, '', `${at}: signedBy needs keyType GPGKeys, not ${JSON.stringify(item.keyType)}`);
    }
    if (item.type === 'signedBy' || item.type === 'sigstoreSigned') {
      checkKeySources(item, file, at);
      const identity = item.signedIdentity;
      if (identity !== undefined && (!isObject(identity) || !IDENTITY_TYPES.includes(String(identity.type)))) {
        throw new PolicySyntaxError(file, '', `${at}: unknown signedIdentity type ${JSON.stringify(isObject(identity) ? identity.type : identity)}`);
      }
    }
    return item as PolicyRequirement;
  });
}

/** The first key that an object of the document repeats (JSON.parse would keep the last one silently; containers/image refuses). */
function firstDuplicateKey(node: AnyNode): { name: string; line: number; column: number } | undefined {
  let found: { name: string; line: number; column: number } | undefined;
  traverse(node, {
    enter(child) {
      if (found || child.type !== 'Object') return;
      const seen = new Set<string>();
      for (const member of (child as ObjectNode).members) {
        const name = member.name.type === 'String' ? member.name.value : member.name.name;
        if (seen.has(name)) {
          found = { name, ...member.name.loc.start };
          return;
        }
        seen.add(name);
      }
    },
  });
  return found;
}

/** Parses and validates policy.json. `file` names the file in messages. */
export function parsePolicy(text: string, file: string): ContainersPolicy {
  let document: DocumentNode;
  try {
    document = parseJson(text, { mode: 'json' });
  } catch (error) {
    const e = error as Error & { line?: number; column?: number };
    throw new PolicySyntaxError(file, e.line ? `${e.line}:${e.column}` : '', `not valid JSON (${e.message.replace(/ \(\d+:\d+\)$/, '')})`);
  }
  const duplicate = firstDuplicateKey(document);
  if (duplicate) throw new PolicySyntaxError(file, `${duplicate.line}:${duplicate.column}`, `duplicate key ${JSON.stringify(duplicate.name)}`);
  let data: unknown;
  try {
    data = JSON.parse(text); // also refuses what the tree parser lets through (control characters in strings)
  } catch (error) {
    throw new PolicySyntaxError(file, '', `not valid JSON (${(error as Error).message.split('\n')[0]})`);
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

interface LookasideConfig {
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
