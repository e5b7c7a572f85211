/**
 * A sigstore image maker (issue 3, proof 4): podsec-create-imagemakeruser --sigstore generates the
 * key pair in our code (ECDSA P-256, the private key encrypted with scrypt + NaCl secretbox as
 * containers/image reads it); podsec-load-sign-oci signs with the real skopeo
 * (--sign-by-sigstore-private-key, passphrase through a pipe); a podman user verifies with the
 * real skopeo and podman under the generated system policy (sigstoreSigned keyPath) and
 * registries.d (use-sigstore-attachments).
 *
 * Debian bookworm's skopeo 1.9.3 and podman 4.3.1 are built with sigstore disabled (a Debian-local
 * patch: "sigstore disabled" for signing and verifying), so this test uses skopeo 1.18 and podman
 * 5.4 from Debian trixie, unpacked into a private prefix (test/support/oci-fixtures.ts).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generateSigstoreKeyPair } from '../../bin/trust/keys/sigstore-key.ts';
import {
  buildImage,
  HOST_PATH,
  imageStore,
  saveArchive,
  startMaster,
  trixieContainerTools,
  type ImageStore,
  type MasterEnv,
  type TrixieTools,
} from '../support/oci-fixtures.ts';
import { runCommand } from '../support/trust-fixtures.ts';
import { hasTool, withTools } from '../support/tools.ts';

const base = suite('trust sigstore maker');
const TOOLS = ['podman', 'skopeo', 'useradd', 'runuser', 'unshare', 'ip', 'docker-registry', 'nginx', 'xz', 'patchelf', 'apt-get', 'dpkg-deb'];
const test = withTools(base, TOOLS);

let m: MasterEnv;
let store: ImageStore;
let tools: TrixieTools;
let archive = '';
let layout = '';
const PASSPHRASE = 'correct horse battery staple';

base.before(async () => {
  if (TOOLS.some((tool) => !hasTool(tool))) return;
  tools = trixieContainerTools();
  m = await startMaster('sigstore');
  store = imageStore(m.work);
  const pp = join(m.work, 'passphrase');
  writeFileSync(pp, `${PASSPHRASE}\n`, { mode: 0o644 });
  const made = await m.program('podsec-create-imagemakeruser', ['--no-password', '--sigstore', '--key-passphrase-file', pp, 'signer@registry.local/s']);
  assert.is(made.exitCode, 0, made.stderr);
  assert.is((await m.program('podsec-create-podmanusers', ['--no-password', 'viewer'])).exitCode, 0);
  await buildImage(store, 's/busybox:1', 'sigstore');
  await buildImage(store, 's/forged:1', 'forged');
  await buildImage(store, 's/unsigned:1', 'unsigned');
  const saved = await saveArchive(store, join(m.work, 'oci'), 'amd64', ['s/busybox:1']);
  assert.is(saved.exitCode, 0, saved.stderr);
  archive = join(m.work, 'oci/amd64.tar.xz');
  const extras = await saveArchive(store, join(m.work, 'oci-extras'), 'amd64', ['s/forged:1', 's/unsigned:1']);
  assert.is(extras.exitCode, 0, extras.stderr);
  layout = join(m.work, 'extras');
  mkdirSync(layout);
  await runCommand('tar', ['-xJf', join(m.work, 'oci-extras/amd64.tar.xz'), '-C', layout]);
  await runCommand('chmod', ['-R', 'a+rX', m.work]);
});

base.after(async () => {
  if (!m) return;
  await m.stopUserProcesses([]);
  await m.stop();
});

/** The trixie skopeo and podman first on PATH, podman pointed at its helpers. */
const trixie = () => ({ PATH: `${tools.bin}:${m.bin}:${HOST_PATH}`, CONTAINERS_CONF: tools.containersConf, PODMAN_IGNORE_CGROUPSV1_WARNING: '1' });

test("the generated key pair: encrypted PEM in the maker's home (0600), public key root-owned, sigstoreSigned scope, attachments on", () => {
  const key = readFileSync(join(m.root, 'home/signer/.config/podsec/sigstore.key'), 'utf8');
  assert.match(key, /^-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n/);
  const envelope = JSON.parse(Buffer.from(key.split('\n').slice(1, -2).join(''), 'base64').toString('utf8'));
  assert.equal(envelope.kdf.params, { N: 32768, r: 8, p: 1 });
  assert.is(envelope.cipher.name, 'nacl/secretbox');
  assert.match(readFileSync(join(m.root, 'var/sigstore/keys/signer.pub'), 'utf8'), /^-----BEGIN PUBLIC KEY-----\n/);
  const policy = JSON.parse(readFileSync(join(m.root, 'etc/containers/policy.json'), 'utf8'));
  assert.equal(policy.transports.docker['registry.local/s'], [{ type: 'sigstoreSigned', keyPath: '/var/sigstore/keys/signer.pub' }]);
  assert.match(
    readFileSync(join(m.root, 'etc/containers/registries.d/podsec-sigstore.yaml'), 'utf8'),
    /registry\.local\/s:\n\s+use-sigstore-attachments: true/,
  );
});

test('load-sign-oci refuses a wrong passphrase before pushing (our decryption of the key)', async () => {
  const wrong = join(m.work, 'wrong');
  writeFileSync(wrong, 'not it\n', { mode: 0o644 });
  const ran = await m.asUser(
    'signer',
    ['podsec-load-sign-oci', '--root', m.root, '--sigstore-key', '/home/signer/.config/podsec/sigstore.key', '--passphrase-file', wrong, archive, 'amd64'],
    { env: { ...trixie(), U7S_PLATFORM: 's' } },
  );
  assert.is(ran.exitCode, 1, ran.stderr);
  assert.match(ran.stderr, /wrong passphrase/);
  assert.not.match(ran.stdout, /\[1\//);
});

test('load-sign-oci signs with the real skopeo (--sign-by-sigstore-private-key) and pushes the signature as an attachment', async () => {
  const pp = join(m.work, 'passphrase');
  const ran = await m.asUser(
    'signer',
    ['podsec-load-sign-oci', '--root', m.root, '--sigstore-key', '/home/signer/.config/podsec/sigstore.key', '--passphrase-file', pp, archive, 'amd64'],
    { env: { ...trixie(), U7S_PLATFORM: 's' } },
  );
  assert.is(ran.exitCode, 0, `${ran.stdout}\n${ran.stderr}`);
  assert.match(ran.stdout, /^Pushing and signing images: 1\/1 s\/busybox:1 → registry\.local\/s\/busybox:1$/m);
  const tags = await runCommand(
    process.execPath,
    [
      '-e',
      `require('http').get('http://${m.address}/v2/s/busybox/tags/list', r => { let d=''; r.on('data', c => d += c); r.on('end', () => console.log(d)); })`,
    ],
    { netns: m.pair.master },
  );
  assert.match(tags.stdout, /"sha256-[0-9a-f]{64}\.sig"/);
});

test('the podman user verifies it with the real skopeo under the system policy', async () => {
  const ran = await m.asUser('viewer', ['skopeo', 'copy', '--quiet', 'docker://registry.local/s/busybox:1', 'dir:/tmp/podsec-sigstore-verified'], {
    env: trixie(),
  });
  assert.is(ran.exitCode, 0, ran.stderr);
  await m.asUser('viewer', ['rm', '-rf', '/tmp/podsec-sigstore-verified']);
});

test('the podman user pulls and runs it with the real podman', async () => {
  const pulled = await m.asUser('viewer', ['podman', 'pull', '--quiet', 'registry.local/s/busybox:1'], { env: trixie() });
  assert.is(pulled.exitCode, 0, pulled.stderr);
  const ran = await m.asUser('viewer', ['podman', 'run', '--rm', '--network=none', 'registry.local/s/busybox:1', 'cat', '/etc/variant'], { env: trixie() });
  assert.is(ran.exitCode, 0, ran.stderr);
  assert.is(ran.stdout.trim(), 'sigstore');
});

test('an image signed by another sigstore key, and an unsigned one, are rejected', async () => {
  const other = generateSigstoreKeyPair(Buffer.from('x'));
  const dir = join(m.work, 'other-key');
  mkdirSync(dir);
  writeFileSync(join(dir, 'key'), other.privateKeyPem);
  writeFileSync(join(dir, 'pass'), 'x\n');
  await runCommand('chmod', ['-R', 'a+rX', dir]);
  const signed = await m.asUser(
    'signer',
    [
      'skopeo',
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      '--sign-by-sigstore-private-key',
      join(dir, 'key'),
      '--sign-passphrase-file',
      join(dir, 'pass'),
      `oci:${join(layout, 'amd64')}:s/forged:1`,
      'docker://registry.local/s/forged:1',
    ],
    { env: trixie() },
  );
  assert.is(signed.exitCode, 0, signed.stderr);
  const unsigned = await m.asUser(
    'signer',
    ['skopeo', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${join(layout, 'amd64')}:s/unsigned:1`, 'docker://registry.local/s/unsigned:1'],
    { env: trixie() },
  );
  assert.is(unsigned.exitCode, 0, unsigned.stderr);
  const forged = await m.asUser('viewer', ['podman', 'pull', '--quiet', 'registry.local/s/forged:1'], { env: trixie() });
  assert.is.not(forged.exitCode, 0);
  assert.match(forged.stderr, /Source image rejected: cryptographic signature verification failed/);
  const none = await m.asUser('viewer', ['podman', 'pull', '--quiet', 'registry.local/s/unsigned:1'], { env: trixie() });
  assert.is.not(none.exitCode, 0);
  assert.match(none.stderr, /A signature was required, but no signature exists/);
});

test.run();
