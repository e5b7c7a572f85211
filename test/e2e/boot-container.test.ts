// test-runner: exclusive — boots nspawn machines or a VM from the shared image cache and needs the whole machine
/**
 * A booted node (systemd-nspawn, private network) with every package installed by rpm with its
 * scriptlets, checked against the model from inside: the %pre accounts, modes and owners of every
 * declared path, `systemctl is-enabled` of every system unit as %post_systemd's preset leaves it
 * under ALT's policy, and `systemd-analyze verify` of every system and user unit with empty stderr.
 * A synthetic package proves the enablement expectation against systemd itself, and a broken unit
 * proves the verify check sees errors.
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ALT_PRESET_FILE, rpmInstallInto } from '../../scripts/image/rootfs.ts';
import { parseShow } from '../../bin/u7s/lib/node-status.ts';
import model from '../../scripts/model/index.ts';
import { BRANCH, ensureNodeImage, macrosFile, NODE_TOOLS, runGated, hookError } from '../support/image-env.ts';
import { checkRequest, COLLECTOR, COLLECTOR_DIR, compareFacts, expectedEnablement, type Facts, modelUnits, presetRules } from '../support/image-facts.ts';
import { bootNode } from '../support/nspawn.ts';
import { buildUnitsRpm } from '../support/image-rpm.ts';
import { withOverlay } from '../support/rootfs.ts';

let image: Awaited<ReturnType<typeof ensureNodeImage>>;
const times: Record<string, number> = {};

test.before(async () => {
  try {
    const t0 = performance.now();
    image = await ensureNodeImage();
    times['node image (ensure)'] = Math.round(performance.now() - t0);
  } catch (err) {
    hookError(err);
  }
});

test('booted node: accounts, modes/owners, is-enabled and systemd-analyze verify equal the model', async () => {
  await withOverlay(image.path, async (root) => {
    const node = await bootNode(root, { name: `podsec-boot-${process.pid}` });
    times['nspawn boot to running (all packages)'] = Math.round(node.bootMs);
    try {
      assert.ok(['running', 'degraded'].includes(node.state), node.state);
      const request = checkRequest(model, BRANCH);
      const facts = await collectFactsIn(node, root, request);
      const problems = compareFacts(facts, model, BRANCH, root);
      assert.equal(problems, [], problems.join('\n'));
      // Not vacuous: everything the model declares was looked at.
      const units = modelUnits(model, BRANCH);
      assert.is(Object.keys(facts.paths).length, request.paths.length);
      assert.is(Object.keys(facts.enabled).length, units.system.length);
      assert.is(Object.keys(facts.verify).length, units.system.length + units.user.length);
      const accounts = model.packages.flatMap((p) => [...p.groups, ...p.users.map((u) => u.name)]);
      for (const name of accounts) assert.ok(facts.groups[name] ?? facts.users[name], `${name} missing`);
      // Our packages leave no failed unit behind.
      const ours = new Set(units.system.map((p) => p.slice(p.lastIndexOf('/') + 1)));
      assert.equal(
        facts.failedUnits.filter((u) => ours.has(u)),
        [],
      );
      console.log(
        `  checked ${request.paths.length} paths, ${accounts.length} accounts, ${units.system.length} system units ` +
          `(${units.system.map((p) => `${p.slice(p.lastIndexOf('/') + 1)}=${facts.enabled[p.slice(p.lastIndexOf('/') + 1)]}`).join(', ') || 'none'}), ` +
          `${units.user.length} user units`,
      );
    } finally {
      await node.stop();
    }
  });
});

/**
 * The services that run our own programs (Node), each started under its own sandbox: a daemon
 * must still be active with no restart a few seconds later, a timer's job must end by itself, not
 * by a signal (a seccomp filter that misses a call Node makes kills it with SIGSYS at start).
 * u7s.service needs a deployed node: test/e2e/u7s-node.test.ts starts it.
 */
test('every service running a podsec program starts under its sandbox: daemons stay up, jobs end without a signal', async () => {
  const services = modelUnits(model, BRANCH)
    .system.map((p) => p.slice(p.lastIndexOf('/') + 1))
    .filter((u) => u.startsWith('podsec-inotify-') && u.endsWith('.service'));
  assert.ok(services.length >= 6, services.join(' '));
  await withOverlay(image.path, async (root) => {
    const node = await bootNode(root, { name: `podsec-svc-${process.pid}` });
    try {
      const show = async (unit: string) => {
        const r = await node.exec([
          'systemctl',
          'show',
          unit,
          '-p',
          'Type',
          '-p',
          'ActiveState',
          '-p',
          'SubState',
          '-p',
          'Result',
          '-p',
          'ExecMainCode',
          '-p',
          'ExecMainStatus',
          '-p',
          'NRestarts',
        ]);
        return parseShow(r.stdout)[0] ?? {};
      };
      for (const unit of services) assert.is((await node.exec(['systemctl', 'start', '--no-block', unit])).exitCode, 0, unit);
      // Bounded: 30 s for the jobs to finish and the daemons to have run a while.
      let states: Record<string, Record<string, string>> = {};
      for (let i = 0; i < 60; i++) {
        await new Promise((r) => setTimeout(r, 500));
        states = Object.fromEntries(await Promise.all(services.map(async (u) => [u, await show(u)] as const)));
        if (i >= 6 && Object.values(states).every((s) => s.ActiveState !== 'activating')) break;
      }
      const problems = Object.entries(states).flatMap(([unit, s]) => {
        // ExecMainCode 2 is CLD_KILLED: the process died of a signal.
        if (s.ExecMainCode === '2' || s.Result === 'signal' || s.Result === 'core-dump') return [`${unit}: killed by signal ${s.ExecMainStatus} (${s.Result})`];
        if (s.Type !== 'oneshot' && (s.ActiveState !== 'active' || s.NRestarts !== '0'))
          return [`${unit}: ${s.ActiveState}/${s.SubState}, ${s.NRestarts} restarts, result ${s.Result}`];
        if (s.Type === 'oneshot' && s.ActiveState === 'activating') return [`${unit}: still running after 30 s`];
        return [];
      });
      if (problems.length) {
        const journal = await node.exec(['journalctl', '--no-pager', '-n', '40', ...services.flatMap((u) => ['-u', u])]);
        assert.unreachable(`${problems.join('\n')}\n--- journal ---\n${journal.stdout}`);
      }
      console.log(`  started ${services.map((u) => `${u}=${states[u]!.Type}:${states[u]!.ActiveState}/${states[u]!.Result}`).join(', ')}`);
    } finally {
      await node.stop();
    }
  });
});

test("the image carries ALT's preset policy, and the tools' services are left as ALT would (disabled)", async () => {
  const text = await fs.readFile(join(image.path, ALT_PRESET_FILE), 'utf8');
  assert.match(text, /^disable \*$/m);
  const rules = presetRules(image.path);
  assert.is(expectedEnablement('nginx.service', '[Install]\nWantedBy=multi-user.target\n', rules).state, 'disabled');
  for (const unit of ['nginx.service', 'docker-registry.service']) {
    const wants = join(image.path, 'etc/systemd/system/multi-user.target.wants', unit);
    assert.not.ok(await fs.lstat(wants).catch(() => undefined), `${unit} is enabled in the image`);
  }
});

test('the enablement expectation agrees with systemd: static, preset enable, catch-all disable, verify sees errors', async () => {
  const work = await fs.mkdtemp('/var/tmp/podsec-units-rpm-');
  try {
    const units = {
      'podsec-selftest-static.service': '[Unit]\nDescription=static\n[Service]\nType=oneshot\nExecStart=/bin/true\n',
      'podsec-selftest-on.service': '[Unit]\nDescription=preset on\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n',
      'podsec-selftest-off.service': '[Unit]\nDescription=catch-all off\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n',
      'podsec-selftest-broken.service': '[Unit]\nDescription=broken\n[Service]\nType=bogus\nBogusKey=1\nExecStart=/bin/true\n',
    };
    const presets = { '80-podsec-selftest.preset': 'enable podsec-selftest-on.service\n' };
    const rpm = await buildUnitsRpm(work, macrosFile(image.spec), 'podsec-selftest', units, presets);
    await withOverlay(image.path, async (root) => {
      await rpmInstallInto(root, [rpm]);
      const node = await bootNode(root, { name: `podsec-self-${process.pid}` });
      try {
        const paths = Object.keys(units).map((u) => `/lib/systemd/system/${u}`);
        const facts = await collectFactsIn(node, root, { paths, systemUnits: paths, userUnits: [], verify: true });
        const rules = presetRules(root);
        const expected: Record<string, string> = {};
        for (const [name, text] of Object.entries(units)) expected[name] = expectedEnablement(name, text, rules).state;
        assert.equal(expected, {
          'podsec-selftest-static.service': 'static',
          'podsec-selftest-on.service': 'enabled',
          'podsec-selftest-off.service': 'disabled',
          'podsec-selftest-broken.service': 'static',
        });
        assert.equal(facts.enabled, expected);
        // The enabled one was started at boot; the catch-all one was not.
        assert.is((await node.exec(['systemctl', 'is-active', 'podsec-selftest-on.service'])).stdout.trim(), 'active');
        assert.is((await node.exec(['systemctl', 'is-active', 'podsec-selftest-off.service'])).stdout.trim(), 'inactive');
        for (const p of paths.filter((p) => !p.includes('broken'))) assert.is(facts.verify[p]!.stderr.trim(), '', p);
        assert.match(facts.verify['/lib/systemd/system/podsec-selftest-broken.service']!.stderr, /BogusKey|bogus/);
      } finally {
        await node.stop();
      }
    });
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
});

test('compareFacts reports a wrong mode, a missing account, a wrong owner and a wrong enablement', async () => {
  await withOverlay(image.path, async (root) => {
    const node = await bootNode(root, { name: `podsec-neg-${process.pid}` });
    let facts: Facts;
    try {
      facts = await collectFactsIn(node, root, checkRequest(model, BRANCH, false));
    } finally {
      await node.stop();
    }
    const rows = model.packages.flatMap((p) => p.entries).filter((e) => e.kind !== 'symlink');
    const victim = Object.keys(facts.paths).find((p) => rows.length && !('missing' in facts.paths[p]!))!;
    const broken: Facts = structuredClone(facts);
    const entry = broken.paths[victim] as { mode: string; owner: string };
    entry.mode = (parseInt(entry.mode, 8) ^ 0o002).toString(8);
    entry.owner = 'nobody';
    const user = model.packages.flatMap((p) => p.users)[0];
    if (user) delete broken.users[user.name];
    const unit = Object.keys(broken.enabled)[0];
    if (unit) broken.enabled[unit] = broken.enabled[unit] === 'enabled' ? 'disabled' : 'enabled';
    const problems = compareFacts(broken, model, BRANCH, root).join('\n');
    assert.match(problems, `${victim}: mode`);
    assert.match(problems, `${victim}: owner nobody`);
    if (user) assert.match(problems, `user ${user.name} missing`);
    if (unit) assert.match(problems, `${unit}: is-enabled`);
  });
});

test('timings', () => {
  console.log('  timings (ms):', times);
});

async function collectFactsIn(node: Awaited<ReturnType<typeof bootNode>>, root: string, request: unknown): Promise<Facts> {
  const { collectFacts } = await import('../support/image-nspawn.ts');
  return collectFacts<Facts>(node, root, COLLECTOR, request, COLLECTOR_DIR);
}

runGated(test, 'boot-container e2e', NODE_TOOLS);
