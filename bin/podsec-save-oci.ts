/**
 * podsec-save-oci <ociDir> <arch,...|all> [transport] <image> ...: save images into
 * `<ociDir>/<arch>.tar.xz` archives for podsec-load-sign-oci, in upstream's archive format.
 */
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { compressionLevel, isTransport, parseArchitectures, parseImages, SAVE_EXIT, saveAndList, SAVE_OPTIONS, sourceRegistry } from './trust/oci/save.ts';

const t = translator('podsec');
const NAME = 'podsec-save-oci';
const HOST = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/;

runCommand(
  {
    name: NAME,
    summary: 'Save container images into xz-compressed OCI archives, one per architecture.',
    usage: ['[OPTIONS] <ociDir> <arch,...|all> [transport] <image> ...'],
    positionals: true,
    description: [
      'Each image <platform>/<name>:<tag> is taken from <registry>/<image> (the registry is ' +
        'U7S_ALTREGISTRY, --registry, or registry.altlinux.org) through the transport (docker:// by ' +
        'default, or containers-storage:[...] as podsec-k8s-save-oci uses it), for every architecture ' +
        'given (amd64, arm64, arm, ppc64le, 386, or all), and stored with uncompressed layers in an OCI ' +
        'layout whose ref names are the image names. Each layout is packed into <ociDir>/<arch>.tar.xz.',
      'The third argument is a transport when it is empty, docker:// or containers-storage:[...]; ' +
        'otherwise it is the first image. <ociDir> must not exist. A failing copy stops the command, ' +
        'names the image and removes <ociDir>, so there are no incomplete archives. The source is checked ' +
        "against the host's signature policy (or --signature-policy).",
    ],
    options: {
      ...SAVE_OPTIONS,
      'dry-run': { type: 'boolean', description: 'check the arguments and print what would be saved' },
    },
    environment: { U7S_ALTREGISTRY: 'the source registry', PODSECSAVE_USEEXISTINGIMAGES: 'ignored (upstream left it unused)' },
    usageExitCode: SAVE_EXIT.usage,
    exitCodes: {
      1: 'no directory or no images given, or the directory exists',
      2: 'unknown architecture',
      3: 'an invalid image name',
      4: 'a copy failed (the image is named; nothing is left behind)',
    },
    examples: {
      'podsec-save-oci /tmp/alt amd64 "" alt/alt:c10f2': 'save the ALT base image for amd64 into /tmp/alt/amd64.tar.xz',
      'podsec-save-oci /tmp/oci all c10f/pause:3.9 c10f/etcd:3.5.9': 'for every architecture',
    },
    seeAlso: ['podsec-load-sign-oci(1)', 'podsec-k8s-save-oci(1)'],
  },
  t,
  async ({ values, positionals }) => {
    const [ociDir, archList, ...rest] = positionals;
    const level = compressionLevel(values);
    if (ociDir === undefined)
      throw new CommandError(
        t('Image archiving directory not specified; usage: {command} <ociDir> <arch,...|all> [transport] ' + '<image> ...', { command: NAME }),
        SAVE_EXIT.usage,
      );
    if (archList === undefined)
      throw new CommandError(
        t('No list of images specified; usage: {command} <ociDir> <arch,...|all> [transport] <image> ...', { command: NAME }),
        SAVE_EXIT.usage,
      );
    const transport = rest.length > 0 && isTransport(rest[0]!) ? rest.shift()! : '';
    if (rest.length === 0)
      throw new CommandError(
        t('No list of images specified; usage: {command} <ociDir> <arch,...|all> [transport] <image> ...', { command: NAME }),
        SAVE_EXIT.usage,
      );
    const architectures = parseArchitectures(archList);
    const images = parseImages(rest);
    const registry = sourceRegistry(values);
    if (!HOST.test(registry)) throw new CommandError(t('invalid registry {registry}', { registry: JSON.stringify(registry) }), SAVE_EXIT.usage);
    if (values['dry-run']) {
      process.stdout.write(t('Dry run: nothing is saved. These archives would be made:') + '\n');
      for (const arch of architectures) process.stdout.write(`  - ${ociDir}/${arch}.tar.xz: ${images.map((i) => `${i.path.join('/')}:${i.tag}`).join(' ')}\n`);
      return 0;
    }
    return saveAndList(values, { ociDir, architectures, transport, registry, images, level });
  },
);
