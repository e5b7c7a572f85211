/**
 * bin/podsec-u7s-kubeadm.ts imports the modules a command runs with only when that command runs,
 * each command just those it uses: --help and --version load none of them, `init --help` only the
 * flag table. Observed with a module loader hook that records every module the program loads.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../../scripts/paths.ts';

const work = mkdtempSync(join(tmpdir(), 'podsec-kubeadm-imports-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

/** The repository's bin/ modules the wrapper loaded for `args`, relative to bin/. */
function loaded(args: string[]): string[] {
  const record = join(work, `${args.join('_') || 'none'}.txt`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', './test/support/record-modules.mjs', 'bin/podsec-u7s-kubeadm.ts', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, PODSEC_RECORD_MODULES: record, LANG: 'C' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  const prefix = new URL('bin/', `file://${REPO_ROOT}/`).href;
  return readFileSync(record, 'utf8')
    .split('\n')
    .filter((url) => url.startsWith(prefix))
    .map((url) => url.slice(prefix.length));
}

/** The modules the commands run with (child processes, YAML, HTTP, TLS, the deployment). */
const COMMAND_MODULES = [
  'u7s/lib/accounts.ts',
  'u7s/lib/certs.ts',
  'u7s/lib/deploy-plan.ts',
  'u7s/lib/deploy-run.ts',
  'u7s/lib/host-network.ts',
  'u7s/lib/kubeadm-flags.ts',
  'u7s/lib/node-env.ts',
  'u7s/lib/node-ops.ts',
  'u7s/lib/node-service.ts',
  'u7s/lib/packages.ts',
  'u7s/lib/registry.ts',
  'lib/proc.ts',
];

test('--help and --version load none of the modules the commands run with', () => {
  for (const args of [['--help'], ['--version']]) {
    const modules = loaded(args);
    assert.ok(modules.includes('podsec-u7s-kubeadm.ts'), 'the hook sees the program');
    assert.equal(
      modules.filter((m) => COMMAND_MODULES.includes(m)),
      [],
      args[0],
    );
  }
});

test('init --help loads the flag table, not the deployment', () => {
  const modules = loaded(['init', '--help']);
  assert.ok(modules.includes('u7s/lib/kubeadm-flags.ts'));
  for (const other of ['u7s/lib/deploy-run.ts', 'u7s/lib/deploy-plan.ts', 'u7s/lib/certs.ts', 'u7s/lib/node-ops.ts'])
    assert.not.ok(modules.includes(other), `${other} is not loaded`);
});

test.run();
