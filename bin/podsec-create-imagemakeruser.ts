/**
 * podsec-create-imagemakeruser [user[@repo_path]] ...: image makers, as upstream's command of that name.
 * Each maker gets an account in podman + podman_dev, a key (GPG as upstream, or a sigstore key
 * pair), its public key in /var/sigstore/keys owned by root, a signedBy / sigstoreSigned scope in
 * the system policy, its own policy and registries.d, and the published policy and trust bundle
 * are updated. The work itself is in makers/imagemaker.ts.
 */
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { DRY_RUN_OPTION } from './lib/plan.ts';
import { readRegularFile } from './lib/safe-fs.ts';
import { exclusiveOption, PASSWORD_OPTION_NAMES, PASSWORD_SOURCE_OPTIONS } from './trust/makers/password-options.ts';
import { planImageMakers, type ImageMakerInput, type KeySource, type PasswordSource } from './trust/makers/imagemaker.ts';

const t = translator('podsec');
const NAME = 'podsec-create-imagemakeruser';

runCommand(
  {
    name: NAME,
    summary: 'Create image makers: users who sign images and push them to registry.local.',
    usage: ['[OPTIONS] [user[@repo_path]] ...'],
    positionals: true,
    description: [
      'Without arguments the maker imagemaker signs registry.local. A single user without a path signs ' +
        'registry.local; otherwise give user@path for each maker, e.g. u1@registry.local/c10f ' +
        'u2@registry.local. containers/image uses the longest matching path, so each repository verifies ' +
        "only against its own maker's key. A path already signed by another maker is refused.",
      'Each maker gets an account with the primary group podman and the group podman_dev, a password, a ' +
        'signing key, the public key as /var/sigstore/keys/<user>.pgp (GPG) or <user>.pub (sigstore) ' +
        'written by root and writable only by root, a scope in the system policy ' +
        '/etc/containers/policy.json, and its own ~/.config/containers/policy.json (the system policy, ' +
        'accepting anything else) and registries.d (signatures are written into /var/sigstore/sigstore). ' +
        'Then the published policy and the signed trust bundle in /var/sigstore/keys are updated for the ' +
        'nodes.',
      "Like upstream the command asks on the terminal for the password and runs gpg's own key " +
        'dialogue. For automation: --password-file or --password-stdin, and --gpg-generate (an RSA-3072 ' +
        "key made unattended in the maker's keyring), --gpg-public-key (the maker keeps the private key " +
        'elsewhere) or --sigstore (an ECDSA P-256 sigstore key pair; the encrypted private key is written ' +
        'to ~/.config/podsec/sigstore.key), with --key-passphrase-file or --no-key-passphrase.',
      'An existing account is refused unless --reconfigure is given; system accounts are always ' +
        "refused. Nothing under a user's home is ever followed through a symlink or chowned recursively.",
    ],
    options: {
      ...DRY_RUN_OPTION,
      reconfigure: { type: 'boolean', description: 'allow existing (non-system) accounts: make them image makers or update their configuration' },
      ...PASSWORD_SOURCE_OPTIONS,
      'no-password': { type: 'boolean', description: 'leave the new accounts without a password (locked; log in with keys or runuser)' },
      'gpg-generate': { type: 'boolean', description: "generate an RSA-3072 GPG signing key in the maker's keyring without questions" },
      'gpg-email': { type: 'string', valueName: 'EMAIL', description: 'with --gpg-generate: the e-mail of the key (default <user>@registry.local)' },
      'gpg-public-key': { type: 'string', valueName: 'FILE', description: "use the maker's existing GPG public key from FILE (armoured or binary export)" },
      sigstore: { type: 'boolean', description: 'give the maker a sigstore key pair instead of a GPG key' },
      'key-passphrase-file': { type: 'string', valueName: 'FILE', description: 'the passphrase of generated keys is the first line of FILE' },
      'key-passphrase-stdin': { type: 'boolean', description: 'read the passphrase of generated keys from the first line of standard input' },
      'no-key-passphrase': { type: 'boolean', description: 'generated private keys have no passphrase (for unattended signing)' },
    },
    files: {
      '/etc/containers/policy.json': 'the system policy: one scope per maker path (a symlink to policy_<timestamp>)',
      '/etc/containers/registries.d/podsec-sigstore.yaml': 'sigstore scopes read their signatures from the registry',
      '/var/sigstore/keys/<user>.pgp, <user>.pub': "the makers' public keys (root:root 0644)",
      '/var/sigstore/keys/policy.json, podsec-trust-bundle.json': 'the published policy and the signed trust bundle for the nodes',
      '~/.config/containers/policy.json, registries.d/default.yaml': "the maker's own policy and signature storage",
      '~/.config/podsec/sigstore.key': "a sigstore maker's encrypted private key (0600)",
    },
    usageExitCode: 1,
    exitCodes: {
      1: 'not root, not the master, a bad user name or path, an existing account without --reconfigure, a missing or malformed configuration, or a tool failed',
      2: 'the same repository path twice, or a path another maker already signs',
    },
    examples: {
      'podsec-create-imagemakeruser imagemaker': 'interactive, as upstream: password and gpg dialogue; imagemaker signs registry.local',
      'podsec-create-imagemakeruser --password-file pw --gpg-generate --key-passphrase-file pp u1@registry.local/c10f':
        'unattended GPG maker for registry.local/c10f',
      'podsec-create-imagemakeruser --no-password --sigstore --no-key-passphrase ci@registry.local/ci': 'a sigstore maker for unattended signing',
    },
    seeAlso: ['podsec-create-policy(1)', 'podsec-load-sign-oci(1)', 'containers-policy.json(5)'],
  },
  t,
  async ({ values, positionals, root }) => {
    const keyOption = exclusiveOption(values, ['gpg-generate', 'gpg-public-key', 'sigstore']);
    const passwordOption = exclusiveOption(values, PASSWORD_OPTION_NAMES);
    const passphraseOption = exclusiveOption(values, ['key-passphrase-file', 'key-passphrase-stdin', 'no-key-passphrase']);
    if (values['gpg-email'] !== undefined && keyOption !== 'gpg-generate') throw new CommandError(t('--gpg-email is for --gpg-generate'), 1);
    const email = values['gpg-email'] as string | undefined;
    if (email !== undefined && !/^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$/.test(email))
      throw new CommandError(t('--gpg-email: not an e-mail address: {email}', { email: JSON.stringify(email) }), 1);
    if (passphraseOption !== undefined && keyOption !== 'gpg-generate' && keyOption !== 'sigstore') {
      throw new CommandError(t('--{option} is for --gpg-generate or --sigstore', { option: passphraseOption }), 1);
    }
    let key: KeySource;
    if (keyOption === 'gpg-generate') key = { kind: 'gpg-generate', email };
    else if (keyOption === 'sigstore') key = { kind: 'sigstore' };
    else if (keyOption === 'gpg-public-key') {
      const file = values['gpg-public-key'] as string;
      key = { kind: 'gpg-import', file, bytes: readRegularFile(file, { maxBytes: 1024 * 1024 }) };
    } else key = { kind: 'keep' };
    const password: PasswordSource =
      passwordOption === 'password-file'
        ? { kind: 'file', file: values['password-file'] as string }
        : passwordOption === 'password-stdin'
          ? { kind: 'stdin' }
          : passwordOption === 'no-password'
            ? { kind: 'none' }
            : values.reconfigure
              ? { kind: 'keep' }
              : { kind: 'prompt' };
    const keyPassphrase: ImageMakerInput['keyPassphrase'] =
      passphraseOption === 'key-passphrase-file'
        ? { kind: 'file', file: values['key-passphrase-file'] as string }
        : passphraseOption === 'key-passphrase-stdin'
          ? { kind: 'stdin' }
          : passphraseOption === 'no-key-passphrase'
            ? { kind: 'none' }
            : undefined;
    const { plan } = await planImageMakers({
      root,
      args: positionals,
      reconfigure: values.reconfigure === true,
      key,
      keyPassphrase,
      password,
      now: new Date(),
      interactive: process.stdin.isTTY === true,
    });
    await plan.carryOut(NAME, values['dry-run'] === true);
    return 0;
  },
);
