/**
 * Image makers in the trust configuration, as pure functions over the policy model:
 * - each maker owns repository scopes under registry.local; a scope's only requirement names the
 *   maker's key in /var/sigstore/keys (`<user>.pgp` for GPG, `<user>.pub` for sigstore), so
 *   containers/image's longest-prefix rule makes each path verify against its own maker's key;
 * - a maker's own policy is the system policy with the default insecureAcceptAnything (upstream),
 *   so makers can pull anything but their signed scopes still verify;
 * - sigstore signatures live in the registry as attachments, so every reader needs
 *   `use-sigstore-attachments` for the sigstore scopes (containers-registries.d(5)).
 */
import { CommandError } from '../../lib/command.ts';
import type { ContainersPolicy, PolicyRequirement, RegistriesD } from '../../lib/containers-policy.ts';
import { translator } from '../../lib/i18n.ts';
import { SIGSTORE_ROOT, SIGSTORE_STAGING_URL, SIGSTORE_URL } from '../../lib/names.ts';

const t = translator('podsec');

export type KeyKind = 'gpg' | 'sigstore';

export const KEYS_DIR = `${SIGSTORE_ROOT}/keys`;
/** The system registries.d file podsec manages for sigstore scopes (default.yaml belongs to podsec-create-policy). */
export const SIGSTORE_REGISTRIES_D = '/etc/containers/registries.d/podsec-sigstore.yaml';
export const SIGSTORE_REGISTRIES_D_PREFIX = 'podsec-sigstore_';

export const keyFileName = (user: string, kind: KeyKind) => `${user}.${kind === 'gpg' ? 'pgp' : 'pub'}`;
const keyPathOf = (user: string, kind: KeyKind) => `${KEYS_DIR}/${keyFileName(user, kind)}`;

export function makerRequirement(user: string, kind: KeyKind): PolicyRequirement {
  return kind === 'gpg' ? { type: 'signedBy', keyType: 'GPGKeys', keyPath: keyPathOf(user, kind) } : { type: 'sigstoreSigned', keyPath: keyPathOf(user, kind) };
}

interface ScopeOwner {
  user: string;
  kind: KeyKind;
}

const KEY_PATH = new RegExp(`^${KEYS_DIR.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/([a-z_][a-z0-9_-]{0,31})\\.(pgp|pub)$`);

/** The maker a scope belongs to: a single requirement naming a maker key file. */
export function ownerOf(requirements: PolicyRequirement[]): ScopeOwner | undefined {
  if (requirements.length !== 1) return undefined;
  const r = requirements[0]!;
  if ((r.type !== 'signedBy' && r.type !== 'sigstoreSigned') || r.keyPath === undefined) return undefined;
  const match = KEY_PATH.exec(r.keyPath);
  if (!match) return undefined;
  const kind: KeyKind = match[2] === 'pgp' ? 'gpg' : 'sigstore';
  if ((kind === 'gpg') !== (r.type === 'signedBy')) return undefined;
  return { user: match[1]!, kind };
}

/** The scopes of the docker transport that belong to `user`. */
export function scopesOf(policy: ContainersPolicy, user: string): string[] {
  return Object.entries(policy.transports?.docker ?? {})
    .filter(([, requirements]) => ownerOf(requirements)?.user === user)
    .map(([scope]) => scope);
}

interface MakerUpdate {
  user: string;
  kind: KeyKind;
  repoPaths: string[];
}

/** A scope already signed by someone else: upstream's "Two matching repository paths" (exit 2). */
export class ScopeConflictError extends CommandError {
  constructor(scope: string, holder: string) {
    super(t('Two matching repository paths {path}: it is already signed with {holder}', { path: scope, holder }), 2);
  }
}

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/**
 * The system policy with the makers' scopes added. A scope held by another key is refused; a
 * maker's existing scopes are switched to its (possibly new) key kind.
 */
export function withMakers(policy: ContainersPolicy, updates: MakerUpdate[]): ContainersPolicy {
  const next = clone(policy);
  next.transports ??= {};
  const docker = (next.transports.docker ??= {});
  for (const update of updates) {
    for (const scope of scopesOf(next, update.user)) docker[scope] = [makerRequirement(update.user, update.kind)];
    for (const path of update.repoPaths) {
      const existing = docker[path];
      if (existing) {
        const owner = ownerOf(existing);
        if (owner?.user !== update.user) {
          const holder = owner ? keyPathOf(owner.user, owner.kind) : JSON.stringify(existing.map((r) => r.type));
          throw new ScopeConflictError(path, holder);
        }
      }
      docker[path] = [makerRequirement(update.user, update.kind)];
    }
  }
  return next;
}

/** A maker's own policy: the system policy, default insecureAcceptAnything. */
export function makerPolicy(system: ContainersPolicy): ContainersPolicy {
  return { ...clone(system), default: [{ type: 'insecureAcceptAnything' }] };
}

/** Docker scopes whose requirements include sigstoreSigned, sorted. */
function sigstoreScopes(policy: ContainersPolicy): string[] {
  return Object.entries(policy.transports?.docker ?? {})
    .filter(([, requirements]) => requirements.some((r) => r.type === 'sigstoreSigned'))
    .map(([scope]) => scope)
    .sort();
}

/** registries.d entries that turn on sigstore attachments for the sigstore scopes; undefined when there are none. */
export function sigstoreRegistriesD(policy: ContainersPolicy): RegistriesD | undefined {
  const scopes = sigstoreScopes(policy);
  if (scopes.length === 0) return undefined;
  return { docker: Object.fromEntries(scopes.map((scope) => [scope, { 'use-sigstore-attachments': true }])) };
}

/** A maker's ~/.config/containers/registries.d/default.yaml: read from the signature server, write signatures into its directory. */
export function makerRegistriesD(policy: ContainersPolicy): RegistriesD {
  return {
    'default-docker': {
      lookaside: SIGSTORE_URL,
      sigstore: SIGSTORE_URL,
      'lookaside-staging': SIGSTORE_STAGING_URL,
      'sigstore-staging': SIGSTORE_STAGING_URL,
    },
    ...sigstoreRegistriesD(policy),
  };
}
