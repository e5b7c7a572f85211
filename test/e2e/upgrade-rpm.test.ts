// test-runner: exclusive — boots nspawn machines or a VM from the shared image cache and needs the whole machine
/**
 * Upgrade, erase and re-install inside a booted node, with the node's own rpm:
 * install release N (the checkout's build), edit every %config and %config(noreplace) file,
 * upgrade to N+1 (the same sources with the release bumped, built from a temp copy of the
 * repository), check the edits survived and the node still equals the model; erase, check every
 * edited file was kept as .rpmsave; re-install N+1 and check it is clean (`rpm -V` silent, no
 * warnings, the node equals the model again).
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rpmInstallInto } from '../../scripts/image/rootfs.ts';
import { resolvePath } from '../../scripts/model/branches.ts';
import model from '../../scripts/model/index.ts';
import { BRANCH, ensureBareImage, ensureNodeImage, NODE_TOOLS, runGated, hookError } from '../support/image-env.ts';
import { checkRequest, COLLECTOR, COLLECTOR_DIR, compareFacts, type Facts } from '../support/image-facts.ts';
import { collectFacts } from '../support/image-nspawn.ts';
import { bootNode, type Node } from '../support/nspawn.ts';
import { buildBumpedRelease } from '../support/image-rpm.ts';
import { withOverlay } from '../support/rootfs.ts';

/** The Debian rpm's notice on every install; everything else on stderr is a finding. */
const RPM_NOISE = /^(rpm: )?(RPM should not be used directly install RPM packages, use Alien instead!|However assuming you know what you are doing\.\.\.)$/;
const noisy = (stderr: string) => stderr.split('\n').filter((l) => l.trim() && !RPM_NOISE.test(l.trim()));
const STAGE = '/var/lib/podsec-upgrade-test';

let work = '';
let release1: string[] = [];
let release2: { rpms: string[]; release: string; version: string };
let bare = '';

test.before(async () => {
  try {
    work = await fs.mkdtemp('/var/tmp/podsec-upgrade-');
    const image = await ensureNodeImage(); // also builds release N
    release1 = image.rpms;
    bare = await ensureBareImage();
    release2 = await buildBumpedRelease(work);
  } catch (err) {
    hookError(err);
  }
});

test.after(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

const configEntries = () =>
  model.packages.flatMap((p) => p.entries.filter((e) => e.kind === 'config' || e.kind === 'config-noreplace').map((e) => ({ ...e, pkg: p.name })));

async function rpm(node: Node, args: string[]) {
  return node.exec(['rpm', ...args], { timeoutMs: 300_000 });
}

test('N -> N+1 keeps edited %config(noreplace) files; erase leaves .rpmsave; a re-install is clean', async () => {
  const names = model.packages.map((p) => p.name);
  const edits = configEntries();
  assert.ok(
    edits.some((e) => e.kind === 'config-noreplace'),
    'the model declares no %config(noreplace) file to test with',
  );
  await withOverlay(bare, async (root) => {
    await rpmInstallInto(root, release1);
    await fs.mkdir(join(root, STAGE), { recursive: true });
    for (const f of release2.rpms) await fs.copyFile(f, join(root, STAGE, f.slice(f.lastIndexOf('/') + 1)));
    const node = await bootNode(root, { name: `podsec-upg-${process.pid}` });
    try {
      const before = await rpm(node, ['-q', '--qf', '%{NAME}-%{VERSION}-%{RELEASE}\\n', ...names]);
      assert.is(before.exitCode, 0, before.stderr);
      assert.ok(
        before.stdout
          .split('\n')
          .filter(Boolean)
          .every((l) => !l.endsWith(release2.release)),
        before.stdout,
      );

      // The admin's edits, one marker per file.
      const marker = (path: string) => `# local edit ${process.pid} ${path}\n`;
      for (const e of edits) await fs.appendFile(join(root, resolvePath(e.path, BRANCH)), marker(e.path));

      const up = await rpm(node, ['-U', '--nodeps', ...release2.rpms.map((f) => `${STAGE}/${f.slice(f.lastIndexOf('/') + 1)}`)]);
      assert.is(up.exitCode, 0, up.stderr);
      assert.equal(
        noisy(up.stderr).filter((l) => !/warning: .* created as .*\.rpmnew/.test(l)),
        [],
        up.stderr,
      );
      const after = await rpm(node, ['-q', '--qf', '%{RELEASE}\\n', ...names]);
      assert.equal([...new Set(after.stdout.split('\n').filter(Boolean))], [release2.release]);
      for (const e of edits.filter((x) => x.kind === 'config-noreplace')) {
        const text = await fs.readFile(join(root, resolvePath(e.path, BRANCH)), 'utf8');
        assert.ok(text.includes(marker(e.path)), `${e.path}: the local edit was lost on upgrade`);
      }
      const upgraded = await collectFacts<Facts>(node, root, COLLECTOR, checkRequest(model, BRANCH, false), COLLECTOR_DIR);
      const upgradedProblems = compareFacts(upgraded, model, BRANCH, root);
      assert.equal(upgradedProblems, [], upgradedProblems.join('\n'));

      const erase = await rpm(node, ['-e', '--nodeps', ...names]);
      assert.is(erase.exitCode, 0, erase.stderr);
      for (const e of edits) {
        const path = resolvePath(e.path, BRANCH);
        const saved = await fs.readFile(join(root, `${path}.rpmsave`), 'utf8').catch(() => undefined);
        assert.ok(saved?.includes(marker(e.path)), `${path}.rpmsave missing after erase (${e.kind})`);
        assert.not.ok(await fs.lstat(join(root, path)).catch(() => undefined), `${path} left after erase`);
      }
      const left = await rpm(node, ['-q', ...names]);
      assert.is(left.stdout.split('\n').filter((l) => l.includes('is not installed')).length, names.length, left.stdout);

      const again = await rpm(node, ['-i', '--nodeps', ...release2.rpms.map((f) => `${STAGE}/${f.slice(f.lastIndexOf('/') + 1)}`)]);
      assert.is(again.exitCode, 0, again.stderr);
      assert.equal(noisy(again.stderr), [], again.stderr);
      const verify = await rpm(node, ['-V', '--nodeps', ...names]); // deps: the Debian stand-in provides no ALT names
      assert.is(verify.exitCode, 0, `rpm -V: ${verify.stdout}${verify.stderr}`);
      assert.is(verify.stdout.trim(), '');
      const reinstalled = await collectFacts<Facts>(node, root, COLLECTOR, checkRequest(model, BRANCH, false), COLLECTOR_DIR);
      const problems = compareFacts(reinstalled, model, BRANCH, root);
      assert.equal(problems, [], problems.join('\n'));
      console.log(
        `  ${edits.length} config files edited (${edits.filter((e) => e.kind === 'config-noreplace').length} noreplace)` +
          `; ${release1.length} -> ${release2.rpms.length} packages, release ${release2.release}`,
      );
    } finally {
      await node.stop();
    }
  });
});

runGated(test, 'upgrade e2e', NODE_TOOLS);
