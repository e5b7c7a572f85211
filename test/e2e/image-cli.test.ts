// test-runner: exclusive — boots nspawn machines or a VM from the shared image cache and needs the whole machine
/**
 * `npm run image` end to end: the rootfs kind and its cache (a second run rebuilds nothing), the
 * container kind (deterministic tar, podman import into a temp storage whose layer digest is the
 * tar's sha256, an nspawn machine directory that boots), the vm kind's outputs, `--base alt`
 * failing fast with one line, and usage errors.
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fileSha256 } from '../../scripts/image/cache.ts';
import { NSPAWN_SETTINGS, writeDeterministicTar } from '../../scripts/image/container.ts';
import { loadChangelog, sourceDateEpoch } from '../../scripts/changelog.ts';
import { runTs } from '../support/exec.ts';
import { ensureNodeImage, imageCacheDir, NODE_TOOLS, runGated, hookError } from '../support/image-env.ts';
import { bootNode } from '../support/nspawn.ts';

const CLI = 'scripts/image/cli.ts';
let work = '';
const times: Record<string, number> = {};
let image: Awaited<ReturnType<typeof ensureNodeImage>>;

test.before(async () => {
  try {
    work = await fs.mkdtemp('/var/tmp/podsec-image-cli-');
    image = await ensureNodeImage();
  } catch (err) {
    hookError(err);
  }
});

test.after(async () => {
  if (work) await execa('rm', ['-rf', '--one-file-system', '--', work], { reject: false });
});

/** The CLI on the same RPMs as the tests' image (not dist/'s, which other work may be rebuilding). */
const image_ = (args: string[], timeoutMs = 20 * 60_000) =>
  runTs(CLI, [...args, '--cache', imageCacheDir(), ...image.rpms.flatMap((r) => ['--rpms', r])], { timeoutMs });

test('--kind rootfs: publishes the cached rootfs; a second run with nothing changed rebuilds nothing', async () => {
  const out = join(work, 'out');
  const t0 = performance.now();
  const first = await image_(['--kind', 'rootfs', '--out', out]);
  times['npm run image --kind rootfs (first in this test)'] = Math.round(performance.now() - t0);
  assert.is(first.exitCode, 0, first.stderr);
  const target = await fs.readlink(join(out, 'rootfs'));
  assert.is(target, image.path);
  const t1 = performance.now();
  const second = await image_(['--kind', 'rootfs', '--out', out]);
  times['npm run image --kind rootfs (cached)'] = Math.round(performance.now() - t1);
  assert.is(second.exitCode, 0, second.stderr);
  assert.match(second.stdout, /\(cached\)/);
  assert.not.match(second.stdout, /mmdebstrap|rpm -i/);
  assert.is(await fs.readlink(join(out, 'rootfs')), target);
  const manifest = JSON.parse(await fs.readFile(join(out, 'rootfs.json'), 'utf8')) as { rpms: { file: string; sha256: string }[]; path: string };
  assert.is(manifest.path, target);
  assert.equal(
    manifest.rpms.map((r) => r.file),
    image.rpms.map((r) => r.slice(r.lastIndexOf('/') + 1)).sort(),
  );
  for (const rpm of image.rpms) {
    const entry = manifest.rpms.find((r) => r.file === rpm.slice(rpm.lastIndexOf('/') + 1));
    assert.is(entry?.sha256, await fileSha256(rpm), rpm);
  }
  // Published atomically: nothing half-built is left in the cache.
  assert.equal(
    (await fs.readdir(imageCacheDir())).filter((n) => n.includes('.tmp-')),
    [],
  );
  // Every RPM is installed in the image.
  const q = await execa('rpm', ['--root', target, '--dbpath', '/var/lib/rpm', '-qa', '--qf', '%{NAME}\\n']);
  for (const rpm of image.rpms) assert.ok(q.stdout.split('\n').includes(/^(.*)-[^-]+-[^-]+\.noarch\.rpm$/.exec(rpm.slice(rpm.lastIndexOf('/') + 1))![1]!));
});

test('the tar is deterministic: the same tree gives the same bytes', async () => {
  const epoch = sourceDateEpoch(loadChangelog());
  const a = await writeDeterministicTar(image.path, join(work, 'a.tar'), epoch);
  const b = await writeDeterministicTar(image.path, join(work, 'b.tar'), epoch);
  assert.is(a, b);
  const list = await execa('tar', ['--list', '--verbose', '--numeric-owner', '--file', join(work, 'a.tar')], {
    maxBuffer: 256 * 1024 * 1024,
    env: { TZ: 'UTC' },
  });
  const lines = list.stdout.split('\n');
  assert.ok(
    lines.every((l) => !l || l.includes(new Date(epoch * 1000).toISOString().slice(0, 10))),
    'an mtime is not the epoch',
  );
  assert.not.ok(
    lines.some((l) => / \.\/(proc|sys|dev)\/./.test(l)),
    'API filesystems in the tar',
  );
  await fs.rm(join(work, 'a.tar'));
  await fs.rm(join(work, 'b.tar'));
});

test('--kind container: OCI image in podman (layer = the tar), nspawn machine directory that boots', async () => {
  const out = join(work, 'out');
  const storage = join(work, 'podman');
  const t0 = performance.now();
  const r = await image_(['--kind', 'container', '--out', out, '--podman-root', join(storage, 'root'), '--podman-runroot', join(storage, 'run')]);
  times['npm run image --kind container'] = Math.round(performance.now() - t0);
  assert.is(r.exitCode, 0, r.stderr + r.stdout);
  const manifest = JSON.parse(await fs.readFile(join(out, 'container/manifest.json'), 'utf8')) as Record<string, string>;
  assert.is(await fileSha256(manifest.tar!), manifest.tarSha256);
  const ref = manifest.image!.split('@')[0]!;
  assert.match(ref, /^localhost\/podsec-node:\d[^-]*-alt\d+$/);
  const podman = (args: string[]) => execa('podman', ['--root', join(storage, 'root'), '--runroot', join(storage, 'run'), ...args], { reject: false });
  const layers = await podman(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', ref]);
  assert.is(layers.exitCode, 0, layers.stderr);
  assert.equal(JSON.parse(layers.stdout), [`sha256:${manifest.tarSha256}`]);
  const config = await podman(['image', 'inspect', '--format', '{{json .Config.Cmd}} {{.Config.StopSignal}}', ref]);
  assert.match(config.stdout.trim(), /^\["\/sbin\/init"\] (SIGRTMIN\+3|37)$/); // podman prints the number
  await podman(['rmi', '--all', '--force']);

  assert.is(await fs.readFile(join(out, 'container/machines/podsec-node.nspawn'), 'utf8'), NSPAWN_SETTINGS);
  const machine = manifest.machine!;
  assert.ok(existsSync(join(machine, 'usr/share/podsec-image/manifest.json')));
  const node = await bootNode(machine, { name: `podsec-machine-${process.pid}` });
  try {
    times['nspawn boot of the machine directory'] = Math.round(node.bootMs);
    const platform = await node.exec(['/usr/bin/podsec-get-platform', '--version']);
    assert.is(platform.exitCode, 0, platform.stderr);
  } finally {
    await node.stop();
  }
});

test('--kind vm: kernel, initramfs and the qemu command line', async () => {
  const out = join(work, 'out');
  const r = await image_(['--kind', 'vm', '--out', out]);
  assert.is(r.exitCode, 0, r.stderr + r.stdout);
  for (const f of ['vm/vmlinuz', 'vm/initrd.img', 'vm/rootfs', 'vm/qemu.json']) assert.ok(existsSync(join(out, f)), f);
  const qemu = JSON.parse(await fs.readFile(join(out, 'vm/qemu.json'), 'utf8')) as { argv: string[]; modules: string[] };
  assert.is(qemu.argv[0], 'qemu-system-x86_64');
  assert.ok(qemu.argv.includes('-no-reboot'));
  assert.ok(qemu.argv.some((a) => a.includes('systemd.mask=serial-getty@ttyS0.service')));
  assert.ok(qemu.argv.some((a) => a.startsWith('local,path=') && a.includes('readonly=on')));
  assert.ok(qemu.modules.includes('9p') && qemu.modules.includes('overlay'));
  assert.match(r.stdout, /vm: boot with: qemu-system-x86_64 /);
});

test('--base alt fails fast with one line when no ALT base is available (no network is tried)', async () => {
  const t0 = performance.now();
  const r = await image_(['--kind', 'rootfs', '--base', 'alt', '--out', join(work, 'alt'), '--alt-image', 'localhost/podsec-no-such-alt:p11'], 120_000);
  times['--base alt failure'] = Math.round(performance.now() - t0);
  assert.is(r.exitCode, 1);
  const lines = r.stderr.trim().split('\n');
  assert.is(lines.length, 1, r.stderr);
  assert.match(
    lines[0]!,
    new RegExp(
      String.raw`^image: ALT base image localhost/podsec-no-such-alt:p11 is not in the local podman storage, ` +
        String.raw`and ALT's registry and repositories are not reachable from this machine`,
    ),
  );
  assert.not.ok(existsSync(join(work, 'alt', 'rootfs')));
});

test('usage errors exit 2 with the usage text', async () => {
  for (const args of [[], ['--kind', 'iso'], ['--kind', 'rootfs', '--base', 'fedora'], ['--kind', 'rootfs', 'extra'], ['--bogus']]) {
    const r = await runTs(CLI, args);
    assert.is(r.exitCode, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^image: .*\nusage: npm run image/);
  }
  const help = await runTs(CLI, ['--help']);
  assert.is(help.exitCode, 0);
  assert.match(help.stdout, /--kind rootfs\|container\|vm/);
});

test('timings', () => {
  console.log('  timings (ms):', times);
});

runGated(test, 'image CLI e2e', [...NODE_TOOLS, 'podman', 'tar', 'apt-get', 'dpkg-deb', 'busybox', 'cpio']);
