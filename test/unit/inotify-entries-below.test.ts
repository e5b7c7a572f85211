import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { entriesBelow } from '../../bin/inotify/containers.ts';

test('entriesBelow: every entry of a new directory, links not followed, bounded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'podsec-below-'));
  try {
    mkdirSync(join(dir, 'bin/sub'), { recursive: true });
    writeFileSync(join(dir, 'bin/x'), '');
    writeFileSync(join(dir, 'bin/sub/y'), '');
    symlinkSync('/etc', join(dir, 'bin/etc-link'));
    assert.equal(entriesBelow(join(dir, 'bin')).sort(), ['etc-link', 'sub', 'sub/y', 'x']);
    assert.is(entriesBelow(join(dir, 'bin'), 2).length, 2);
    assert.equal(entriesBelow(join(dir, 'missing')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
