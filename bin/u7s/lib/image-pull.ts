/**
 * Pulling the cluster's images into the node account's CRI-O store before kubeadm runs, one
 * image at a time with progress (a bar on a terminal, a line per image otherwise), so a long
 * `kubeadm init` shows where it is and a refused or missing image is named before anything of
 * the cluster starts.
 *
 * skopeo runs as the node account inside the node namespace (upstream: as root into u7s-admin's
 * store, then chown -R, which flattened the owners inside the layers), with the node's signature
 * policy given explicitly: the same policy.json CRI-O's signature_policy names, so an image the
 * cluster could not run is refused here too.
 */
import { translator } from '../../lib/i18n.ts';
import { CommandError } from '../../lib/command.ts';
import { createProgress, type ProgressStream } from '../../lib/progress.ts';
import type { ImageStore } from './crio-config.ts';
import type { Captured } from '../../lib/proc.ts';

const t = translator('podsec-k8s');

/** Runs argv (as the node account, in its namespace) and returns what it printed. */
type Runner = (argv: string[]) => Promise<Captured>;

export interface PullOptions {
  skopeo: string;
  store: ImageStore;
  /** The signature policy the pull is checked against (CRI-O's signature_policy). */
  policy: string;
  run: Runner;
  stream?: ProgressStream;
}

/** The store as containers-storage's transport names it: [driver@root+runroot]. */
export const storeReference = (store: ImageStore, image: string) => `containers-storage:[${store.driver}@${store.root}+${store.runroot}]${image}`;

export function skopeoPullArgs(skopeo: string, image: string, options: Pick<PullOptions, 'store' | 'policy'>): string[] {
  return [skopeo, '--policy', options.policy, 'copy', '--quiet', '--retry-times', '2', `docker://${image}`, storeReference(options.store, image)];
}

/** A logrus line (time="..." level=fatal msg="...") as its message; other lines as they are. */
function logMessage(line: string): string {
  const quoted = /^time="[^"]*" level=\w+ msg=("(?:[^"\\]|\\.)*")/.exec(line)?.[1];
  if (!quoted) return line.trim();
  try {
    return String(JSON.parse(quoted));
  } catch {
    return quoted;
  }
}

/** The last lines of skopeo's error output, which say what went wrong (signature, manifest unknown, TLS...). */
const reason = (captured: Captured) =>
  captured.stderr.trim().split('\n').slice(-3).map(logMessage).filter(Boolean).join(' / ') || t('exit status {code}', { code: captured.code });

/** Pulls each image in order; the first that fails stops the pulls with a message naming it. */
export async function pullImages(images: string[], options: PullOptions): Promise<void> {
  const progress = createProgress({ total: images.length, label: t('Pulling images into the node'), stream: options.stream });
  try {
    for (const image of images) {
      progress.step(image);
      const pulled = await options.run(skopeoPullArgs(options.skopeo, image, options));
      if (pulled.code !== 0) throw new CommandError(t('{image} could not be pulled: {reason}', { image, reason: reason(pulled) }));
    }
  } finally {
    progress.done();
  }
}

/**
 * What a node of this role runs: a control plane every kubeadm image; a worker pause,
 * kube-proxy and coredns (DaemonSet and schedulable Deployment). Both: the CNI's images.
 */
export function imagesForRole(role: 'control-plane' | 'worker', kubeadmImages: string[], cniImages: string[]): string[] {
  const base = (image: string) =>
    image
      .split('/')
      .at(-1)!
      .replace(/[:@].*$/, '');
  const kubeadm = role === 'control-plane' ? kubeadmImages : kubeadmImages.filter((image) => ['pause', 'kube-proxy', 'coredns'].includes(base(image)));
  return [...new Set([...kubeadm, ...cniImages])];
}

/** An image name under the registry as U7S_ARCHIMAGES gives it: <path>/<name>:<tag>, no "..", no registry host. */
const ARCH_IMAGE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/**
 * U7S_ARCHIMAGES (upstream's: more images for the node's own workloads, space-separated
 * <platform>/<name>:<tag>, as podsec-k8s-save-oci saves them) as references in `registry`.
 */
export function archImages(value: string | undefined, registry: string): string[] {
  const names = (value ?? '').split(/\s+/).filter(Boolean);
  for (const name of names) {
    if (!ARCH_IMAGE.test(name) || name.split('/')[0]!.includes('.') || name.split('/')[0]!.includes(':'))
      throw new CommandError(t('U7S_ARCHIMAGES: {image} is not <path>/<name>:<tag> under the registry', { image: name }), 1);
  }
  return names.map((name) => `${registry}/${name}`);
}
