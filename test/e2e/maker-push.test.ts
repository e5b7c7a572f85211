// test-runner: exclusive — boots nspawn machines from the shared image cache and needs the whole machine
/**
 * Image makers on a booted master (issue 14, items 6 and 7), every step by our commands inside the
 * nodes with real podman, skopeo, gpg, docker-registry and nginx:
 *  - maker1 (scope registry.local/p11, made by podsec-create-imagemakeruser) builds an image with
 *    its own rootless podman (podman build) and takes it to registry.local with
 *    podsec-push-sign-image, as itself in its own systemd user session: pushed, signed with its
 *    GPG key, and no file of root's left in its home;
 *  - the refusals, each before anything is pushed: a destination outside maker1's scope, one in
 *    maker2's scope below it, a podman user (not a maker), root, an image not in the storage;
 *  - maker2 (scope registry.local/p11/team) signs p11/team/y after maker1 signed p11/x; with the
 *    lookaside directory p11 left 0755 by maker1 as an older podsec did, maker2's push is reported
 *    as unsigned, podsec-create-imagemakeruser --reconfigure repairs the directory, and the re-run
 *    signs it;
 *  - node1 adopts the master's policy from the signed trust bundle and a podman user pulls both
 *    images rootless, verified against each maker's key, and runs them.
 * Rootless storage is podman's default without a storage.conf, vfs (see boot-multinode.test.ts).
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Cluster, type ClusterNode, startCluster } from '../support/image-cluster.ts';
import { ensureNodeImage, NODE_TOOLS, runGated, hookError } from '../support/image-env.ts';
import { lingerUser, userRun } from '../support/image-nspawn.ts';
import { busyboxTar, removeTree } from '../support/oci-fixtures.ts';
import { runCommand } from '../support/trust-fixtures.ts';

let cluster: Cluster | undefined;
let work: string | undefined;
/** Build contexts in the master's tree (not /tmp: the node mounts a tmpfs there). */
const DROP = '/var/tmp/podsec-e2e';
const SIGNATURES = 'var/sigstore/sigstore';
let fingerprint = '';
const digests: Record<string, string> = {};

test.before(async () => {
  try {
    const image = await ensureNodeImage();
    work = await fs.mkdtemp('/var/tmp/podsec-maker-push-');
    for (const variant of ['x', 'y']) {
      const context = join(work, `ctx-${variant}`);
      await fs.mkdir(context);
      await fs.rename(busyboxTar(work, variant), join(context, 'rootfs.tar'));
      await fs.writeFile(join(context, 'Containerfile'), 'FROM scratch\nADD rootfs.tar /\nCMD ["/bin/sh"]\n');
    }
    cluster = await startCluster(image.path, ['master', 'node1'], { allowSystemCalls: ['@keyring'] });
  } catch (err) {
    hookError(err);
  }
});

test.after(async () => {
  await cluster?.close();
  if (work) removeTree(work);
});

const master = () => cluster!.nodes[0]!;
const ok = (ran: { exitCode: number; stdout: string; stderr: string }, what: string) =>
  assert.is(ran.exitCode, 0, `${what} failed (${ran.exitCode}):\n${ran.stdout}\n${ran.stderr}`);
/** Whether the master's registry has `ref` (root's skopeo reads the registry; no signature is checked). */
const inRegistry = async (ref: string) =>
  (await master().exec(['skopeo', 'inspect', '--raw', '--tls-verify=false', `docker://${ref}`], { timeoutMs: 60_000 })).exitCode === 0;
const pushSign = (user: string, args: string[]) => userRun(master(), user, ['podsec-push-sign-image', ...args]);
/** The signature directories of `repository` (below registry.local) in the master's lookaside tree. */
async function signaturesOf(repository: string): Promise<string[]> {
  const dir = join(master().root, SIGNATURES, repository, '..');
  const name = repository.split('/').pop()!;
  return (await fs.readdir(dir).catch(() => [] as string[])).filter((d) => d.startsWith(`${name}@sha256=`));
}

test('master: registry, signature server, two makers (p11 and p11/team below it) and a podman user', async () => {
  const m = master();
  const policy = await m.exec(['podsec-create-policy', m.address]);
  ok(policy, 'podsec-create-policy');
  fingerprint = /--trust-fingerprint ([0-9a-f]{64}) /.exec(policy.stdout)?.[1] ?? '';
  assert.ok(fingerprint, `no fingerprint printed:\n${policy.stdout}`);
  ok(await m.exec(['podsec-create-services']), 'podsec-create-services');
  for (const spec of ['maker1@registry.local/p11', 'maker2@registry.local/p11/team']) {
    const made = await m.exec(['podsec-create-imagemakeruser', '--no-password', '--gpg-generate', '--no-key-passphrase', spec], { timeoutMs: 180_000 });
    ok(made, `podsec-create-imagemakeruser ${spec}`);
  }
  ok(await m.exec(['podsec-create-podmanusers', '--no-password', 'poduser']), 'podsec-create-podmanusers');
  await fs.mkdir(join(m.root, DROP), { recursive: true });
  for (const variant of ['x', 'y']) await fs.cp(join(work!, `ctx-${variant}`), join(m.root, DROP, `ctx-${variant}`), { recursive: true });
  ok(await runCommand('chmod', ['-R', 'a+rX', join(m.root, DROP)]), 'chmod');
  for (const user of ['maker1', 'maker2', 'poduser']) await lingerUser(m, user);
});

test('maker1 builds an image with its own rootless podman and pushes and signs it with podsec-push-sign-image, as itself', async () => {
  const m = master();
  ok(await userRun(m, 'maker1', ['podman', 'build', '--quiet', '-t', 'x:1', `${DROP}/ctx-x`], { timeoutMs: 300_000 }), 'podman build as maker1');
  const dry = await pushSign('maker1', ['--dry-run', 'x:1', 'registry.local/p11/x:1']);
  ok(dry, 'push-sign-image --dry-run');
  assert.match(
    dry.stdout,
    /^Dry run: nothing is pushed\. x:1 \([0-9a-f]{12}\) would be pushed to registry\.local\/p11\/x:1 and signed \(your scopes: registry\.local\/p11\)\.$/m,
  );
  assert.not.ok(await inRegistry('registry.local/p11/x:1'), 'the dry run pushed');

  const pushed = await pushSign('maker1', ['x:1', 'registry.local/p11/x:1']);
  ok(pushed, 'push-sign-image as maker1');
  const digest = /^x:1 pushed to registry\.local\/p11\/x:1 and signed \((sha256:[0-9a-f]{64})\)\.$/m.exec(pushed.stdout)?.[1];
  assert.ok(digest, pushed.stdout);
  digests.x = digest!;
  const signed = await signaturesOf('p11/x');
  assert.equal(signed, [`x@${digest!.replace(':', '=')}`]);
  const uid = Number((await m.exec(['id', '-u', 'maker1'])).stdout.trim());
  const signature = await fs.stat(join(m.root, SIGNATURES, 'p11', signed[0]!, 'signature-1'));
  assert.is(signature.uid, uid, "the signature is not the maker's own file");
  assert.is((await fs.stat(join(m.root, SIGNATURES, 'p11'))).mode & 0o7777, 0o3775);
  // Nothing of root's in the maker's home: its storage, keyring and configs are its own.
  const rootOwned = await m.exec(['find', '/home/maker1', '-xdev', '-uid', '0']);
  ok(rootOwned, 'find');
  assert.is(rootOwned.stdout.trim(), '', 'root-owned files in the home of maker1');
});

test("refused before anything is pushed: outside the scope, in another maker's scope, an image not in the storage, a podman user, root", async () => {
  const m = master();
  const outside = await pushSign('maker1', ['x:1', 'registry.local/other/x:1']);
  assert.is(outside.exitCode, 10, outside.stdout + outside.stderr);
  assert.match(
    outside.stderr,
    /registry\.local\/other\/x:1 is outside your signing scope \(registry\.local\/p11\): the system policy gives it to no image maker; nothing was pushed/,
  );
  const theirs = await pushSign('maker1', ['x:1', 'registry.local/p11/team/x:1']);
  assert.is(theirs.exitCode, 10, theirs.stdout + theirs.stderr);
  assert.match(
    theirs.stderr,
    /outside your signing scope \(registry\.local\/p11\): the system policy gives registry\.local\/p11\/team to the image maker maker2/,
  );
  const missing = await pushSign('maker1', ['nosuch:1', 'registry.local/p11/nosuch:1']);
  assert.is(missing.exitCode, 9, missing.stdout + missing.stderr);
  assert.match(missing.stderr, /there is no image nosuch:1 in your podman storage/);
  const poduser = await pushSign('poduser', ['x:1', 'registry.local/p11/pod:1']);
  assert.is(poduser.exitCode, 1, poduser.stdout + poduser.stderr);
  assert.match(poduser.stderr, /not included in the podman_dev group/);
  const root = await m.exec(['podsec-push-sign-image', 'x:1', 'registry.local/p11/root:1']);
  assert.is(root.exitCode, 1, root.stdout + root.stderr);
  assert.match(root.stderr, /as the image maker, not as root/);
  for (const ref of ['other/x:1', 'p11/team/x:1', 'p11/nosuch:1', 'p11/pod:1', 'p11/root:1']) {
    assert.not.ok(await inRegistry(`registry.local/${ref}`), `${ref} was pushed`);
  }
});

test('maker2 signs below maker1: a 0755 directory of an older install is reported, repaired by --reconfigure, and the re-run signs', async () => {
  const m = master();
  ok(await userRun(m, 'maker2', ['podman', 'build', '--quiet', '-t', 'y:1', `${DROP}/ctx-y`], { timeoutMs: 300_000 }), 'podman build as maker2');
  // As an older podsec left it: maker1's directory, 0755.
  ok(await m.exec(['chmod', '0755', `/${SIGNATURES}/p11`]), 'chmod');
  const blocked = await pushSign('maker2', ['y:1', 'registry.local/p11/team/y:1']);
  assert.is(blocked.exitCode, 11, blocked.stdout + blocked.stderr);
  assert.match(blocked.stderr, /registry\.local\/p11\/team\/y:1 was pushed to the registry but is NOT signed \(nodes refuse it\)/);

  const repaired = await m.exec(['podsec-create-imagemakeruser', '--reconfigure', 'maker2@registry.local/p11/team']);
  ok(repaired, 'podsec-create-imagemakeruser --reconfigure maker2');
  assert.match(repaired.stdout, /make the signature directory \/var\/sigstore\/sigstore\/p11 writable for every image maker/);
  assert.is((await fs.stat(join(m.root, SIGNATURES, 'p11'))).mode & 0o7777, 0o3775);

  const signed = await pushSign('maker2', ['y:1', 'registry.local/p11/team/y:1']);
  ok(signed, 'push-sign-image as maker2 after the repair');
  digests.y = /\((sha256:[0-9a-f]{64})\)\.$/m.exec(signed.stdout)?.[1] ?? '';
  assert.equal(await signaturesOf('p11/team/y'), [`y@${digests.y.replace(':', '=')}`]);
  // maker1's own image and signature are untouched.
  assert.equal(await signaturesOf('p11/x'), [`x@${digests.x!.replace(':', '=')}`]);
});

test("node1: a podman user pulls both images rootless, each verified against its maker's key, and runs them", async () => {
  assert.ok(digests.x && digests.y, 'the maker steps did not run');
  const node1: ClusterNode = cluster!.nodes[1]!;
  ok(await node1.exec(['podsec-create-policy', '--trust-fingerprint', fingerprint, master().address]), 'podsec-create-policy on node1');
  ok(await node1.exec(['podsec-create-podmanusers', '--no-password', 'poduser']), 'podsec-create-podmanusers on node1');
  await lingerUser(node1, 'poduser');
  for (const [ref, variant] of [
    ['registry.local/p11/x:1', 'x'],
    ['registry.local/p11/team/y:1', 'y'],
  ] as const) {
    ok(await userRun(node1, 'poduser', ['podman', 'pull', '--quiet', ref]), `pull ${ref}`);
    const digest = await userRun(node1, 'poduser', ['podman', 'image', 'inspect', '--format', '{{.Digest}}', ref]);
    assert.is(digest.stdout.trim(), digests[variant], digest.stderr);
    const ran = await userRun(node1, 'poduser', ['podman', 'run', '--rm', ref, 'cat', '/etc/variant']);
    ok(ran, `run ${ref}`);
    assert.is(ran.stdout.trim(), variant);
  }
  // maker1's key does not verify maker2's path: an image maker1 signs into p11/team is refused.
  const policy = JSON.parse((await node1.exec(['cat', '/etc/containers/policy.json'])).stdout);
  assert.equal(policy.transports.docker['registry.local/p11/team'], [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/maker2.pgp' }]);
});

runGated(test, 'maker push e2e', [...NODE_TOOLS, 'ip', 'tar', 'busybox']);
