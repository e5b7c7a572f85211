// test-runner: exclusive — boots nspawn machines or a VM from the shared image cache and needs the whole machine
/**
 * The Debian stand-in rootfs support: cache, overlay, rpm --root, nspawn.
 * Needs root and mmdebstrap, systemd-nspawn, rpm, rpmbuild, nsenter.
 * Run: npx tsx test/e2e/rootfs.test.ts
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isAlive, mountsUnder } from '../../scripts/image/cache.ts';
import { bootNode } from '../support/nspawn.ts';
import { ensureRootfs, rpmInstall, runInRoot, withOverlay } from '../support/rootfs.ts';
import { runGated } from '../support/tools.ts';

const TOOLS = ['mmdebstrap', 'systemd-nspawn', 'rpm', 'rpmbuild', 'nsenter', 'mount', 'umount', 'mknod'];

const ms = (start: number) => Math.round(performance.now() - start);
const times: Record<string, number> = {};
let lower = '';
let lowerPrint = '';

/** Hash of every entry's path, type, owner, mode, size, mtime and ctime. */
async function fingerprint(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const st = await fs.lstat(join(dir, rel));
    hash.update(`${rel}\0${st.mode}\0${st.uid}\0${st.gid}\0${st.size}\0${st.mtimeMs}\0${st.ctimeMs}\n`);
    if (st.isDirectory()) for (const n of (await fs.readdir(join(dir, rel))).sort()) await walk(`${rel}/${n}`);
  };
  await walk('.');
  return hash.digest('hex');
}

test('ensureRootfs builds a rootfs with node in it', async () => {
  const t0 = performance.now();
  lower = await ensureRootfs();
  times['ensureRootfs (first call in this process)'] = ms(t0);
  assert.ok(existsSync(join(lower, 'usr/bin/node')), `${lower}/usr/bin/node missing`);
  assert.ok(existsSync(join(lower, 'bin/sh')));
  lowerPrint = await fingerprint(lower);
});

test('second call returns the cached dir without rebuilding', async () => {
  const before = await fs.stat(lower);
  const t0 = performance.now();
  const again = await ensureRootfs();
  times['ensureRootfs (cached)'] = ms(t0);
  const after = await fs.stat(again);
  assert.is(again, lower);
  assert.is(after.ino, before.ino);
  assert.is(after.mtimeMs, before.mtimeMs);
  // Not rebuilt: same inode and mtime (its time is printed below; speed is for `npm run bench`).
});

test('runInRoot runs node v18 from the rootfs', async () => {
  await withOverlay(lower, async (root) => {
    const t0 = performance.now();
    const r = await runInRoot(root, ['/usr/bin/node', '--version']);
    times['runInRoot node --version'] = ms(t0);
    assert.is(r.exitCode, 0, r.stderr);
    assert.match(r.stdout.trim(), /^v18\./);
    const env = await runInRoot(root, ['/usr/bin/printenv', 'PODSEC_X'], { env: { PODSEC_X: 'a b;c' } });
    assert.is(env.stdout.trim(), 'a b;c');
  });
});

test('withOverlay keeps writes out of the lower dir and unmounts', async () => {
  let mountpoint = '';
  await withOverlay(lower, async (root) => {
    mountpoint = root;
    assert.equal(await mountsUnder(root), [root]);
    await fs.writeFile(join(root, 'etc/podsec-overlay-test'), 'x');
    await fs.rm(join(root, 'etc/hostname'));
    assert.ok(existsSync(join(root, 'etc/podsec-overlay-test')));
    assert.not.ok(existsSync(join(lower, 'etc/podsec-overlay-test')));
    assert.ok(existsSync(join(lower, 'etc/hostname')));
  });
  const mountinfo = await fs.readFile('/proc/self/mountinfo', 'utf8');
  assert.not.ok(mountinfo.includes(` ${mountpoint} `), 'overlay still mounted');
  assert.not.ok(existsSync(mountpoint), 'temp dir not removed');

  // Cleanup also happens when fn throws.
  let second = '';
  const err = await withOverlay(lower, async (root) => {
    second = root;
    throw new Error('boom');
  }).catch((e: Error) => e);
  assert.is((err as Error).message, 'boom');
  assert.equal(await mountsUnder(second), []);
  assert.not.ok(existsSync(second));
});

test('rpmInstall runs %pre groupadd inside the root, not on the host', async () => {
  const work = await fs.mkdtemp('/var/tmp/podsec-rpmbuild-');
  try {
    const spec = join(work, 'podsectest.spec');
    await fs.writeFile(
      spec,
      [
        'Name: podsectest',
        'Version: 1',
        'Release: alt1',
        'Summary: rootfs support test',
        'License: GPL-2.0-or-later',
        'BuildArch: noarch',
        '',
        '%description',
        'Test package.',
        '',
        '%pre',
        'groupadd -r -f podsectestgrp',
        '',
        '%install',
        'mkdir -p %{buildroot}/etc',
        'echo hello > %{buildroot}/etc/podsectest.conf',
        '',
        '%files',
        '%attr(0640,root,podsectestgrp) /etc/podsectest.conf',
        '',
      ].join('\n'),
    );
    await execa('rpmbuild', ['-bb', '--define', `_topdir ${work}`, '--define', `_dbpath ${work}/db`, spec]);
    const rpm = join(work, 'RPMS/noarch/podsectest-1-alt1.noarch.rpm');
    assert.ok(existsSync(rpm), 'rpmbuild produced no rpm');

    await withOverlay(lower, async (root) => {
      const t0 = performance.now();
      await rpmInstall(root, [rpm]);
      times['rpmInstall'] = ms(t0);
      const group = /^podsectestgrp:x:(\d+):/m.exec(await fs.readFile(join(root, 'etc/group'), 'utf8'));
      assert.ok(group, 'group missing from the root');
      const st = await fs.stat(join(root, 'etc/podsectest.conf'));
      assert.is(st.gid, Number(group[1]));
      assert.is(st.mode & 0o777, 0o640);
      const q = await execa('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', '-q', 'podsectest']);
      assert.is(q.stdout.trim(), 'podsectest-1-alt1.noarch');
    });
    assert.not.match(await fs.readFile('/etc/group', 'utf8'), /^podsectestgrp:/m);
    assert.not.match(await fs.readFile(join(lower, 'etc/group'), 'utf8'), /^podsectestgrp:/m);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
});

test('bootNode boots the overlay, exec works, stop leaves nothing', async () => {
  await withOverlay(lower, async (root) => {
    const t0 = performance.now();
    const ct = await bootNode(root, { name: `podsec-${process.pid}`, network: { kind: 'host' } });
    times['bootNode to running'] = ms(t0);
    try {
      assert.ok(['running', 'degraded'].includes(ct.state), ct.state);
      const r = await ct.exec(['systemctl', 'is-system-running']);
      assert.ok(['running', 'degraded'].includes(r.stdout.trim()), `${r.stdout} ${r.stderr}`);
      const pid1 = await ct.exec(['cat', '/proc/1/comm']);
      assert.is(pid1.stdout.trim(), 'systemd');
    } finally {
      const t1 = performance.now();
      await ct.stop();
      times['stop'] = ms(t1);
    }
    assert.not.ok(isAlive(ct.pid), `nspawn ${ct.pid} still alive`);
    assert.not.ok(isAlive(ct.leader), `container PID 1 ${ct.leader} still alive`);
    for (const h of ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified', '/sys/fs/cgroup']) {
      const left = (await fs.readdir(h).catch(() => [])).filter((n) => n.startsWith(`podsec-nspawn-${process.pid}-`));
      assert.equal(left, [], `cgroups left in ${h}`);
    }
  });
});

test('the cached rootfs was never modified', async () => {
  assert.is(await fingerprint(lower), lowerPrint);
  console.log('timings (ms):', times);
});

// The tests share one rootfs, so the whole file is gated rather than each test.
runGated(test, 'rootfs e2e', TOOLS);
