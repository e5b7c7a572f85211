/**
 * bin/trust/userns.ts: create-policy writes /etc/sysctl.d/99-podman.conf only where the switch
 * exists. On this host that is the running kernel's /proc/sys/kernel/unprivileged_userns_clone
 * (mainline kernels have none: a drop-in would contradict the note that no switch is needed);
 * under --root the tree is another node's, so the file is written for that node's kernel.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writesUsernsSysctl } from '../../bin/trust/userns.ts';

test('on this host: written only when the running kernel has the switch (whatever its value)', () => {
  assert.is(writesUsernsSysctl('/', undefined), false);
  assert.is(writesUsernsSysctl('/', '0'), true);
  assert.is(writesUsernsSysctl('/', '1'), true);
});

test('under --root: written, the tree is another node whose kernel is not this one', () => {
  assert.is(writesUsernsSysctl('/srv/node', undefined), true);
});

test.run();
