/**
 * podsec-k8s-save-oci <ociDir> <arch> [platform]: save the Kubernetes image set of this host's
 * kubeadm (kube-apiserver, controller-manager, scheduler, proxy, pause, etcd, coredns) plus
 * flannel into `<ociDir>/<arch>.tar.xz`, as upstream's command of that name, with podsec-save-oci's
 * format and checks.
 */
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { hostPlatform, PLATFORM_NAME } from './lib/platform.ts';
import { failure, run } from './lib/proc.ts';
import { confirmOnTerminal } from './lib/secrets.ts';
import { isArchitecture } from './trust/oci/refs.ts';
import { compressionLevel, parseImages, SAVE_EXIT, saveAndList, SAVE_OPTIONS, sourceRegistry } from './trust/oci/save.ts';
import { ARCHITECTURES } from './trust/oci/refs.ts';

const t = translator('podsec');
const NAME = 'podsec-k8s-save-oci';
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** kubeadm's image list for a version and repository, as `<platform>/<name>:<tag>`. */
async function kubeadmImages(registry: string, platform: string, version: string | undefined): Promise<string[]> {
  let kubeVersion = version;
  if (kubeVersion === undefined) {
    const v = await run('kubeadm', ['version', '-o', 'short']);
    if (v.error && (v.error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new CommandError(t('kubeadm is not installed; install the kubeadm package of the Kubernetes version to save'), 1);
    if (v.error || v.status !== 0) throw new CommandError(t('kubeadm version failed: {reason}', { reason: failure(v) }), 1);
    kubeVersion = v.stdout.trim();
  }
  if (!/^v\d+\.\d+\.\d+$/.test(kubeVersion))
    throw new CommandError(t('the Kubernetes version must look like v1.28.3, not {version}', { version: JSON.stringify(kubeVersion) }), 1);
  const repository = `${registry}/${platform}`;
  const result = await run('kubeadm', ['config', 'images', 'list', '--kubernetes-version', kubeVersion, '--image-repository', repository]);
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT')
    throw new CommandError(t('kubeadm is not installed; install the kubeadm package of the Kubernetes version to save'), 1);
  if (result.error || result.status !== 0) throw new CommandError(t('kubeadm config images list failed: {reason}', { reason: failure(result) }), 1);
  const images = result.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (images.length === 0) throw new CommandError(t('kubeadm lists no images for {version}', { version: kubeVersion }), 1);
  return images.map((image) => {
    if (!image.startsWith(`${registry}/`)) throw new CommandError(t('kubeadm listed {image}, which is not in {registry}', { image, registry }), 1);
    return image.slice(registry.length + 1);
  });
}

runCommand(
  {
    name: NAME,
    summary: 'Save the Kubernetes and flannel images for one architecture into an OCI archive.',
    usage: ['[OPTIONS] <ociDir> <arch> [platform]'],
    positionals: true,
    description: [
      "The images are the ones this host's kubeadm lists for the Kubernetes version (U7S_KUBEVERSION, " +
        "default kubeadm's own) under <registry>/<platform>, plus <platform>/flannel:U7S_FLANNEL_TAG and " +
        '<platform>/flannel-cni-plugin:U7S_FLANNELCNIPLUGIN_TAG and any U7S_ARCHIMAGES. They are saved as ' +
        'podsec-save-oci does into <ociDir>/<arch>.tar.xz. Unlike upstream this command installs nothing ' +
        '(no apt-get) and does not look tags up in the registry: it uses the installed kubeadm and the ' +
        'tags you give.',
    ],
    options: {
      ...SAVE_OPTIONS,
      'dry-run': { type: 'boolean', description: 'print the image list and save nothing' },
    },
    environment: {
      U7S_PLATFORM: "the platform (default: this host's)",
      U7S_KUBEVERSION: 'the Kubernetes version, e.g. v1.28.3',
      U7S_FLANNEL_TAG: 'the flannel image tag (required)',
      U7S_FLANNELCNIPLUGIN_TAG: 'the flannel-cni-plugin image tag (required)',
      U7S_ARCHIMAGES: 'more images <platform>/<name>:<tag>, separated by spaces',
      U7S_ALTREGISTRY: 'the source registry',
    },
    usageExitCode: SAVE_EXIT.usage,
    exitCodes: {
      1: 'wrong arguments, not root, a k8s- platform, no kubeadm, or missing tags',
      2: 'not exactly one known architecture',
      3: 'an invalid image name',
      4: 'a copy failed',
    },
    examples: {
      'U7S_FLANNEL_TAG=v0.25.1 U7S_FLANNELCNIPLUGIN_TAG=v1.4.0-flannel1 podsec-k8s-save-oci /tmp/oci amd64': 'the images of the installed kubeadm for amd64',
    },
    seeAlso: ['podsec-save-oci(1)', 'podsec-load-sign-oci(1)'],
  },
  t,
  async ({ values, positionals, root }) => {
    if (positionals.length <= 1)
      throw new CommandError(t('Image archiving directory not specified; usage: {command} <ociDir> <arch> [platform]', { command: NAME }), SAVE_EXIT.usage);
    if (positionals.length > 3)
      throw new CommandError(t('too many arguments; usage: {command} <ociDir> <arch> [platform]', { command: NAME }), SAVE_EXIT.usage);
    if (process.geteuid?.() !== 0 || process.getegid?.() !== 0) throw new CommandError(t('{command} must be run as root user', { command: NAME }), 1);
    const [ociDir, arch, wanted] = positionals as [string, string, string | undefined];
    const level = compressionLevel(values);
    if (!isArchitecture(arch))
      throw new CommandError(
        t('Unknown architecture {arch}: give exactly one of {allowed}', { arch: JSON.stringify(arch), allowed: ARCHITECTURES.join(', ') }),
        SAVE_EXIT.arch,
      );
    let platform: string;
    try {
      const host = hostPlatform(root, t);
      if (host.platform === undefined && wanted === undefined)
        throw new CommandError(t('cannot determine the platform: {reason}; give it as the third argument', { reason: host.reason }), 1);
      platform = host.platform ?? wanted ?? '';
    } catch (error) {
      if (error instanceof CommandError) throw error;
      platform = wanted ?? '';
    }
    if (wanted !== undefined) {
      if (wanted.startsWith('k8s-'))
        throw new CommandError(
          t('the platform prefix {platform} (k8s-...) is not supported since 11.11.2024; use {suggestion}', {
            platform: wanted,
            suggestion: wanted.slice(4).replace(/\d+$/, ''),
          }),
          1,
        );
      if (!PLATFORM_NAME.test(wanted)) throw new CommandError(t('not a platform name: {platform}', { platform: JSON.stringify(wanted) }), 1);
      if (wanted !== platform && platform !== '') {
        if (
          process.stdin.isTTY &&
          !(await confirmOnTerminal(t("The platform {wanted} differs from this host's {platform}. Continue? (Yes/no) ", { wanted, platform })))
        ) {
          throw new CommandError(t('cancelled'), 1);
        }
      }
      platform = wanted;
    }
    const flannel = process.env.U7S_FLANNEL_TAG;
    const cni = process.env.U7S_FLANNELCNIPLUGIN_TAG;
    if (!flannel || !cni || !TAG.test(flannel) || !TAG.test(cni)) {
      throw new CommandError(t('set U7S_FLANNEL_TAG and U7S_FLANNELCNIPLUGIN_TAG to the flannel image tags to save (e.g. v0.25.1 and v1.4.0-flannel1)'), 1);
    }
    const registry = sourceRegistry(values);
    const names = [
      ...(await kubeadmImages(registry, platform, process.env.U7S_KUBEVERSION || undefined)),
      `${platform}/flannel:${flannel}`,
      `${platform}/flannel-cni-plugin:${cni}`,
      ...(process.env.U7S_ARCHIMAGES ?? '').split(/\s+/).filter(Boolean),
    ];
    const images = parseImages([...new Set(names)]);
    if (values['dry-run']) {
      process.stdout.write(t('Dry run: these images would be saved into {file}:', { file: `${ociDir}/${arch}.tar.xz` }) + '\n');
      for (const name of names) process.stdout.write(`  - ${registry}/${name}\n`);
      return 0;
    }
    return saveAndList(values, { ociDir, architectures: [arch], transport: 'docker://', registry, images, level });
  },
);
