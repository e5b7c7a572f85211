/**
 * The whole tree type-checks as tsconfig.json asks (`npm run typecheck`): strict, and no import or
 * local that nothing reads.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../../scripts/paths.ts';

test('tsc --noEmit finds no error in the tree', () => {
  const tsc = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', REPO_ROOT], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 300_000,
  });
  assert.is(tsc.status, 0, `${tsc.stdout}${tsc.stderr}`.slice(0, 4000));
});

test.run();
