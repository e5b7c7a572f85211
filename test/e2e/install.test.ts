// test-runner: exclusive — boots nspawn machines or a VM from the shared image cache and needs the whole machine
/**
 * Installing the built RPMs into a Debian stand-in rootfs with `rpm -i --root`: the %pre scriptlets
 * run inside it, and what lands on disk must equal the model. Then the bundled program runs on the
 * rootfs's own Node (18).
 */
import { lstat, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import type { BuildResult } from '../../scripts/build.ts';
import { resolvePath } from '../../scripts/model/branches.ts';
import model from '../../scripts/model/index.ts';
import { ensureBuild } from '../support/build.ts';
import { expectedRows } from '../support/model-expectations.ts';
import { ensureRootfs, rpmInstall, runInRoot, withOverlay } from '../support/rootfs.ts';
import { withTools } from '../support/tools.ts';

const test = withTools(base, ['rpm', 'rpmbuild', 'mmdebstrap', 'systemd-nspawn', 'mount']);

let built: BuildResult;
let lower: string;

base.before(async () => {
  built = await ensureBuild('p11');
  lower = await ensureRootfs();
});

/** name -> numeric id from the rootfs's own account database. */
async function ids(root: string, file: 'passwd' | 'group'): Promise<Map<string, number>> {
  const text = await readFile(join(root, 'etc', file), 'utf8');
  return new Map(
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.split(':')[0]!, Number(line.split(':')[2])]),
  );
}

test('rpm -i --root: %pre creates groups and users, and every path on disk equals the model', async () => {
  await withOverlay(lower, async (root) => {
    await rpmInstall(root, built.rpms);
    const users = await ids(root, 'passwd');
    const groups = await ids(root, 'group');
    for (const group of ['podman', 'podman_dev', 'u7s-admin']) assert.ok(groups.has(group), `group ${group} missing`);
    assert.ok(users.has('u7s-admin'), 'user u7s-admin missing');
    const passwd = (await readFile(join(root, 'etc/passwd'), 'utf8')).split('\n').find((l) => l.startsWith('u7s-admin:'))!;
    assert.is(passwd.split(':')[5], '/var/lib/u7s-admin');
    const groupFile = await readFile(join(root, 'etc/group'), 'utf8');
    assert.match(groupFile, /^podman:x:\d+:(.*,)?u7s-admin(,|$)/m);
    assert.match(groupFile, /^systemd-journal:x:\d+:(.*,)?u7s-admin(,|$)/m);

    for (const pkg of model.packages) {
      for (const row of expectedRows(pkg, 'p11')) {
        const st = await lstat(join(root, row.path));
        assert.is(st.mode.toString(8), row.mode, `${row.path} mode`);
        assert.is(st.uid, users.get(row.owner), `${row.path} owner ${row.owner}`);
        assert.is(st.gid, groups.get(row.group), `${row.path} group ${row.group}`);
      }
      for (const entry of pkg.entries.filter((e) => e.kind === 'symlink')) {
        assert.is(await readlink(join(root, resolvePath(entry.path, 'p11'))), entry.target);
      }
    }
  });
});

test('reinstalling over an existing installation keeps the accounts (scriptlets are idempotent)', async () => {
  await withOverlay(lower, async (root) => {
    await rpmInstall(root, built.rpms);
    const before = await readFile(join(root, 'etc/passwd'), 'utf8');
    await rpmInstall(root, built.rpms, ['--replacepkgs']);
    assert.is(await readFile(join(root, 'etc/passwd'), 'utf8'), before);
  });
});

const STORE = '/var/lib/u7s-admin/.local/share/containers';
const TARGET = '/var/lib/u7s-admin/.local/share/usernetes/containers';

/** A host where u7s-admin ran podman before podsec-k8s: ~/.local/share/containers is a directory with an image store. */
async function podmanStoreBeforeThePackage(root: string, alsoTarget: boolean): Promise<void> {
  const setup = [
    'useradd -r -M -d /var/lib/u7s-admin u7s-admin',
    `mkdir -p ${STORE}/storage${alsoTarget ? ` ${TARGET}` : ''}`,
    `echo images > ${STORE}/storage/marker`,
    'chown -R u7s-admin:u7s-admin /var/lib/u7s-admin',
  ].join(' && ');
  const result = await runInRoot(root, ['/bin/sh', '-c', setup]);
  assert.is(result.exitCode, 0, result.stderr);
}

test('installing over a directory where podsec-k8s has a symlink: %pre moves the store into the link target', async () => {
  await withOverlay(lower, async (root) => {
    await podmanStoreBeforeThePackage(root, false);
    await rpmInstall(root, built.rpms);
    assert.is(await readlink(join(root, STORE)), 'usernetes/containers');
    assert.is(await readFile(join(root, TARGET, 'storage/marker'), 'utf8'), 'images\n');
    const verify = await runInRoot(root, ['rpm', '-V', '--nodeps', 'podsec-k8s']);
    assert.not.match(verify.stdout, /containers$/m, verify.stdout);
  });
});

test('installing over the directory when the link target exists too: the directory is kept aside as .rpmsave', async () => {
  await withOverlay(lower, async (root) => {
    await podmanStoreBeforeThePackage(root, true);
    await rpmInstall(root, built.rpms);
    assert.is(await readlink(join(root, STORE)), 'usernetes/containers');
    assert.is(await readFile(join(root, `${STORE}.rpmsave`, 'storage/marker'), 'utf8'), 'images\n');
  });
});

test("podsec-get-platform runs on the rootfs's Node 18 and reads --root DIR/etc/os-release", async () => {
  await withOverlay(lower, async (root) => {
    await rpmInstall(root, built.rpms);
    const node = await runInRoot(root, ['/usr/bin/node', '--version']);
    assert.match(node.stdout, /^v18\./);

    const version = await runInRoot(root, ['/usr/bin/podsec-get-platform', '--version']);
    assert.is(version.exitCode, 0, version.stderr);
    assert.match(version.stdout, /^podsec-get-platform \(podsec\) \d+\.\d+\.\d+-alt\d+/);

    await mkdir(join(root, 'srv/alt/etc'), { recursive: true });
    await writeFile(join(root, 'srv/alt/etc/os-release'), 'NAME="ALT SP Server"\nCPE_NAME="cpe:/o:alt:spserver:10"\n');
    const alt = await runInRoot(root, ['/usr/bin/podsec-get-platform', '--root', '/srv/alt']);
    assert.equal([alt.exitCode, alt.stdout.trim()], [0, 'c10f'], alt.stderr);

    // The rootfs itself is Debian: no ALT platform, one clear line, exit 1.
    const debian = await runInRoot(root, ['/usr/bin/podsec-get-platform']);
    assert.is(debian.exitCode, 1);
    assert.match(debian.stderr.trim(), /^podsec-get-platform: cannot determine the platform: /);

    const help = await runInRoot(root, ['/usr/bin/podsec-get-platform', '--help']);
    assert.is(help.exitCode, 0);
    assert.match(help.stdout, /--root DIR/);
  });
});

test.run();
