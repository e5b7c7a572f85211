/**
 * Carrying out a deploy plan, as root, in this order: checks that change nothing (before all, for
 * a join: the cluster's settings a rootless node needs, checkJoinPlan; stale etcd data, the
 * images on the registry), then the node's files (environment file, kubeadm documents,
 * subordinate ids, /etc/kubernetes), then the namespace (linger, rootlesskit.service), the
 * images pulled into the node's CRI-O store (with progress), kubeadm inside it as u7s-admin, and
 * the follow-up (kubeconfigs, flannel, u7s.service). Everything the
 * node account runs, it runs as itself (setpriv); root reads what it wrote only as checked data.
 */
import { existsSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { translator } from '../../lib/i18n.ts';
import { CommandError } from '../../lib/command.ts';
import { atomicWrite, openTrustedDir, safeMkdir } from '../../lib/safe-fs.ts';
import { findGroup } from '../../lib/accounts.ts';
import type { DeployPlan } from './deploy-plan.ts';
import { planText } from './deploy-plan.ts';
import { crioImageStore, SIGNATURE_POLICY } from './crio-config.ts';
import { manifestImages, renderFlannel } from './flannel.ts';
import { archImages, imagesForRole, pullImages } from './image-pull.ts';
import { setPath, findKind } from './kubeadm-documents.ts';
import { checkJoinCluster, joinTargetOf } from './join-check.ts';
import { checkedKubeconfig } from './kubeconfig.ts';
import { formatNodeEnv } from './node-env.ts';
import { ensureUserManager, startUnits, systemSystemctl } from './node-service.ts';
import { KUBERNETES_DIR, U7S_ENV_FILE, U7S_ETCD_DIR, U7S_FLANNEL_MANIFEST, U7S_PROGRAMS, U7S_RENDERED_DIR, SYSTEM_PROGRAMS, userLayout } from './paths.ts';
import { accountEnv, asAccount, type Account } from './accounts.ts';
import { capture, requireTool, stand, systemTool } from '../../lib/proc.ts';
import { sleep } from './poll.ts';
import { checkImages, httpFetch, parseImage, type Fetch } from './registry.ts';
import { planSubids } from './subid.ts';

const t = translator('podsec-k8s');
const say = (message: string) => process.stderr.write(`${message}\n`);

interface RunOptions {
  root: string;
  account: Account;
  env: NodeJS.ProcessEnv;
  fetch?: Fetch;
}

/** A command run as the node account, inside its namespace (nsenter_u7s), with our stdio. */
export function inNamespace(account: Account, argv: string[], options: { input?: string } = {}): Promise<number> {
  const [program, args] = asAccount(account, U7S_PROGRAMS.nsenter, argv);
  if (options.input === undefined) return stand(program, args, { env: accountEnv(account), cwd: account.home });
  return capture(program, args, { env: accountEnv(account), cwd: account.home, input: options.input, timeoutMs: 120_000 }).then((r) => {
    if (r.code !== 0) process.stderr.write(r.stderr);
    return r.code;
  });
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await new Promise<string>((resolve) => {
    rl.question(question, resolve);
    rl.once('close', () => resolve(''));
  });
  rl.close();
  return answer.trim().toLowerCase() === 'y';
}

/** etcd data of an earlier cluster: removed (as u7s-admin, whose it is) only when the admin says so. */
async function staleEtcd(options: RunOptions): Promise<void> {
  const member = join(options.root, U7S_ETCD_DIR, 'member');
  if (!existsSync(member)) return;
  const question = t('{dir} holds the data of an earlier etcd; kubeadm cannot start a new member over it. Remove it? y/N: ', { dir: member });
  if (!(await confirm(question))) {
    throw new CommandError(t('{dir} holds the data of an earlier etcd; remove it (or run kubeadm reset) and try again', { dir: member }));
  }
  const rm = systemTool('rm');
  const [program, args] = asAccount(options.account, rm ?? '/bin/rm', ['-rf', '--one-file-system', '--', member]);
  const result = await capture(program, args, { env: accountEnv(options.account), cwd: '/' });
  if (result.code !== 0) throw new CommandError(t('cannot remove {dir}: {reason}', { dir: member, reason: result.stderr.trim() }));
}

/**
 * Are the images kubeadm will pull on the registry? With U7S_SETAVAILABLEIMAGES=yes a missing tag
 * is replaced by the newest one (kube-*: the newest patch of the minor, for all four; etcd and
 * coredns through imageTag; pause through the node settings), without re-tagging anything.
 * Returns the images kubeadm will use, with those replacements.
 */
export async function checkRegistry(plan: DeployPlan, images: string[], options: RunOptions): Promise<string[]> {
  if (!plan.version || options.env.U7S_IMAGE_CHECK === 'no') {
    if (options.env.U7S_IMAGE_CHECK === 'no') say(t('U7S_IMAGE_CHECK=no: the registry is not asked for the image tags'));
    return images;
  }
  const result = await checkImages(options.fetch ?? httpFetch(), images, plan.version);
  if (!result.missing.length) return images;
  if (options.env.U7S_SETAVAILABLEIMAGES !== 'yes') {
    const lines = result.missing.map((m) => `  ${m.image}${m.newest ? t(' (newest: {tag})', { tag: m.newest }) : t(' (no tags)')}`);
    const kube = result.missing.find((m) => /\/kube-[^/]+:/.test(m.image) && m.newest);
    const hint = kube
      ? t('export U7S_KUBEVERSION={version}, or U7S_SETAVAILABLEIMAGES=yes to use the newest tags', { version: kube.newest! })
      : t('or U7S_SETAVAILABLEIMAGES=yes to use the newest tags');
    throw new CommandError(`${t('images missing on the registry:')}\n${lines.join('\n')}\n${hint}`);
  }
  const cluster = findKind(plan.documents, 'ClusterConfiguration');
  for (const missing of result.missing) {
    if (!missing.newest) throw new CommandError(t('{image}: no tag on the registry to use instead', { image: missing.image }));
    const ref = parseImage(missing.image);
    const base = ref.name.split('/').at(-1)!;
    say(t('{image}: using the available tag {tag}', { image: missing.image, tag: missing.newest }));
    if (base.startsWith('kube-')) {
      if (cluster) setPath(cluster, 'kubernetesVersion', missing.newest.replace(/^v/, ''));
      plan.settings.kubeVersion = missing.newest;
    } else if (base === 'etcd' && cluster) setPath(cluster, 'etcd.local.imageTag', missing.newest);
    else if (base === 'coredns' && cluster) setPath(cluster, 'dns.imageTag', missing.newest);
    else if (base === 'pause') plan.settings.pauseImage = `${ref.name}:${missing.newest}`;
  }
  const replaced = new Map(result.missing.map((m) => [m.image, `${parseImage(m.image).name}:${m.newest}`]));
  return images.map((image) => replaced.get(image) ?? image);
}

/** /etc/kubernetes must be writable by the node account (kubeadm writes it from the namespace). */
async function kubernetesDir(options: RunOptions): Promise<void> {
  const path = join(options.root, KUBERNETES_DIR);
  const { account } = options;
  if (!existsSync(path)) {
    safeMkdir(path, { mode: 0o755, uid: account.uid, gid: account.gid, root: options.root });
    return;
  }
  const st = statSync(path);
  if (st.uid === account.uid) return;
  const kube = findGroup(options.root, 'kube');
  if (kube && st.gid === kube.gid && st.mode & 0o020) {
    // ALT's kubernetes-common: root:kube 0775. Join the group instead of taking the directory.
    if (kube.members.includes(account.name)) return;
    const usermod = systemTool('usermod');
    const result = usermod ? await capture(usermod, ['-a', '-G', 'kube', account.name], { cwd: '/' }) : undefined;
    if (!result || result.code !== 0)
      throw new CommandError(t('cannot add {user} to the group kube: {reason}', { user: account.name, reason: result?.stderr.trim() ?? 'usermod' }));
    return;
  }
  safeMkdir(path, { mode: 0o755, uid: account.uid, gid: account.gid, root: options.root });
}

async function writeNodeFiles(plan: DeployPlan, options: RunOptions): Promise<void> {
  const { root, account } = options;
  const files = { mode: 0o640, uid: 0, gid: account.gid, root };
  safeMkdir(join(root, U7S_RENDERED_DIR), { mode: 0o750, uid: 0, gid: account.gid, root });
  atomicWrite(join(root, U7S_ENV_FILE), formatNodeEnv(plan.settings), files);
  atomicWrite(join(root, plan.configFile), planText(plan), files);
  const subids = planSubids(root, account);
  if (subids.added.length)
    say(
      t('{user}: subordinate ids {start}-{end} added to {files}', {
        user: account.name,
        start: subids.start,
        end: subids.start + subids.count - 1,
        files: subids.added.map((f) => `/etc/${f}`).join(', '),
      }),
    );
  subids.apply();
  await kubernetesDir(options);
}

/** admin.conf for root (checked, root's own copy) and for u7s-admin (copied by u7s-admin itself). */
export async function kubeconfigs(options: Pick<RunOptions, 'root' | 'account'>): Promise<void> {
  const { root, account } = options;
  const dir = openTrustedDir(join(root, KUBERNETES_DIR), { root, trustedOwner: account.uid });
  let text: string;
  try {
    text = dir.readFile('admin.conf', 1 << 20).toString('utf8');
  } catch (error) {
    throw new CommandError(t('the cluster administrator configuration file is not generated: {reason}', { reason: (error as Error).message }), 2);
  } finally {
    dir.close();
  }
  const checked = checkedKubeconfig(text);
  safeMkdir(join(root, 'root/.kube'), { mode: 0o700, uid: 0, gid: 0, root });
  atomicWrite(join(root, 'root/.kube/config'), checked, { mode: 0o600, uid: 0, gid: 0, root });
  const install = systemTool('install') ?? '/usr/bin/install';
  const [program, args] = asAccount(account, install, ['-D', '-m', '600', join(KUBERNETES_DIR, 'admin.conf'), join(account.home, '.kube', 'config')]);
  const copied = await capture(program, args, { env: accountEnv(account), cwd: '/' });
  if (copied.code !== 0) say(t('could not copy admin.conf for {user}: {reason}', { user: account.name, reason: copied.stderr.trim() }));
}

function flannelManifest(plan: DeployPlan, options: RunOptions): string {
  return renderFlannel(readFileSync(join(options.root, U7S_FLANNEL_MANIFEST), 'utf8'), {
    podCidr: plan.settings.podNetworkCidr,
    repository: plan.registry.flannelRepository,
    flannelTag: options.env.U7S_FLANNEL_TAG,
    cniPluginTag: options.env.U7S_FLANNELCNIPLUGIN_TAG,
  });
}

/**
 * The images this node will run, pulled into its CRI-O store as the node account, checked against
 * the signature policy. U7S_PULL_IMAGES=no leaves them to CRI-O (pulled when kubelet asks).
 */
async function pullNodeImages(plan: DeployPlan, kubeadmImages: string[], options: RunOptions): Promise<void> {
  if (options.env.U7S_PULL_IMAGES === 'no' || plan.kubeadmArgs.includes('--dry-run')) {
    if (options.env.U7S_PULL_IMAGES === 'no') say(t('U7S_PULL_IMAGES=no: the images are not pulled before kubeadm'));
    return;
  }
  const cniImages = plan.settings.cniPlugin === 'flannel' ? manifestImages(flannelManifest(plan, options)) : [];
  const images = [
    ...new Set([...imagesForRole(plan.settings.role, kubeadmImages, cniImages), ...archImages(options.env.U7S_ARCHIMAGES, plan.registry.registry)]),
  ];
  if (images.length) await pullIntoNode(options.account, images);
}

/** `images` into the node account's CRI-O store, as that account in its namespace, each checked against the node's signature policy. */
export async function pullIntoNode(account: Account, images: string[]): Promise<void> {
  const skopeo = requireTool('skopeo', t('podsec requires skopeo'));
  await pullImages(images, {
    skopeo,
    store: crioImageStore(userLayout(account.uid, account.gid, account.home)),
    policy: SIGNATURE_POLICY,
    run: (argv) => {
      const [program, args] = asAccount(account, U7S_PROGRAMS.nsenter, argv);
      return capture(program, args, { env: accountEnv(account), cwd: account.home, timeoutMs: 900_000 });
    },
  });
}

/** kubectl apply of the flannel manifest inside the namespace, retried for at most five minutes. */
async function applyFlannel(plan: DeployPlan, options: RunOptions): Promise<void> {
  const manifest = flannelManifest(plan, options);
  const attempts = 60;
  for (let i = 1; i <= attempts; i++) {
    const code = await inNamespace(options.account, [SYSTEM_PROGRAMS.kubectl, '--kubeconfig', join(KUBERNETES_DIR, 'admin.conf'), 'apply', '-f', '-'], {
      input: manifest,
    });
    if (code === 0) return;
    if (i < attempts) await sleep(5000);
  }
  throw new CommandError(
    t('flannel could not be applied in five minutes; apply {file} with kubectl when the API server ' + 'answers', { file: U7S_FLANNEL_MANIFEST }),
  );
}

/**
 * A join first asks the cluster whether a rootless node can join it (join-check.ts); U7S_JOIN_CHECK=no skips that.
 * The wrapper calls it before anything else changes the host, the installation of missing packages included.
 */
export async function checkJoinPlan(plan: DeployPlan, options: Pick<RunOptions, 'root' | 'env'>): Promise<void> {
  if (options.env.U7S_JOIN_CHECK === 'no') {
    say(t('U7S_JOIN_CHECK=no: the cluster is not asked whether a rootless node can join it'));
    return;
  }
  const target = joinTargetOf(plan.documents, options.root);
  say(
    target.required.etcdDataDir !== undefined
      ? t('Checking the cluster at {endpoint}: kube-proxy conntrack settings, etcd data directory', { endpoint: target.endpoint })
      : t('Checking the cluster at {endpoint}: kube-proxy conntrack settings', { endpoint: target.endpoint }),
  );
  await checkJoinCluster(target);
}

export async function executeDeploy(plan: DeployPlan, images: string[], options: RunOptions): Promise<number> {
  const { account } = options;
  if (plan.settings.role === 'control-plane') await staleEtcd(options);
  const kubeadmImages = await checkRegistry(plan, images, options);

  await writeNodeFiles(plan, options);
  say(t('Starting the node namespace (rootlesskit.service of {user})', { user: account.name }));
  await ensureUserManager(account);
  await startUnits(account, ['rootlesskit.service'], 'restart');
  await pullNodeImages(plan, kubeadmImages, options);

  say(t('Running kubeadm {command} in the node namespace', { command: plan.command }));
  let code: number;
  try {
    code = await inNamespace(account, [SYSTEM_PROGRAMS.kubeadm, ...plan.kubeadmArgs]);
  } finally {
    if (plan.secret) {
      try {
        unlinkSync(join(options.root, plan.configFile));
      } catch {
        // already gone
      }
    }
  }
  if (code !== 0) {
    say(t('Cluster deployment failed (kubeadm {command}: status {code}).', { command: plan.command, code }));
    say(t('Look at: journalctl _UID={uid}; nsenter_u7s gives a shell in the node namespace.', { uid: account.uid }));
    return 1;
  }
  if (plan.settings.role === 'control-plane' && !plan.kubeadmArgs.includes('--dry-run')) {
    await kubeconfigs(options);
    if (plan.command === 'init' && plan.settings.cniPlugin === 'flannel') await applyFlannel(plan, options);
    if (plan.command === 'init' && plan.settings.cniPlugin === 'calico')
      say(t('U7S_CNI_PLUGIN=calico: apply the Calico manifests of your choice now (the wrapper does not fetch ' + 'unpinned manifests)'));
  }
  await systemSystemctl(['reset-failed', 'u7s.service']);
  const enable = await systemSystemctl(['enable', 'u7s.service']);
  if (enable.code !== 0) say(t('systemctl enable u7s.service: {reason}', { reason: enable.stderr.trim() }));
  const start = await systemSystemctl(['start', 'u7s.service'], 600_000);
  if (start.code !== 0) throw new CommandError(t('u7s.service did not start: {reason}', { reason: start.stderr.trim() }));
  return 0;
}
