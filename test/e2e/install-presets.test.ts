// test-runner: exclusive — boots nspawn machines from the shared image cache and needs the whole machine
/**
 * Which of our units an install enables, and that an upgrade leaves the node running, on a booted
 * node with ALT's preset policy (the bare image: `disable *` catch-all, no podsec yet): the node's
 * own rpm installs release N with its scriptlets, and exactly the listed units are enabled. Then
 * a stand-in u7s.service runs (a drop-in makes it `sleep infinity`: a real node needs a deployed
 * cluster), N+1 is installed over N with rpm -U, and the stand-in's main PID is unchanged.
 */
import * as fs from 'node:fs/promises';
import { basename, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ALT_PRESET_FILE } from '../../scripts/image/rootfs.ts';
import model from '../../scripts/model/index.ts';
import { parseShow } from '../../bin/u7s/lib/node-status.ts';
import { ensureBuild } from '../support/build.ts';
import { BRANCH, ensureBareImage, NODE_TOOLS, runGated, hookError } from '../support/image-env.ts';
import { modelUnits } from '../support/image-facts.ts';
import { buildBumpedRelease } from '../support/image-rpm.ts';
import { bootNode, type Node } from '../support/nspawn.ts';
import { withOverlay } from '../support/rootfs.ts';

/** The README's table, as a list: every other unit of ours stays disabled after install. */
const ENABLED_AFTER_INSTALL = ['podsec-inotify-check-containers.service', 'podsec-inotify-check-kubeapi.service'];
const STAGE = '/var/lib/podsec-preset-test';
const STAND_IN = `[Unit]
ConditionPathExists=
[Service]
Type=simple
RemainAfterExit=no
Restart=no
ExecStart=
ExecStart=/bin/sleep infinity
ExecStop=
`;

let work = '';
let release1: string[] = [];
let release2: { rpms: string[]; release: string };
let bare = '';

test.before(async () => {
  try {
    const built = await ensureBuild(BRANCH);
    if (built.rpmSkipped) throw new Error(built.rpmSkipped);
    release1 = built.rpms;
    bare = await ensureBareImage();
    work = await fs.mkdtemp('/var/tmp/podsec-presets-');
    release2 = await buildBumpedRelease(work);
  } catch (err) {
    hookError(err);
  }
});

test.after(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

const ourUnits = () => modelUnits(model, BRANCH).system.map((p) => basename(p));

async function enabledUnits(node: Node): Promise<{ enabled: string[]; states: Record<string, string> }> {
  const states: Record<string, string> = {};
  for (const unit of ourUnits()) states[unit] = (await node.exec(['systemctl', 'is-enabled', unit])).stdout.trim();
  return { enabled: Object.keys(states).filter((u) => states[u] === 'enabled'), states };
}

async function u7sState(node: Node) {
  const r = await node.exec(['systemctl', 'show', 'u7s.service', '-p', 'MainPID', '-p', 'ActiveState', '-p', 'NRestarts']);
  return parseShow(r.stdout)[0] ?? {};
}

test('install enables exactly the listed units; an upgrade N -> N+1 keeps a running u7s.service (same main PID)', async () => {
  await withOverlay(bare, async (root) => {
    await fs.mkdir(join(root, STAGE, 'n'), { recursive: true });
    await fs.mkdir(join(root, STAGE, 'n1'), { recursive: true });
    for (const f of release1) await fs.copyFile(f, join(root, STAGE, 'n', basename(f)));
    for (const f of release2.rpms) await fs.copyFile(f, join(root, STAGE, 'n1', basename(f)));
    const node = await bootNode(root, { name: `podsec-preset-${process.pid}` });
    try {
      const preset = await node.exec(['cat', `/${ALT_PRESET_FILE}`]);
      assert.match(preset.stdout, /^disable \*$/m, "the node lacks ALT's catch-all preset");
      const install = await node.exec(['rpm', '-i', '--nodeps', ...release1.map((f) => `${STAGE}/n/${basename(f)}`)], { timeoutMs: 300_000 });
      assert.is(install.exitCode, 0, install.stderr);

      const afterInstall = await enabledUnits(node);
      assert.ok(Object.keys(afterInstall.states).length >= 12, JSON.stringify(afterInstall.states));
      assert.equal(afterInstall.enabled, ENABLED_AFTER_INSTALL, JSON.stringify(afterInstall.states));
      assert.is(afterInstall.states['u7s.service'], 'disabled');

      await fs.mkdir(join(root, 'etc/systemd/system/u7s.service.d'), { recursive: true });
      await fs.writeFile(join(root, 'etc/systemd/system/u7s.service.d/stand-in.conf'), STAND_IN);
      assert.is((await node.exec(['systemctl', 'daemon-reload'])).exitCode, 0);
      const start = await node.exec(['systemctl', 'start', 'u7s.service']);
      assert.is(start.exitCode, 0, start.stderr);
      const before = await u7sState(node);
      assert.is(before.ActiveState, 'active', JSON.stringify(before));
      assert.ok(Number(before.MainPID) > 0, JSON.stringify(before));

      const upgrade = await node.exec(['rpm', '-U', '--nodeps', ...release2.rpms.map((f) => `${STAGE}/n1/${basename(f)}`)], { timeoutMs: 300_000 });
      assert.is(upgrade.exitCode, 0, upgrade.stderr);
      const release = await node.exec(['rpm', '-q', '--qf', '%{RELEASE}', 'podsec-k8s']);
      assert.is(release.stdout.trim(), release2.release);
      const after = await u7sState(node);
      assert.equal(after, before, 'the upgrade restarted u7s.service');
      // An upgrade presets nothing again: the admin's choices (here: none) stand.
      assert.equal((await enabledUnits(node)).enabled, ENABLED_AFTER_INSTALL);

      // Not vacuous: a restart of the stand-in shows as a new main PID.
      assert.is((await node.exec(['systemctl', 'try-restart', 'u7s.service'])).exitCode, 0);
      const restarted = await u7sState(node);
      assert.is(restarted.ActiveState, 'active');
      assert.is.not(restarted.MainPID, before.MainPID);
      console.log(
        `  enabled after install: ${afterInstall.enabled.join(', ')} (of ${Object.keys(afterInstall.states).length} units); ` +
          `u7s.service stand-in main PID ${before.MainPID} kept across ${release2.release}`,
      );
    } finally {
      await node.stop();
    }
  });
});

runGated(test, 'install-presets e2e', NODE_TOOLS);
