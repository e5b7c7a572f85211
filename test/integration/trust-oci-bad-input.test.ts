/**
 * Bad archives and arguments for podsec-load-sign-oci (run as a real image maker on the master)
 * and podsec-save-oci: each is refused with one line and its exit code before anything is pushed
 * — the --root tree, the registry's storage and the signature directory are compared by hashes
 * before and after (issue 3, proof 5) — and no temp directory is left behind.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildImage, imageStore, saveArchive, useMaster, type ImageStore, type MasterEnv } from '../support/oci-fixtures.ts';
import { withTools } from '../support/tools.ts';
import { runCommand, runProgram, treeDiff, treeHashes } from '../support/trust-fixtures.ts';

const base = suite('trust oci: bad archives and arguments');
const TOOLS = ['podman', 'skopeo', 'useradd', 'runuser', 'unshare', 'gpg', 'ip', 'docker-registry', 'nginx', 'xz', 'tar'];
const test = withTools(base, TOOLS);

let m: MasterEnv;
let store: ImageStore;
let fingerprint = '';
let good = '';
let layout = '';

useMaster(base, 'ocibad', TOOLS, ['loader'], async (started) => {
  m = started;
  store = imageStore(m.work);
  const made = await m.program('podsec-create-imagemakeruser', ['--no-password', '--gpg-generate', '--no-key-passphrase', 'loader@registry.local/c10f']);
  assert.is(made.exitCode, 0, made.stderr);
  fingerprint = /GPG key ([0-9A-F]{40})/.exec(made.stdout)![1]!;
  assert.is((await m.program('podsec-create-podmanusers', ['--no-password', 'outsider'])).exitCode, 0);
  await buildImage(store, 'c10f/busybox:1', 'bad-input');
  const saved = await saveArchive(store, join(m.work, 'good'), 'amd64', ['c10f/busybox:1']);
  assert.is(saved.exitCode, 0, saved.stderr);
  good = join(m.work, 'good/amd64.tar.xz');
  layout = join(m.work, 'layout');
  mkdirSync(layout);
  assert.is((await runCommand('tar', ['-xJf', good, '-C', layout])).exitCode, 0);
});

let variants = 0;
/** A copy of the good layout, changed by `edit`, packed with GNU tar (extra args) and xz. */
async function archiveOf(edit: (dir: string) => void, tarArgs: string[] = []): Promise<string> {
  const dir = join(m.work, `variant-${variants++}`);
  cpSync(layout, dir, { recursive: true });
  edit(join(dir, 'amd64'));
  const out = `${dir}.tar.xz`;
  const tar = await runCommand('bash', ['-c', 'set -o pipefail; tar -C "$1" -cf - "${@:3}" amd64 | xz -1 > "$2"', 'bash', dir, out, ...tarArgs]);
  assert.is(tar.exitCode, 0, tar.stderr);
  await runCommand('chmod', ['-R', 'a+rX', m.work]);
  return out;
}

const indexOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
const writeIndex = (dir: string, index: unknown) => writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
const tempDirs = () => readdirSync('/var/tmp').filter((n) => n.startsWith('podsec-load-')).length;

/** load-sign-oci as `user`; refused with `exitCode` and a line matching `message`; nothing changed anywhere. */
async function loadRefused(args: string[], exitCode: number, message: RegExp, user = 'loader') {
  const watched = [m.root, join(m.work, 'registry')];
  const before = watched.map((dir) => treeHashes(dir));
  const temps = tempDirs();
  const ran = await m.asUser(user, ['podsec-load-sign-oci', '--root', m.root, ...args], { env: { U7S_PLATFORM: 'c10f' } });
  assert.is(ran.exitCode, exitCode, `exit ${ran.exitCode}, expected ${exitCode}:\n${ran.stdout}\n${ran.stderr}`);
  const lines = ran.stderr.trim().split('\n');
  assert.is(lines.length, 1, `one line expected on stderr:\n${ran.stderr}`);
  assert.match(lines[0]!, message);
  assert.not.match(ran.stdout, /\[1\//, 'nothing may be pushed');
  watched.forEach((dir, i) => assert.equal(treeDiff(before[i]!, treeHashes(dir)), [], `${dir} changed`));
  assert.is(tempDirs(), temps, 'a temp directory was left behind');
}

test('load: an archive entry with "../" is refused (exit 6), nothing is written outside', async () => {
  const archive = await archiveOf((dir) => writeFileSync(join(dir, 'evil'), 'x\n'), ['-P', '--transform', 's,^amd64/evil$,amd64/../../podsec-evil,']);
  await loadRefused([archive, 'amd64', fingerprint], 6, /unsafe name "amd64\/\.\.\/\.\.\/podsec-evil"/);
  assert.not.ok(existsSync('/var/podsec-evil') || existsSync('/var/tmp/podsec-evil') || existsSync('/podsec-evil'));
});

test('load: a symlink in the layout is refused (exit 6)', async () => {
  const archive = await archiveOf((dir) => {
    const blob = readdirSync(join(dir, 'blobs/sha256'))[0]!;
    rmSync(join(dir, 'blobs/sha256', blob));
    symlinkSync('/etc/shadow', join(dir, 'blobs/sha256', blob));
  });
  await loadRefused([archive, 'amd64', fingerprint], 6, /unexpected entry .*SymbolicLink/);
});

test('load: an image name with another registry host is refused (exit 9)', async () => {
  const archive = await archiveOf((dir) => {
    const index = indexOf(dir);
    index.manifests[0].annotations['org.opencontainers.image.ref.name'] = 'docker.io/library/evil:1';
    writeIndex(dir, index);
  });
  await loadRefused([archive, 'amd64', fingerprint], 9, /"docker\.io\/library\/evil:1": it names the registry host docker\.io/);
});

test('load: an image name with ".." is refused (exit 9)', async () => {
  const archive = await archiveOf((dir) => {
    const index = indexOf(dir);
    index.manifests[0].annotations['org.opencontainers.image.ref.name'] = 'c10f/../etc:1';
    writeIndex(dir, index);
  });
  await loadRefused([archive, 'amd64', fingerprint], 9, /"c10f\/\.\.\/etc:1": it has a "\.\." component/);
});

test('load: images with different prefixes in one archive are refused (exit 9)', async () => {
  const archive = await archiveOf((dir) => {
    const index = indexOf(dir);
    index.manifests.push({ ...index.manifests[0], annotations: { 'org.opencontainers.image.ref.name': 'other/busybox:1' } });
    writeIndex(dir, index);
  });
  await loadRefused([archive, 'amd64', fingerprint], 9, /"other\/busybox:1": its prefix is not c10f\//);
});

test('load: an archive for another platform is refused without a terminal (exit 1)', async () => {
  const archive = await archiveOf((dir) => {
    const index = indexOf(dir);
    index.manifests[0].annotations['org.opencontainers.image.ref.name'] = 'p11/busybox:1';
    writeIndex(dir, index);
  });
  await loadRefused([archive, 'amd64', fingerprint], 1, /the archive is for the platform p11, this host is c10f; give --platform p11/);
});

test('load: a missing index.json is refused (exit 8)', async () => {
  const archive = await archiveOf((dir) => rmSync(join(dir, 'index.json')));
  await loadRefused([archive, 'amd64', fingerprint], 8, /has no amd64\/index\.json/);
});

test('load: an index whose manifest blob is missing is refused (exit 9)', async () => {
  const archive = await archiveOf((dir) => rmSync(join(dir, 'blobs/sha256', indexOf(dir).manifests[0].digest.slice(7))));
  await loadRefused([archive, 'amd64', fingerprint], 9, /its manifest blob sha256:[0-9a-f]{64} is missing/);
});

test('load: a file that is not xz is refused (exit 6)', async () => {
  const file = join(m.work, 'plain.tar');
  assert.is((await runCommand('tar', ['-C', layout, '-cf', file, 'amd64'])).exitCode, 0);
  await runCommand('chmod', ['a+r', file]);
  await loadRefused([file, 'amd64', fingerprint], 6, /not an xz archive/);
});

test('load: an archive of another architecture is refused (exit 7)', () => loadRefused([good, 'arm64', fingerprint], 7, /has no directory arm64\//));
test('load: an unknown architecture is refused (exit 3)', () => loadRefused([good, 'x86_64', fingerprint], 3, /Unknown architecture "x86_64"/));
test('load: a destination on another registry is refused (exit 5)', () =>
  loadRefused([good, 'amd64', fingerprint, 'docker.io/c10f'], 5, /must be registry\.local\/<path>/));
test('load: a destination without a path is refused (exit 1)', () =>
  loadRefused([good, 'amd64', fingerprint, 'registry.local'], 1, /Missing path after registry name/));
test('load: a missing archive is refused (exit 1)', () =>
  loadRefused([join(m.work, 'nope.tar.xz'), 'amd64', fingerprint], 1, /Archive .*nope\.tar\.xz is missing/));
test('load: an unreferenced xz bomb past --archive-max-bytes is refused, even with --dry-run (exit 6)', async () => {
  const zeros = Buffer.alloc(64 * 1024 * 1024);
  const archive = await archiveOf((dir) => writeFileSync(join(dir, 'blobs/sha256', createHash('sha256').update(zeros).digest('hex')), zeros));
  await loadRefused(['--dry-run', '--archive-max-bytes', '16M', archive, 'amd64', fingerprint], 6, /more than 16777216 bytes \(--archive-max-bytes\)/);
});
test('load: a bad --archive-max-entries is refused (exit 1)', () =>
  loadRefused(['--archive-max-entries', '0', good, 'amd64', fingerprint], 1, /--archive-max-entries: expected a positive number/));
test('load: a missing --sigstore-key file is refused (exit 66)', () =>
  loadRefused(['--sigstore-key', join(m.work, 'nope.key'), '--no-passphrase', good, 'amd64'], 66, /nope\.key: no such file or directory$/));
test('load: a --sigstore-key file the user cannot read is refused (exit 66)', () => {
  const key = join(m.work, 'root-only.key');
  writeFileSync(key, 'secret\n', { mode: 0o600 });
  return loadRefused(['--sigstore-key', key, '--no-passphrase', good, 'amd64'], 66, /root-only\.key: permission denied$/);
});
test('load: a signer without a secret key is refused (exit 1)', () =>
  loadRefused([good, 'amd64', 'nobody@example.org'], 1, /no secret key "nobody@example\.org" in your GPG keyring/));
test('load: a caller outside podman_dev is refused (exit 1)', () =>
  loadRefused([good, 'amd64', fingerprint], 1, /not included in the podman_dev group/, 'outsider'));

// ---------------------------------------------------------------------------------------------
// save-oci

async function saveRefused(args: string[], exitCode: number, message: RegExp, dir: string) {
  const existed = existsSync(dir);
  const before = existed ? treeHashes(dir) : undefined;
  const ran = await runProgram('podsec-save-oci', args, { timeoutMs: 120_000 });
  assert.is(ran.exitCode, exitCode, `exit ${ran.exitCode}: ${ran.stderr}`);
  const lines = ran.stderr.trim().split('\n');
  assert.is(lines.length, 1, ran.stderr);
  assert.match(lines[0]!, message);
  if (before) assert.equal(treeDiff(before, treeHashes(dir)), []);
  else assert.not.ok(existsSync(dir), `${dir} was left behind`);
}

test('save: an existing directory is refused (exit 1) and left as it was', () =>
  saveRefused([join(m.work, 'good'), 'amd64', 'c10f/busybox:1'], 1, /OCI catalog .* already exists/, join(m.work, 'good')));
test('save: an unknown architecture anywhere in the list is refused (exit 2)', () =>
  saveRefused([join(m.work, 'o1'), 'amd64,x86_64', 'c10f/busybox:1'], 2, /Unknown architecture "x86_64"/, join(m.work, 'o1')));
test('save: an image name with a registry host is refused (exit 3)', () =>
  saveRefused([join(m.work, 'o2'), 'amd64', 'docker.io/library/busybox:1'], 3, /invalid image name "docker\.io\/library\/busybox:1"/, join(m.work, 'o2')));
test('save: an image name with ".." is refused (exit 3)', () =>
  saveRefused([join(m.work, 'o3'), 'amd64', '../etc/x:1'], 3, /invalid image name "\.\.\/etc\/x:1"/, join(m.work, 'o3')));
test('save: an image without a tag is refused (exit 3)', () =>
  saveRefused([join(m.work, 'o4'), 'amd64', 'c10f/busybox'], 3, /it has no tag/, join(m.work, 'o4')));
test('save: a failing copy names the image and leaves no partial archive (exit 4)', () =>
  saveRefused(
    ['--registry', 'localhost', '--signature-policy', store.policy, join(m.work, 'o5'), 'amd64', store.transport, 'c10f/busybox:1', 'c10f/missing:1'],
    4,
    /c10f\/missing:1 \(amd64\): skopeo copy from .* failed/,
    join(m.work, 'o5'),
  ));

test.run();
