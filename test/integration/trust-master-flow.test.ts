/**
 * The master flow with real components (issue 3, proofs 1 and 2): podsec-create-policy on a
 * master in its own network namespace, docker-registry on <ip>:80 and nginx on <ip>:81 with
 * podsec's configs, two image makers made by podsec-create-imagemakeruser (batch GPG keys), a
 * podman user made by podsec-create-podmanusers; a busybox-static image made with podman import
 * and saved by podsec-save-oci, loaded and signed by podsec-load-sign-oci as the maker; then, as the
 * podman user with the generated system policy: the signed image pulls and runs, an unsigned image
 * and one signed by an unknown key are rejected by containers/image, docker.io is rejected by the
 * policy before any network access, and each maker's path verifies only against its own key.
 */
import { chmodSync, chownSync, lchownSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildImage, imageStore, saveArchive, useMaster, type ImageStore, type MasterEnv } from '../support/oci-fixtures.ts';
import { PODMAN_DEV_GID, runCommand } from '../support/trust-fixtures.ts';
import { withTools } from '../support/tools.ts';

const base = suite('trust master flow');
const test = withTools(base, ['podman', 'skopeo', 'docker-registry', 'nginx', 'gpg', 'useradd', 'runuser', 'unshare', 'xz', 'chattr', 'ip']);

let m: MasterEnv;
let store: ImageStore;
const fpr: Record<string, string> = {};
let archive = '';
let extras = '';

const ok = (ran: { exitCode: number; stdout: string; stderr: string }, what: string) =>
  assert.is(ran.exitCode, 0, `${what} failed (${ran.exitCode}):\n${ran.stdout}\n${ran.stderr}`);

useMaster(base, 'mflow', ['podman', 'docker-registry', 'nginx'], ['maker-a', 'maker-b', 'maker-c', 'maker-d'], async (started) => {
  m = started;
  store = imageStore(m.work);
  const pw = join(m.work, 'password');
  writeFileSync(pw, 'maker-password\n');
  const pp = join(m.work, 'key-passphrase');
  writeFileSync(pp, 'key passphrase\n', { mode: 0o644 });
  for (const spec of ['maker-a@registry.local/c10f', 'maker-b@registry.local', 'maker-c@registry.local/p11', 'maker-d@registry.local/c10f/team']) {
    const keyOptions = spec.startsWith('maker-c') ? ['--key-passphrase-file', pp] : ['--no-key-passphrase'];
    const ran = await m.program('podsec-create-imagemakeruser', ['--password-file', pw, '--gpg-generate', ...keyOptions, spec]);
    ok(ran, `create-imagemakeruser ${spec}`);
    const user = spec.split('@')[0]!;
    fpr[user] = /GPG key ([0-9A-F]{40})/.exec(ran.stdout)![1]!;
  }
  ok(await m.program('podsec-create-podmanusers', ['--no-password', 'poduser']), 'create-podmanusers');
  await buildImage(store, 'c10f/busybox:1', 'signed');
  for (const [name, variant] of [
    ['c10f/unsigned:1', 'unsigned'],
    ['c10f/foreign:1', 'foreign'],
    ['c10f/b-in-a:1', 'b-in-a'],
    ['other/b:1', 'other-b'],
    ['other/a:1', 'other-a'],
  ] as const) {
    await buildImage(store, name, variant);
  }
  const signedDir = join(m.work, 'oci-signed');
  ok(await saveArchive(store, signedDir, 'amd64', ['c10f/busybox:1']), 'save-oci');
  await buildImage(store, 'p11/protected:1', 'protected');
  ok(await saveArchive(store, join(m.work, 'oci-p11'), 'amd64', ['p11/protected:1']), 'save-oci p11');
  archive = join(signedDir, 'amd64.tar.xz');
  const extrasDir = join(m.work, 'oci-extras');
  ok(await saveArchive(store, extrasDir, 'amd64', ['c10f/unsigned:1', 'c10f/foreign:1', 'c10f/b-in-a:1', 'other/b:1', 'other/a:1']), 'save-oci extras');
  extras = join(m.work, 'extras');
  mkdirSync(extras);
  ok(await runCommand('tar', ['-xJf', join(extrasDir, 'amd64.tar.xz'), '-C', extras]), 'unpack extras');
  await runCommand('chmod', ['-R', 'a+rX', m.work]);
});

const pull = (image: string) => m.asUser('poduser', ['podman', 'pull', '--quiet', image], { timeoutMs: 120_000 });
/** A maker pushes a layout image with plain skopeo, signed with `signBy` or unsigned. */
const pushAs = (user: string, image: string, destination: string, signBy?: string, env: Record<string, string> = {}) =>
  m.asUser(
    user,
    [
      'skopeo',
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      ...(signBy ? ['--sign-by', signBy] : []),
      `oci:${join(extras, 'amd64')}:${image}`,
      `docker://${destination}`,
    ],
    { env },
  );

test('the makers: podman + podman_dev, keys installed by root, one scope each', () => {
  const group = readFileSync(join(m.root, 'etc/group'), 'utf8');
  assert.match(group, /^podman_dev:x:\d+:maker-a,maker-b,maker-c,maker-d$/m);
  for (const user of ['maker-a', 'maker-b']) {
    const st = statSync(join(m.root, `var/sigstore/keys/${user}.pgp`));
    assert.is(st.uid, 0);
    assert.is(st.mode & 0o777, 0o644);
  }
  const policy = JSON.parse(readFileSync(join(m.root, 'etc/containers/policy.json'), 'utf8'));
  assert.equal(policy.default, [{ type: 'reject' }]);
  assert.equal(policy.transports.docker['registry.local/c10f'], [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/maker-a.pgp' }]);
  assert.equal(policy.transports.docker['registry.local'], [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/maker-b.pgp' }]);
  assert.is(readFileSync(join(m.root, 'var/sigstore/keys/policy.json'), 'utf8'), readFileSync(join(m.root, 'etc/containers/policy.json'), 'utf8'));
  const own = JSON.parse(readFileSync(join(m.root, 'home/maker-a/.config/containers/policy.json'), 'utf8'));
  assert.equal(own.default, [{ type: 'insecureAcceptAnything' }]);
  assert.equal(own.transports, policy.transports);
});

test('save-oci: <arch>.tar.xz is an OCI layout with uncompressed layers named <platform>/<name>:<tag>', async () => {
  const listing = await runCommand('tar', ['-tJf', archive]);
  ok(listing, 'tar -t');
  const names = listing.stdout.trim().split('\n');
  assert.ok(names.includes('amd64/oci-layout') && names.includes('amd64/index.json'), names.join(' '));
  assert.ok(
    names.every((n) => /^amd64(\/|\/oci-layout|\/index\.json|\/blobs\/?|\/blobs\/sha256\/?|\/blobs\/sha256\/[0-9a-f]{64})?$/.test(n)),
    names.join(' '),
  );
  const index = JSON.parse(readFileSync(join(extras, 'amd64/index.json'), 'utf8'));
  assert.equal(
    index.manifests.map((e: { annotations: Record<string, string> }) => e.annotations['org.opencontainers.image.ref.name']),
    ['c10f/unsigned:1', 'c10f/foreign:1', 'c10f/b-in-a:1', 'other/b:1', 'other/a:1'],
  );
  const manifest = JSON.parse(readFileSync(join(extras, 'amd64/blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  for (const layer of manifest.layers) assert.is(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar');
});

test('load-sign-oci as maker-a: pushes registry.local/c10f/busybox:1 and signs it (progress line, signature file)', async () => {
  const ran = await m.asUser('maker-a', ['podsec-load-sign-oci', '--root', m.root, archive, 'amd64', fpr['maker-a']!], { env: { U7S_PLATFORM: 'c10f' } });
  ok(ran, 'load-sign-oci');
  assert.match(ran.stdout, /^Pushing and signing images: 1\/1 c10f\/busybox:1 → registry\.local\/c10f\/busybox:1$/m);
  // The k8s-c10f2 alias would fall under maker-b's registry.local: not pushed, with a warning.
  assert.match(ran.stderr, /k8s-c10f2 aliases are not pushed/);
  const signatures = readdirSync(join(m.root, 'var/sigstore/sigstore/c10f'));
  assert.ok(
    signatures.some((d) => /^busybox@sha256=[0-9a-f]{64}$/.test(d)),
    signatures.join(' '),
  );
});

test('as a podman user: the signed image pulls and runs', async () => {
  ok(await pull('registry.local/c10f/busybox:1'), 'pull');
  const ran = await m.asUser('poduser', ['podman', 'run', '--rm', '--network=none', 'registry.local/c10f/busybox:1', 'cat', '/etc/variant']);
  ok(ran, 'run');
  assert.is(ran.stdout.trim(), 'signed');
});

/** load-sign-oci of the archive as maker-d, to `destination`. */
const loadAsMakerD = (destination: string) =>
  m.asUser('maker-d', ['podsec-load-sign-oci', '--root', m.root, archive, 'amd64', fpr['maker-d']!, destination], { env: { U7S_PLATFORM: 'c10f' } });

test("a second maker whose scope lies below the first's signs after it: the lookaside directories stay writable for it", async () => {
  // maker-a signed registry.local/c10f/busybox:1 above, making /var/sigstore/sigstore/c10f.
  ok(await loadAsMakerD('registry.local/c10f/team/c10f'), 'load-sign-oci as maker-d');
  ok(await pull('registry.local/c10f/team/c10f/busybox:1'), "the image maker-d signed pulls under maker-d's scope");
  assert.is(statSync(join(m.root, 'var/sigstore/sigstore/c10f')).mode & 0o7777, 0o3775);
});

test('a signature that cannot be written after the push is reported as an unsigned image in the registry', async () => {
  mkdirSync(join(m.root, 'var/sigstore/sigstore/c10f/team/blocked'), { recursive: true, mode: 0o755 });
  const ran = await loadAsMakerD('registry.local/c10f/team/blocked/c10f');
  assert.is(ran.exitCode, 11, ran.stdout + ran.stderr);
  assert.is(ran.stderr.trimEnd().split('\n').length, 1, ran.stderr);
  assert.match(ran.stderr, /registry\.local\/c10f\/team\/blocked\/c10f\/busybox:1 was pushed to the registry but is NOT signed \(nodes refuse it\)/);
});

test('makers: lookaside directories an older podsec left 0755 by one maker are repaired by create-imagemakeruser, never through a symlink', async () => {
  const tree = (path: string) => join(m.root, 'var/sigstore/sigstore', path);
  const makerA = statSync(join(m.root, 'home/maker-a'));
  // As an older podsec left them: made by maker-a (containers/image), 0755 whatever the umask.
  for (const dir of ['c10f', 'c10f/team']) {
    chownSync(tree(dir), makerA.uid, makerA.gid);
    chmodSync(tree(dir), 0o755);
  }
  const refused = await loadAsMakerD('registry.local/c10f/team/again/c10f');
  assert.is(refused.exitCode, 11, `maker-d signed below a 0755 directory of maker-a:\n${refused.stdout}${refused.stderr}`);
  // A maker plants a symlink where maker-c's scope lies: the repair must not follow it.
  const victim = join(m.work, 'victim');
  mkdirSync(victim, { mode: 0o755 });
  symlinkSync(victim, tree('p11'));
  lchownSync(tree('p11'), makerA.uid, makerA.gid);

  const fixed = await m.program('podsec-create-imagemakeruser', ['--reconfigure', 'maker-d@registry.local/c10f/team']);
  ok(fixed, 'create-imagemakeruser --reconfigure maker-d');
  assert.match(
    fixed.stdout,
    /make the signature directories \/var\/sigstore\/sigstore\/c10f, \/var\/sigstore\/sigstore\/c10f\/team writable for every image maker/,
  );
  for (const dir of ['c10f', 'c10f/team']) {
    const st = statSync(tree(dir));
    assert.is(st.mode & 0o7777, 0o3775, dir);
    assert.equal([st.uid, st.gid], [makerA.uid, PODMAN_DEV_GID], `${dir}: the owner is kept, the group is podman_dev`);
  }
  const victimSt = statSync(victim);
  assert.equal([victimSt.mode & 0o7777, victimSt.uid, victimSt.gid], [0o755, 0, 0], 'the repair followed the symlink');
  ok(await loadAsMakerD('registry.local/c10f/team/again/c10f'), 'load-sign-oci as maker-d after the repair');
  ok(await pull('registry.local/c10f/team/again/c10f/busybox:1'), 'the image maker-d signed after the repair pulls');
  const again = await m.program('podsec-create-imagemakeruser', ['--reconfigure', '--dry-run', 'maker-d@registry.local/c10f/team']);
  ok(again, 'create-imagemakeruser --reconfigure --dry-run');
  assert.not.match(again.stdout, /signature director/, 'a repaired tree is repaired again');
  unlinkSync(tree('p11'));
});

test('a passphrase-protected GPG key: load-sign-oci --passphrase-file hands the passphrase to skopeo, the image verifies', async () => {
  const archiveP11 = join(m.work, 'oci-p11/amd64.tar.xz');
  const ran = await m.asUser(
    'maker-c',
    ['podsec-load-sign-oci', '--root', m.root, '--passphrase-file', join(m.work, 'key-passphrase'), archiveP11, 'amd64', fpr['maker-c']!],
    { env: { U7S_PLATFORM: 'p11' } },
  );
  ok(ran, 'load-sign-oci with a passphrase');
  ok(await pull('registry.local/p11/protected:1'), 'pull');
});

test('an unsigned image in the same repository path is rejected by containers/image', async () => {
  ok(await pushAs('maker-a', 'c10f/unsigned:1', 'registry.local/c10f/unsigned:1'), 'push unsigned');
  const ran = await pull('registry.local/c10f/unsigned:1');
  assert.is.not(ran.exitCode, 0);
  assert.match(ran.stderr, /A signature was required, but no signature exists/);
});

test('an image signed by an unknown key is rejected', async () => {
  const gnupg = join(m.work, 'intruder-gnupg');
  mkdirSync(gnupg, { mode: 0o700 });
  chmodSync(gnupg, 0o700);
  await runCommand('chown', [`${statSync(join(m.root, 'home/maker-a')).uid}`, gnupg]);
  const env = { GNUPGHOME: gnupg };
  ok(
    await m.asUser('maker-a', ['gpg', '--batch', '--passphrase', '', '--quick-generate-key', 'intruder <intruder@example.org>', 'rsa2048', 'sign', 'never'], {
      env,
    }),
    'gpg',
  );
  ok(await pushAs('maker-a', 'c10f/foreign:1', 'registry.local/c10f/foreign:1', 'intruder@example.org', env), 'push foreign');
  await m.asUser('maker-a', ['gpgconf', '--kill', 'all'], { env });
  const ran = await pull('registry.local/c10f/foreign:1');
  assert.is.not(ran.exitCode, 0);
  assert.match(ran.stderr, /Source image rejected: Invalid GPG signature/);
});

test('docker.io is rejected by the policy, not by the network', async () => {
  // No route leaves the namespace; a stand-in docker.io (the master's registry, reached by name
  // through the hosts file and an insecure registries.conf entry) serves library/busybox:latest,
  // so the pull gets as far as the policy, which rejects it. Only the manifest is fetched.
  ok(
    await m.asUser('maker-a', [
      'skopeo',
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${join(extras, 'amd64')}:c10f/unsigned:1`,
      'docker://registry.local/library/busybox:latest',
    ]),
    'stand-in image',
  );
  const hosts = join(m.work, 'hosts-docker-io');
  writeFileSync(hosts, `${readFileSync(join(m.root, 'etc/hosts'), 'utf8')}${m.address} docker.io registry-1.docker.io\n`);
  const conf = join(m.work, 'registries-docker-io.conf');
  writeFileSync(conf, `${readFileSync(join(m.root, 'etc/containers/registries.conf'), 'utf8')}\n[[registry]]\nlocation = "docker.io"\ninsecure = true\n`);
  await runCommand('chmod', ['a+r', hosts, conf]);
  const binds: [string, string][] = [
    [hosts, '/etc/hosts'],
    [conf, '/etc/containers/registries.conf'],
  ];
  // A fresh user: rootless podman joins the namespaces of the user's first podman process, which
  // would keep the view without these two files.
  ok(await m.program('podsec-create-podmanusers', ['--no-password', 'poduser2']), 'create-podmanusers');
  const ran = await m.asUser('poduser2', ['podman', 'pull', '--quiet', 'docker.io/library/busybox:latest'], { binds });
  assert.is.not(ran.exitCode, 0);
  // containers/image names docker.io/library images by their short form in this message.
  assert.match(ran.stderr, /Source image rejected: Running image docker:\/\/(docker\.io\/library\/)?busybox:latest is rejected by policy/);
  const images = await m.asUser('poduser2', ['podman', 'images', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.not.match(images.stdout, /docker\.io\/library\/busybox/);
});

/**
 * A maker signs in a path whose signature directories belong to another maker (so it cannot
 * write there): it signs through a staging directory of its own, and the test puts the signature
 * where the lookaside serves it — as if the maker had write access.
 */
async function signElsewhere(user: string, image: string, destination: string, signBy: string): Promise<void> {
  const dir = join(m.work, `staging-${user}-${image.replace(/[/:]/g, '_')}`);
  const staging = join(dir, 'sigs');
  mkdirSync(staging, { recursive: true });
  writeFileSync(join(dir, 'default.yaml'), `default-docker:\n  lookaside: http://sigstore.local:81/sigstore/\n  lookaside-staging: file://${staging}/\n`);
  await runCommand('chmod', ['-R', 'a+rwX', dir]);
  ok(
    await m.asUser(user, [
      'skopeo',
      '--registries.d',
      dir,
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      '--sign-by',
      signBy,
      `oci:${join(extras, 'amd64')}:${image}`,
      `docker://${destination}`,
    ]),
    `${user} signs ${destination}`,
  );
  ok(await runCommand('cp', ['-a', `${staging}/.`, join(m.root, 'var/sigstore/sigstore/')]), 'place the signature');
  await runCommand('chmod', ['-R', 'a+rX', join(m.root, 'var/sigstore/sigstore')]);
}

test('two makers, longest prefix: registry.local/c10f verifies only against maker-a, registry.local only against maker-b', async () => {
  await signElsewhere('maker-b', 'c10f/b-in-a:1', 'registry.local/c10f/b-in-a:1', fpr['maker-b']!);
  ok(await pushAs('maker-b', 'other/b:1', 'registry.local/other/b:1', fpr['maker-b']), 'b signs its own');
  await signElsewhere('maker-a', 'other/a:1', 'registry.local/other/a:1', fpr['maker-a']!);
  const bInA = await pull('registry.local/c10f/b-in-a:1');
  assert.is.not(bInA.exitCode, 0, "maker-b's signature must not be accepted under registry.local/c10f");
  assert.match(bInA.stderr, /Source image rejected: Invalid GPG signature/);
  ok(await pull('registry.local/other/b:1'), 'maker-b under registry.local');
  const aInB = await pull('registry.local/other/a:1');
  assert.is.not(aInB.exitCode, 0, "maker-a's signature must not be accepted under registry.local");
  assert.match(aInB.stderr, /Source image rejected: Invalid GPG signature/);
  ok(await pull('registry.local/c10f/busybox:1'), 'maker-a under registry.local/c10f');
});

test('load-sign-oci refuses, before pushing, a destination the policy gives to another maker', async () => {
  const ran = await m.asUser('maker-b', ['podsec-load-sign-oci', '--root', m.root, archive, 'amd64', fpr['maker-b']!], { env: { U7S_PLATFORM: 'c10f' } });
  assert.is(ran.exitCode, 10, ran.stderr);
  assert.match(
    ran.stderr,
    /registry\.local\/c10f\/busybox:1: the system policy \(registry\.local\/c10f\) wants a signature by \/var\/sigstore\/keys\/maker-a\.pgp/,
  );
});

test.run();
