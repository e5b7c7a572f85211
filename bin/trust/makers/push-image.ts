/**
 * podsec-push-sign-image's work: an image maker pushes an image from their own rootless podman
 * storage to registry.local and signs it with their key, as themself. Root never runs podman over
 * a maker's storage and nothing here writes into a home: podman runs as the caller, so every file
 * it makes is the caller's. Every check comes before the push: the caller is a maker (group
 * podman_dev, a scope in the system policy), the destination lies in one of the caller's scopes
 * (longest prefix, as containers/image decides), the key is the one the policy names there, the
 * image is in the caller's storage.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CommandError } from '../../lib/command.ts';
import { requirementsFor, type ContainersPolicy } from '../../lib/containers-policy.ts';
import { translator } from '../../lib/i18n.ts';
import { run } from '../../lib/proc.ts';
import { readRegularFile } from '../../lib/safe-fs.ts';
import { checkPublicKey } from '../keys/gpg.ts';
import { KEYS_DIR, keyFileName, ownerOf, scopesOf } from '../policy/maker-policy.ts';
import { USER_SIGSTORE_KEY } from './homes.ts';
import { copyFailure, EXIT, runSigning, type Signer } from '../oci/load.ts';

const t = translator('podsec');

/**
 * A local image as podman names it: a name[:tag], a name@digest or an image ID (full or short).
 * No transport and no storage specifier ("[driver@root]"): only the caller's own storage.
 */
const LOCAL_IMAGE = /^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$/;

export function checkLocalImage(image: string): void {
  if (image.length > 512 || !LOCAL_IMAGE.test(image) || image.includes('..') || image.includes('//')) {
    throw new CommandError(
      t('{image} is not an image name or ID of your podman storage (see podman images); nothing was pushed', { image: JSON.stringify(image) }),
      EXIT.badImage,
    );
  }
}

/**
 * Why `user` may not sign `destination`, or undefined when the scope that decides for it (the
 * longest matching one) is the user's. The message names the user's scopes and the one that
 * decides, so a maker sees where they may push.
 */
export function scopeRefusal(policy: ContainersPolicy, user: string, destination: string): string | undefined {
  const { scope, requirements } = requirementsFor(policy, destination);
  const owner = scope === undefined || scope === '' ? undefined : ownerOf(requirements)?.user;
  if (owner === user) return undefined;
  const mine = scopesOf(policy, user).sort().join(', ');
  if (owner !== undefined)
    return t('{destination} is outside your signing scope ({scopes}): the system policy gives {scope} to the image maker {owner}', {
      destination,
      scopes: mine,
      scope: scope!,
      owner,
    });
  return t('{destination} is outside your signing scope ({scopes}): the system policy gives it to no image maker', { destination, scopes: mine });
}

/** The caller's scopes, or a refusal naming what makes an image maker. */
export function requireScopes(policy: ContainersPolicy, user: string, policyFile: string): string[] {
  const scopes = scopesOf(policy, user);
  if (scopes.length === 0)
    throw new CommandError(
      t('{user} has no signing scope in {file}: only image makers (podsec-create-imagemakeruser) push and sign images', { user, file: policyFile }),
      EXIT.usage,
    );
  return scopes;
}

/**
 * The key the policy wants from `user` at `destination`, as a signer: the GPG key whose public
 * half root installed in /var/sigstore/keys (by its fingerprint), or the sigstore private key
 * podsec-create-imagemakeruser made in the maker's home.
 */
export async function defaultSigner(
  root: string,
  policy: ContainersPolicy,
  destination: string,
): Promise<{ kind: 'gpg'; id: string } | { kind: 'sigstore'; keyFile: string }> {
  const { requirements } = requirementsFor(policy, destination);
  const owner = ownerOf(requirements)!;
  if (owner.kind === 'sigstore') return { kind: 'sigstore', keyFile: join(homedir(), USER_SIGSTORE_KEY) };
  const keyPath = `${KEYS_DIR}/${keyFileName(owner.user, 'gpg')}`;
  const info = await checkPublicKey(readRegularFile(join(root, keyPath), { maxBytes: 1024 * 1024 }), keyPath);
  if (info.primaries.length !== 1)
    throw new CommandError(
      t.n('{file} holds {count} key; give --sign-by', '{file} holds {count} keys; give --sign-by', info.primaries.length, { file: keyPath }),
      EXIT.usage,
    );
  return { kind: 'gpg', id: info.primaries[0]! };
}

/** The ID of `image` in the caller's podman storage; a missing image is refused before anything is pushed. */
export async function localImageId(image: string): Promise<string> {
  const result = await run('podman', ['image', 'inspect', '--format', '{{.Id}}', '--', image]);
  const id = result.stdout.trim();
  if (result.error || result.status !== 0 || !/^[0-9a-f]{64}$/.test(id)) {
    throw new CommandError(t('there is no image {image} in your podman storage (see podman images); nothing was pushed', { image }), EXIT.badImage);
  }
  return id;
}

/**
 * podman push of the caller's image to `destination`, signed; the pushed manifest's digest. Any
 * signature the image carried is dropped: the only one at the destination is the caller's.
 */
export async function pushLocalImage(image: string, destination: string, signer: Signer): Promise<string> {
  const work = mkdtempSync(join(process.env.TMPDIR || '/var/tmp', 'podsec-push-'));
  try {
    const digestFile = join(work, 'digest');
    const result = await runSigning(
      'podman',
      (signing) => [
        'push',
        '--quiet',
        '--tls-verify=false',
        '--remove-signatures',
        ...signing,
        '--digestfile',
        digestFile,
        '--',
        image,
        `docker://${destination}`,
      ],
      signer,
    );
    if (result.error || result.status !== 0) throw copyFailure(result, image, destination, 'podman push');
    return readFileSync(digestFile, 'utf8').trim();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
