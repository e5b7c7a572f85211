import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runTs } from '../support/exec.ts';

const FIXTURE = 'test/fixtures/models/broken.ts';
const validate = (brokenCase: string) => runTs('scripts/cli.ts', ['validate', '--model', FIXTURE], { env: { PODSEC_BROKEN_CASE: brokenCase } });

test('the sound fixture model validates', async () => {
  const result = await validate('');
  assert.is(result.stderr, '');
  assert.is(result.exitCode, 0);
});

const cases: [string, string, RegExp][] = [
  ['declared-twice', '/etc/demo', /declared twice in demo/],
  ['two-packages', '/usr/bin/demo', /declared in two packages: demo, demo-extra/],
  ['unknown-owner', '/var/lib/other', /owner ghost is created by no scriptlet/],
  ['unknown-group', '/var/lib/other', /group ghosts is created by no scriptlet/],
  ['invalid-mode', '/usr/bin/demo-suid', /invalid mode 4755/],
  ['unit-program', '/lib/systemd/system/demo.service', /starts \/usr\/bin\/not-installed, which no package installs/],
  ['dangling-symlink', '/usr/bin/demo-link', /symlink target \/usr\/bin\/missing is installed by no package/],
  ['orphan-parent', '/etc/nobody-owns/x.conf', /parent directory \/etc\/nobody-owns is owned by no package/],
];

for (const [brokenCase, path, problem] of cases) {
  test(`broken model (${brokenCase}): one line naming ${path}, exit 1`, async () => {
    const result = await validate(brokenCase);
    assert.is(result.exitCode, 1);
    const lines = result.stderr.trimEnd().split('\n');
    assert.is(lines.length, 1, result.stderr);
    assert.ok(lines[0]!.startsWith(`model error: ${path}: `), lines[0]);
    assert.match(lines[0]!, problem);
  });
}

test('the real model validates on every branch', async () => {
  for (const branch of ['p10', 'p11', 'sisyphus']) {
    const result = await runTs('scripts/cli.ts', ['validate', '--branch', branch]);
    assert.is(result.stderr, '', branch);
    assert.is(result.exitCode, 0, branch);
  }
});

test.run();
