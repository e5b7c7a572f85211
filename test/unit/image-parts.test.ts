/**
 * The image builder's parts that boot nothing: the initramfs archives as the kernel reads them
 * (written by GNU cpio; devices need root), the content-addressed cache's atomic publish, the
 * package plan derived from the model, module dependency parsing, and the preset evaluation the
 * boot tests use. (Filed with the image e2e tests they support.)
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cachedEntry, contentHash } from '../../scripts/image/cache.ts';
import { type CpioEntry, withParents, writeCpio } from '../../scripts/image/cpio.ts';
import { moduleDepends } from '../../scripts/image/kernel.ts';
import { nspawnBootCommand } from '../../scripts/image/container.ts';
import { ALT_TO_DEBIAN, planPackages } from '../../scripts/image/packages.ts';
import { REPO_ROOT } from '../../scripts/paths.ts';
import { bumpRelease } from '../support/image-rpm.ts';
import model from '../../scripts/model/index.ts';
import { expectedEnablement, globToRegExp, isInstallable } from '../support/image-facts.ts';
import { asRoot, withTools } from '../support/tools.ts';

/** Minimal newc reader: [name, mode, size, data] per entry. */
function readCpio(buf: Buffer): { name: string; mode: number; uid: number; gid: number; mtime: number; data: Buffer; rdev: [number, number] }[] {
  const out = [];
  let off = 0;
  const align = (n: number) => (n + 3) & ~3;
  for (let i = 0; i < 10_000; i++) {
    assert.is(buf.toString('ascii', off, off + 6), '070701');
    const field = (k: number) => parseInt(buf.toString('ascii', off + 6 + k * 8, off + 14 + k * 8), 16);
    const mode = field(1);
    const size = field(6);
    const namesize = field(11);
    const name = buf.toString('utf8', off + 110, off + 110 + namesize - 1);
    const dataStart = align(off + 110 + namesize);
    const data = buf.subarray(dataStart, dataStart + size);
    const rdev: [number, number] = [field(9), field(10)];
    off = align(dataStart + size);
    if (name === 'TRAILER!!!') break;
    out.push({ name, mode, uid: field(2), gid: field(3), mtime: field(5), data, rdev });
  }
  // GNU cpio pads the archive to its 512-byte blocks with NULs, which the kernel skips.
  assert.ok(buf.subarray(off).every((b) => b === 0) && buf.length - off < 512, 'trailing bytes after the trailer');
  return out;
}

/** The message of the error `promise` rejects with. */
const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => '',
    (error: Error) => error.message,
  );

const CPIO_ENTRIES: CpioEntry[] = [
  { type: 'file', path: 'init', data: '#!/bin/sh\n', mode: 0o755 },
  { type: 'file', path: 'lib/modules/kernel/fs/9p.ko', data: Buffer.from([1, 2, 3]) },
  { type: 'symlink', path: 'bin/sh', target: 'busybox' },
];

withTools(test, ['cpio'])('cpio: newc records with aligned names and data, parents added, symlinks; sorted, owner 0, mtime 0', async () => {
  const buf = await writeCpio(withParents(CPIO_ENTRIES));
  const entries = readCpio(buf);
  assert.equal(
    entries.map((e) => e.name),
    ['bin', 'bin/sh', 'init', 'lib', 'lib/modules', 'lib/modules/kernel', 'lib/modules/kernel/fs', 'lib/modules/kernel/fs/9p.ko'],
  );
  assert.is(entries[2]!.mode, 0o100755);
  assert.is(entries[2]!.data.toString(), '#!/bin/sh\n');
  assert.equal([...entries[7]!.data], [1, 2, 3]);
  assert.is(entries[7]!.mode, 0o100644);
  assert.is(entries[0]!.mode, 0o040755);
  assert.is(entries[1]!.mode, 0o120777);
  assert.is(entries[1]!.data.toString(), 'busybox');
  assert.equal(
    entries.map((e) => [e.uid, e.gid, e.mtime]),
    entries.map(() => [0, 0, 0]),
  );
  // Deterministic.
  assert.ok(buf.equals(await writeCpio(withParents(CPIO_ENTRIES))));
  assert.match(await rejection(writeCpio([{ type: 'file', path: 'a/b', data: '' }])), /before its directory/);
  assert.match(await rejection(writeCpio([{ type: 'file', path: '../x', data: '' }])), /bad path/);
});

withTools(asRoot(test), ['cpio', 'mknod'])('cpio: character devices', async () => {
  const entries = readCpio(
    await writeCpio(
      withParents([
        { type: 'chardev', path: 'dev/console', major: 5, minor: 1 },
        { type: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666 },
      ]),
    ),
  );
  assert.equal(
    entries.map((e) => e.name),
    ['dev', 'dev/console', 'dev/null'],
  );
  assert.is(entries[1]!.mode, 0o020600);
  assert.equal(entries[1]!.rdev, [5, 1]);
  assert.is(entries[2]!.mode, 0o020666);
  assert.equal(entries[2]!.rdev, [1, 3]);
});

withTools(test, ['cpio'])('cpio: GNU cpio lists what we wrote', async () => {
  const { execa } = await import('execa');
  const buf = await writeCpio(
    withParents([
      { type: 'file', path: 'etc/x', data: 'hello' },
      { type: 'symlink', path: 'etc/y', target: 'x' },
    ]),
  );
  const r = await execa('cpio', ['-t', '--quiet'], { input: buf });
  assert.equal(r.stdout.split('\n'), ['etc', 'etc/x', 'etc/y']);
});

test('cache: an entry is published complete or not at all; a failed build leaves nothing', async () => {
  const dir = await fs.mkdtemp(join(tmpdir(), 'podsec-cache-'));
  try {
    const err = await cachedEntry(dir, 'x', async (tmp) => {
      await fs.mkdir(tmp);
      await fs.writeFile(join(tmp, 'half'), '');
      throw new Error('boom');
    }).catch((e: Error) => e);
    assert.is((err as Error).message, 'boom');
    assert.equal(await fs.readdir(dir), []);
    // A leftover temp of a killed build is removed by the next builder.
    await fs.mkdir(join(dir, 'x.tmp-999999'));
    let builds = 0;
    const first = await cachedEntry(dir, 'x', async (tmp) => {
      builds++;
      await fs.mkdir(tmp);
      await fs.writeFile(join(tmp, 'file'), 'ok');
    });
    assert.equal([first.cached, builds], [false, 1]);
    const second = await cachedEntry(dir, 'x', async () => {
      builds++;
    });
    assert.equal([second.cached, second.path, builds], [true, first.path, 1]);
    assert.equal((await fs.readdir(dir)).sort(), ['x']);
    assert.is(await fs.readFile(join(dir, 'x/file'), 'utf8'), 'ok');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('cache: concurrent builders of one entry build it once', async () => {
  const dir = await fs.mkdtemp(join(tmpdir(), 'podsec-cache-'));
  try {
    let builds = 0;
    const build = async (tmp: string) => {
      builds++;
      await new Promise((r) => setTimeout(r, 200));
      await fs.writeFile(tmp, 'x');
    };
    const results = await Promise.all([cachedEntry(dir, 'y', build), cachedEntry(dir, 'y', build), cachedEntry(dir, 'y', build)]);
    assert.is(builds, 1);
    assert.is(results.filter((r) => !r.cached).length, 1);
    assert.not.ok(existsSync(join(dir, 'y.lock')));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('contentHash is independent of key order', () => {
  assert.is(contentHash({ a: 1, b: [2, { c: 3, d: 4 }] }), contentHash({ b: [2, { d: 4, c: 3 }], a: 1 }));
  assert.is.not(contentHash({ a: 1 }), contentHash({ a: 2 }));
});

test("package plan: derived from the model's requires, ALT names mapped, our own packages skipped", () => {
  const plan = planPackages(model);
  assert.ok(plan.debian.includes('systemd') && plan.debian.includes('nodejs') && plan.debian.includes('rpm'));
  assert.not.ok(plan.debian.some((n) => n.startsWith('podsec')));
  for (const pkg of model.packages) {
    for (const dep of pkg.requires) {
      if (model.packages.some((p) => p.name === dep.name)) continue;
      const mapped = dep.name in ALT_TO_DEBIAN ? ALT_TO_DEBIAN[dep.name] : dep.name;
      if (mapped) assert.ok(plan.debian.includes(mapped), `${pkg.name} requires ${dep.name}: ${mapped} not planned`);
      else assert.ok(plan.missing.includes(`${pkg.name}: ${dep.name}`), `${dep.name} neither planned nor reported`);
    }
  }
  assert.equal(plan.debian, [...plan.debian].sort());
  const synthetic = planPackages({
    ...model,
    packages: [{ ...model.packages[0]!, requires: [{ name: 'gnupg2' }, { name: 'nagwad-service' }, { name: '/usr/bin/x' }] }],
  });
  assert.ok(synthetic.debian.includes('gnupg'));
  assert.equal(synthetic.missing, ['podsec: nagwad-service']);
});

test('kernel modules: depends= from the .modinfo strings', () => {
  const ko = Buffer.concat([Buffer.from('\x7fELF....'), Buffer.from('\0license=GPL\0depends=9pnet,netfs,fscache\0retpoline=Y\0name=9p\0')]);
  assert.equal(moduleDepends(ko), ['9pnet', 'netfs', 'fscache']);
  assert.equal(moduleDepends(Buffer.from('\0depends=\0name=x\0')), []);
  assert.equal(moduleDepends(Buffer.from('\0name=x\0')), []);
  assert.equal(moduleDepends(Buffer.from('\0depends=virtio-ring\0')), ['virtio_ring']);
});

test('preset evaluation: first matching rule wins, globs, no rule = enable, no [Install] = static', () => {
  const rules = [
    { action: 'enable' as const, pattern: globToRegExp('u7s.service'), file: '85-x.preset' },
    { action: 'disable' as const, pattern: globToRegExp('u7s*'), file: '90-x.preset' },
    { action: 'enable' as const, pattern: globToRegExp('foo-[ab].service'), file: '90-x.preset' },
    { action: 'disable' as const, pattern: globToRegExp('*'), file: '99-default-disable.preset' },
  ];
  const installable = '[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n';
  assert.is(expectedEnablement('u7s.service', installable, rules).state, 'enabled');
  assert.is(expectedEnablement('u7s-other.service', installable, rules).state, 'disabled');
  assert.is(expectedEnablement('foo-b.service', installable, rules).state, 'enabled');
  assert.is(expectedEnablement('foo-c.service', installable, rules).state, 'disabled');
  assert.is(expectedEnablement('x.service', installable, []).state, 'enabled');
  assert.is(expectedEnablement('x.service', '[Service]\nExecStart=/bin/true\n', rules).state, 'static');
  assert.not.ok(isInstallable('[Service]\nExecStart=/bin/true\n[Install]\n'));
  assert.ok(isInstallable('[Install]\nAlias=y.service\n'));
  assert.not.ok(isInstallable('[Service]\nWantedBy=x.target\n'));
});

test('the bumped release for the upgrade test', () => {
  assert.is(bumpRelease('alt1'), 'alt2');
  assert.is(bumpRelease('alt9'), 'alt10');
});

test('the node image has what the README points at: man (man-db) and the Russian locale (ru_RU.UTF-8 in locales-all)', () => {
  const plan = planPackages(model);
  assert.ok(plan.base.includes('man-db') && plan.base.includes('locales-all'), plan.base.join(' '));
});

test('the boot command printed and in the README works where PID 1 is not systemd (--register=no --keep-unit)', async () => {
  const machine = 'dist/image/container/machines/podsec-node';
  assert.is(nspawnBootCommand(machine, true), `systemd-nspawn -D ${machine} -b --private-network`);
  assert.is(nspawnBootCommand(machine, false), `systemd-nspawn -D ${machine} -b --private-network --register=no --keep-unit`);
  const readme = await fs.readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  assert.ok(readme.includes('--register=no --keep-unit'), 'the README gives the flags');
  assert.ok(readme.includes('U7S_PLATFORM=p11'), 'the README says the stand-in node needs U7S_PLATFORM');
});

test.run();
