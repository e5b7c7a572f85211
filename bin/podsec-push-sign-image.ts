/**
 * podsec-push-sign-image <image> registry.local/<path>[:<tag>]: an image maker pushes an image
 * they built with their own rootless podman to registry.local and signs it with their key, as
 * themself (no archive, no root). The checks and the push are in trust/makers/push-image.ts.
 */
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { REGISTRY_HOST } from './lib/names.ts';
import { readAccounts } from './lib/accounts.ts';
import { readRegularFile } from './lib/safe-fs.ts';
import { promptSecret, secretFromFile } from './lib/secrets.ts';
import { requireSigstoreServer } from './trust/hosts.ts';
import { prepareLookaside } from './trust/policy/lookaside.ts';
import { POLICY_FILE } from './trust/policy/create-policy.ts';
import { EXIT, PASSPHRASE_OPTIONS, requireMakerGroup, readSystemPolicy, signerProblems, type Signer } from './trust/oci/load.ts';
import { formatName, parseRegistryImage } from './trust/oci/refs.ts';
import { checkLocalImage, defaultSigner, localImageId, pushLocalImage, requireScopes, scopeRefusal } from './trust/makers/push-image.ts';

const t = translator('podsec');
const NAME = 'podsec-push-sign-image';
/** The synopsis, in --help and the man page and in the refusal of a wrong number of arguments. */
const SYNOPSIS = '[OPTIONS] <image> registry.local/<path>[:<tag>]';

runCommand(
  {
    name: NAME,
    summary: 'Push an image you built with podman to registry.local and sign it with your key.',
    usage: [SYNOPSIS],
    positionals: true,
    description: [
      'Run it as an image maker (an account made by podsec-create-imagemakeruser) on the master, from ' +
        'your own login session, not as root. <image> is a name or ID in your own rootless podman ' +
        'storage (podman images), as podman build or podman commit left it. It is pushed with podman ' +
        'push to registry.local/<path>:<tag> (tag latest when none is given) and signed with the key ' +
        'the system policy names for that path: your GPG key (the one whose public half is in ' +
        '/var/sigstore/keys/<user>.pgp) or your sigstore key ~/.config/podsec/sigstore.key. Signatures ' +
        'the image carried are dropped.',
      'Before anything is pushed: you must be in the group podman_dev and own a signing scope in ' +
        '/etc/containers/policy.json; the destination must lie in one of your scopes (the longest ' +
        'matching scope decides, as on the nodes: a path given to another maker below yours is theirs); ' +
        'your key must be the one the policy names there; the image must be in your storage. A refusal ' +
        'names your scopes. A push whose signature cannot be written names the image left unsigned in ' +
        'the registry (exit 11).',
      'Nothing runs as root and nothing is written in your home but what your own podman writes; ' +
        'podsec-save-oci (root) is for images from other registries.',
    ],
    options: {
      'dry-run': { type: 'boolean', description: 'check everything and print what would be pushed, push nothing' },
      'sign-by': { type: 'string', valueName: 'KEY', description: 'the GPG key to sign with (default: the key of your public key in /var/sigstore/keys)' },
      'sigstore-key': {
        type: 'string',
        valueName: 'FILE',
        description: 'the sigstore private key to sign with (default for sigstore makers: ~/.config/podsec/sigstore.key)',
      },
      ...PASSPHRASE_OPTIONS,
    },
    usageExitCode: EXIT.usage,
    exitCodes: {
      1: 'run as root, not an image maker (no group podman_dev or no scope), not the master, wrong arguments, or no such key',
      5: 'the destination is not registry.local/<path>[:<tag>]',
      9: 'the image is not a name or ID of your podman storage, or is not there',
      10: 'the destination is outside your signing scope, or the system policy wants another key there',
      11: 'podman push failed, or the image was pushed but could not be signed (it is named)',
    },
    examples: {
      'podman build -t myapp:1 . && podsec-push-sign-image myapp:1 registry.local/p11/myapp:1': 'build as the maker, then push and sign',
      'podsec-push-sign-image --dry-run myapp:1 registry.local/p11/myapp:1': 'check the scope and key, push nothing',
    },
    seeAlso: ['podsec-create-imagemakeruser(1)', 'podsec-load-sign-oci(1)', 'podman-push(1)'],
  },
  t,
  async ({ values, positionals, root }) => {
    if (process.geteuid?.() === 0)
      throw new CommandError(
        t('run {command} as the image maker, not as root: it pushes from your own podman storage and signs with your key', { command: NAME }),
        EXIT.usage,
      );
    const [image, target, ...rest] = positionals;
    if (image === undefined || target === undefined || rest.length > 0)
      throw new CommandError(t('wrong number of arguments; usage: {usage}', { usage: `${NAME} ${SYNOPSIS}` }), EXIT.usage);
    requireSigstoreServer(root, t('Unable to push images.'));
    requireMakerGroup(root);
    const user = readAccounts(root).find((a) => a.uid === process.getuid?.())?.name;
    if (user === undefined) throw new CommandError(t('your uid {uid} has no account', { uid: String(process.getuid?.()) }), EXIT.usage);

    checkLocalImage(image);
    const parsed = parseRegistryImage(target);
    if (!('path' in parsed))
      throw new CommandError(
        t('the destination must be {registry}/<path>[:<tag>], not {destination}', { registry: REGISTRY_HOST, destination: JSON.stringify(target) }),
        EXIT.destination,
      );
    const destination = `${REGISTRY_HOST}/${formatName(parsed)}`;
    const policy = readSystemPolicy(root);
    if (!policy) throw new CommandError(t('{file} does not exist; run podsec-create-policy first', { file: POLICY_FILE }), EXIT.usage);
    const scopes = requireScopes(policy, user, POLICY_FILE);
    const refusal = scopeRefusal(policy, user, destination);
    if (refusal) throw new CommandError(t('{problem}; nothing was pushed', { problem: refusal }), EXIT.policy);

    const passphraseFile = values['passphrase-file'] as string | undefined;
    const given = values['sign-by'] as string | undefined;
    const sigstoreKey = values['sigstore-key'] as string | undefined;
    if (given !== undefined && sigstoreKey !== undefined) throw new CommandError(t('give --sign-by or --sigstore-key, not both'), EXIT.usage);
    const key =
      given !== undefined
        ? { kind: 'gpg' as const, id: given }
        : sigstoreKey !== undefined
          ? { kind: 'sigstore' as const, keyFile: sigstoreKey }
          : await defaultSigner(root, policy, destination);
    const passphrase = async (what: string) =>
      passphraseFile !== undefined
        ? secretFromFile(passphraseFile)
        : values['no-passphrase']
          ? ''
          : await promptSecret(t('Passphrase of {file}: ', { file: what }));
    let signer: Signer;
    if (key.kind === 'sigstore') {
      const keyText = readRegularFile(key.keyFile, { maxBytes: 64 * 1024 }).toString('utf8');
      signer = { kind: 'sigstore', keyFile: key.keyFile, keyText, passphrase: await passphrase(key.keyFile) };
    } else {
      signer = { kind: 'gpg', id: key.id, passphrase: passphraseFile !== undefined ? secretFromFile(passphraseFile) : undefined };
    }
    const [problem] = await signerProblems(root, policy, [{ destination }], signer);
    if (problem) throw new CommandError(t('{problem}; nothing was pushed', { problem }), EXIT.policy);
    const id = await localImageId(image);

    if (values['dry-run']) {
      process.stdout.write(
        t('Dry run: nothing is pushed. {image} ({id}) would be pushed to {destination} and signed (your scopes: {scopes}).', {
          image,
          id: id.slice(0, 12),
          destination,
          scopes: scopes.join(', '),
        }) + '\n',
      );
      return 0;
    }
    prepareLookaside(root, destination);
    const digest = await pushLocalImage(image, destination, signer);
    process.stdout.write(t('{image} pushed to {destination} and signed ({digest}).', { image, destination, digest }) + '\n');
    return 0;
  },
);
