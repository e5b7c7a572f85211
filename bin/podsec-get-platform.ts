/**
 * podsec-get-platform: prints the ALT platform name used as the image prefix in registries
 * (c10f, p10, p11, sisyphus, ...). U7S_PLATFORM, when set, wins; otherwise the host's
 * os-release decides (ALT_BRANCH_ID, else CPE_NAME).
 */
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { osReleaseFields, resolvePlatform, UnknownPlatformError } from './lib/platform.ts';

const t = translator('podsec');

runCommand(
  {
    name: 'podsec-get-platform',
    summary: 'Print the ALT platform name of this host (the image prefix in registries).',
    usage: ['[--json] [--root DIR]'],
    options: { json: { type: 'boolean', description: 'print the platform and what decided it as one JSON object' } },
    description: [
      'Prints the platform name that prefixes image paths in ALT registries: c10f, p10, p11, sisyphus, ...',
      'U7S_PLATFORM, when set, is taken as is. Otherwise ALT_BRANCH_ID of os-release decides (c10f1, ' +
        'c10f2 become c10f), else the product and major version of its CPE_NAME. os-release is read as ' +
        'data, never executed.',
      'With --json the command prints one JSON object instead, {"platform": "p11", "source": ' +
        '"ALT_BRANCH_ID"}, where source names what decided: U7S_PLATFORM, ALT_BRANCH_ID or CPE_NAME. The ' +
        'keys are never translated.',
    ],
    environment: { U7S_PLATFORM: 'the platform to print instead of the detected one' },
    files: { '/etc/os-release': 'the system identification read (then /usr/lib/os-release)' },
    exitCodes: { 1: 'the platform cannot be determined (not ALT, or os-release missing or malformed)' },
    examples: {
      'podsec-get-platform': "print this host's platform",
      'podsec-get-platform --json': 'the platform and where it came from, as JSON',
      'podsec-get-platform --root /mnt/node': 'the platform of a node image mounted at /mnt/node',
    },
    seeAlso: ['podsec-u7s-kubeadm(1)', 'os-release(5)'],
  },
  t,
  ({ values, root }) => {
    try {
      const result = resolvePlatform(process.env, () => osReleaseFields(root));
      if (result.source === 'U7S_PLATFORM') {
        process.stderr.write(
          t('The platform {platform} is predefined by the variable U7S_PLATFORM. This value is taken.', { platform: result.platform }) + '\n',
        );
      }
      process.stdout.write(values.json ? JSON.stringify({ platform: result.platform, source: result.source }) + '\n' : result.platform + '\n');
    } catch (error) {
      if (error instanceof UnknownPlatformError)
        throw new CommandError(
          t('cannot determine the platform: {reason}; set U7S_PLATFORM to the platform of the images (e.g. U7S_PLATFORM=p11)', { reason: error.in(t) }),
        );
      throw error;
    }
  },
);
