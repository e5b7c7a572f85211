/**
 * podsec-load-sign-oci <archive.tar.xz> <arch> <signer> [registry.local/<path>]: load an OCI
 * archive made by podsec-save-oci into registry.local and sign every image
 * (upstream's podsec-load-sign-oci). Run by an image maker (group podman_dev) on the master.
 */
import { createProgress } from './lib/progress.ts';
import { rmSync, statSync } from 'node:fs';
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { REGISTRY_HOST } from './lib/names.ts';
import { hostPlatform, PLATFORM_NAME } from './lib/platform.ts';
import { readRegularFile } from './lib/safe-fs.ts';
import { confirmOnTerminal, promptSecret, secretFromFile } from './lib/secrets.ts';
import { DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits } from './trust/oci/archive.ts';
import {
  EXIT,
  PASSPHRASE_OPTIONS,
  requireMakerGroup,
  signerProblems,
  planTransfers,
  pushAndSign,
  readSystemPolicy,
  unpackArchive,
  type Signer,
} from './trust/oci/load.ts';
import { ARCHITECTURES, formatName, isArchitecture, parseDestination } from './trust/oci/refs.ts';
import { requireSigstoreServer } from './trust/hosts.ts';
import { prepareLookaside } from './trust/policy/lookaside.ts';

const t = translator('podsec');
const NAME = 'podsec-load-sign-oci';
const USAGE = `${NAME} ARCHIVE ARCH SIGNER [${REGISTRY_HOST}/PATH], or ${NAME} --sigstore-key FILE ARCHIVE ARCH [${REGISTRY_HOST}/PATH]`;

/** A positive count, optionally with a binary K, M or G suffix. */
function sizeOption(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  const match = /^([1-9]\d{0,12})([KMG]?)$/.exec(String(value));
  if (!match)
    throw new CommandError(t('{option}: expected a positive number (with K, M or G), got {value}', { option, value: JSON.stringify(value) }), EXIT.usage);
  return Number(match[1]) * 1024 ** ' KMG'.indexOf(match[2] || ' ');
}

runCommand(
  {
    name: NAME,
    summary: 'Push the images of an OCI archive to registry.local and sign them with your key.',
    usage: [
      '[OPTIONS] <archive.tar.xz> <arch> <signer> [registry.local/<path>]',
      '[OPTIONS] --sigstore-key FILE <archive.tar.xz> <arch> [registry.local/<path>]',
    ],
    positionals: true,
    description: [
      'The archive is <arch>.tar.xz as podsec-save-oci writes it: an OCI image layout whose image names ' +
        'are <platform>/<name>:<tag>. Each image is pushed to registry.local/<platform>/<name>:<tag> (or ' +
        "under the given registry.local/<path>, whose last component must be the archive's platform) and " +
        'signed: with the GPG key <signer> (an e-mail or fingerprint in your keyring), the signature ' +
        'written into /var/sigstore/sigstore through your registries.d; or with --sigstore-key, a ' +
        'sigstore signature stored in the registry.',
      'Before anything is pushed, every image name is checked (no registry host, no "..", the platform ' +
        'prefix the host expects: U7S_PLATFORM or the one podsec-get-platform prints), and the system ' +
        'policy is checked to accept your key for each destination. A failing copy stops the run and ' +
        'names the image. On a c10f host the images are also pushed as registry.local/k8s-c10f2/... for ' +
        'older nodes, unless --no-alias.',
      'Run it as an image maker (group podman_dev) on the master, from a full login session.',
    ],
    options: {
      'dry-run': { type: 'boolean', description: 'unpack and check everything, print what would be pushed, push nothing' },
      'sigstore-key': {
        type: 'string',
        valueName: 'FILE',
        description: 'sign with this sigstore private key (e.g. ~/.config/podsec/sigstore.key) instead of GPG',
      },
      ...PASSPHRASE_OPTIONS,
      platform: { type: 'string', valueName: 'NAME', description: "accept an archive for this platform although the host's platform differs" },
      'archive-max-bytes': {
        type: 'string',
        valueName: 'BYTES',
        description: 'refuse an archive whose entries add up to more than BYTES (suffix K, M or G; default 8G)',
      },
      'archive-max-entries': { type: 'string', valueName: 'N', description: 'refuse an archive of more than N entries (default 10000)' },
      'no-alias': { type: 'boolean', description: 'on c10f, do not also push registry.local/k8s-c10f2/... aliases' },
    },
    environment: { U7S_PLATFORM: "the platform prefix the images must have (default: this host's platform)" },
    usageExitCode: EXIT.usage,
    exitCodes: {
      1: 'not an image maker, not the master, wrong arguments, a missing archive or key, or an archive for another platform',
      3: 'unknown architecture',
      5: 'the destination is not registry.local/<path>',
      6:
        'the archive is not an xz-compressed tar, has an unsafe or unexpected entry, goes past --archive-max-bytes or ' +
        '--archive-max-entries, or the disk is full',
      7: 'the archive has no <arch>/ directory',
      8: 'the archive has no <arch>/index.json',
      9: 'an image name is invalid (registry host, "..", no tag, another prefix) or the layout is damaged',
      10: 'the system policy would not accept your signature for a destination',
      11: 'skopeo failed to push or sign an image',
    },
    examples: {
      'podsec-load-sign-oci amd64.tar.xz amd64 imagemaker@example.org': 'push and sign with your GPG key',
      'podsec-load-sign-oci --sigstore-key ~/.config/podsec/sigstore.key amd64.tar.xz amd64': 'push and sign with your sigstore key',
      'U7S_PLATFORM=alt podsec-load-sign-oci alt.tar.xz amd64 imk@example.org': 'load base images named alt/...',
    },
    seeAlso: ['podsec-save-oci(1)', 'podsec-create-imagemakeruser(1)', 'skopeo-copy(1)'],
  },
  t,
  async ({ values, positionals, root }) => {
    const host = hostPlatform(root, t);
    if (host.platform === undefined)
      throw new CommandError(t('cannot determine the platform: {reason}; set U7S_PLATFORM', { reason: host.reason }), EXIT.usage);
    const platform = host.platform;
    requireSigstoreServer(root, t('Unable to load images.'));
    requireMakerGroup(root);

    const sigstoreKey = values['sigstore-key'] as string | undefined;
    const [archive, arch, ...rest] = positionals;
    const signerArg = sigstoreKey === undefined ? rest.shift() : undefined;
    const destinationArg = rest.shift();
    if (archive === undefined || arch === undefined || (sigstoreKey === undefined && signerArg === undefined) || rest.length > 0) {
      throw new CommandError(t('wrong number of arguments; usage: {usage}', { usage: USAGE }), EXIT.usage);
    }
    let prefix = [platform];
    if (destinationArg !== undefined) {
      const parsed = parseDestination(destinationArg);
      if (!Array.isArray(parsed)) {
        if (parsed.problem === 'no-path')
          throw new CommandError(t('Missing path after registry name: {destination}', { destination: JSON.stringify(destinationArg) }), EXIT.usage);
        if (parsed.problem === 'host')
          throw new CommandError(
            t('the destination must be {registry}/<path>, not {destination}', { registry: REGISTRY_HOST, destination: JSON.stringify(destinationArg) }),
            EXIT.destination,
          );
        throw new CommandError(t('the destination {destination} has an invalid path', { destination: JSON.stringify(destinationArg) }), EXIT.destination);
      }
      prefix = parsed;
    }
    const isFile = (() => {
      try {
        return statSync(archive).isFile();
      } catch {
        return false;
      }
    })();
    if (!isFile) throw new CommandError(t('Archive {archive} is missing', { archive }), EXIT.usage);
    if (!isArchitecture(arch))
      throw new CommandError(
        t('Unknown architecture {arch}; allowed: {allowed}', { arch: JSON.stringify(arch), allowed: ARCHITECTURES.join(', ') }),
        EXIT.arch,
      );

    const passphraseFile = values['passphrase-file'] as string | undefined;
    let signer: Signer;
    if (sigstoreKey !== undefined) {
      const keyText = readRegularFile(sigstoreKey, { maxBytes: 64 * 1024 }).toString('utf8');
      const passphrase =
        passphraseFile !== undefined
          ? secretFromFile(passphraseFile)
          : values['no-passphrase']
            ? ''
            : await promptSecret(t('Passphrase of {file}: ', { file: sigstoreKey }));
      signer = { kind: 'sigstore', keyFile: sigstoreKey, keyText, passphrase };
    } else {
      signer = { kind: 'gpg', id: signerArg!, passphrase: passphraseFile !== undefined ? secretFromFile(passphraseFile) : undefined };
    }

    const limits: ArchiveLimits = {
      maxBytes: sizeOption(values['archive-max-bytes'], '--archive-max-bytes', DEFAULT_ARCHIVE_LIMITS.maxBytes),
      maxEntries: sizeOption(values['archive-max-entries'], '--archive-max-entries', DEFAULT_ARCHIVE_LIMITS.maxEntries),
    };
    const { work, layout, images } = await unpackArchive(archive, arch, limits);
    try {
      const archivePlatform = images[0]!.name.path[0]!;
      if (archivePlatform.startsWith('k8s')) {
        throw new CommandError(
          t("the archive's images are named {prefix}/...: the k8s- prefixes are no longer supported; save " + 'the images again with podsec-save-oci', {
            prefix: archivePlatform,
          }),
          EXIT.usage,
        );
      }
      const wanted = (values.platform as string | undefined) ?? platform;
      if (values.platform !== undefined && !PLATFORM_NAME.test(wanted))
        throw new CommandError(t('--platform: not a platform name: {name}', { name: JSON.stringify(wanted) }), EXIT.usage);
      if (archivePlatform !== wanted) {
        const ok =
          values.platform === undefined &&
          (await confirmOnTerminal(
            t('Current platform {archive} does not match installed {platform}. Continue (y/N)? ', { archive: archivePlatform, platform }),
          ));
        if (!ok)
          throw new CommandError(
            t('the archive is for the platform {archive}, this host is {platform}; give --platform {archive} to ' + 'load it anyway', {
              archive: archivePlatform,
              platform,
            }),
            EXIT.usage,
          );
      }
      if (destinationArg === undefined) prefix = [archivePlatform];
      else if (prefix[prefix.length - 1] !== archivePlatform) {
        throw new CommandError(
          t("the destination {destination} must end in the archive's platform {platform}", { destination: destinationArg, platform: archivePlatform }),
          EXIT.destination,
        );
      }
      const transfers = planTransfers(images, archivePlatform, prefix);
      const aliases =
        archivePlatform === 'c10f' && destinationArg === undefined && values['no-alias'] !== true ? planTransfers(images, archivePlatform, ['k8s-c10f2']) : [];
      const policy = readSystemPolicy(root);
      if (policy) {
        const problems = await signerProblems(root, policy, transfers, signer);
        const first = problems.find((p) => p !== undefined);
        if (first) throw new CommandError(t('{problem}; nothing was pushed', { problem: first }), EXIT.policy);
        const aliasProblems = await signerProblems(root, policy, aliases, signer);
        const refused = aliasProblems.find((p) => p !== undefined);
        if (refused) {
          process.stderr.write(
            `${NAME}: ${t('warning: {message}', { message: t('the k8s-c10f2 aliases are not pushed: {problem}', { problem: refused }) })}\n`,
          );
          aliases.length = 0;
        }
      }
      transfers.push(...aliases);
      if (values['dry-run']) {
        process.stdout.write(t('Dry run: nothing is pushed. These images would be pushed and signed:') + '\n');
        for (const { image, destination } of transfers) process.stdout.write(`  - ${formatName(image.name)} → ${destination}\n`);
        return 0;
      }
      // A bar on a terminal, one parseable line per image otherwise (bin/lib/progress.ts).
      const progress = createProgress({ total: transfers.length, label: t('Pushing and signing images'), stream: process.stdout });
      for (const transfer of transfers) {
        progress.step(`${formatName(transfer.image.name)} → ${transfer.destination}`);
        prepareLookaside(root, transfer.destination);
        await pushAndSign(layout, arch, transfer, signer);
      }
      progress.done();
      process.stdout.write(t.n('{count} image pushed and signed.', '{count} images pushed and signed.', transfers.length) + '\n');
      return 0;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
);
