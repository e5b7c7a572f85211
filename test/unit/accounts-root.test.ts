/**
 * bin/lib/accounts.ts under --root: a tree without the account files is refused before any
 * shadow tool runs, naming the missing file under the root (groupadd itself would only say
 * "cannot lock /etc/group; try again later").
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addSystemGroup, addToGroups, createUser } from '../../bin/lib/accounts.ts';
import { CommandError } from '../../bin/lib/command.ts';

const root = mkdtempSync(join(tmpdir(), 'podsec-accounts-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

async function refusal(step: () => Promise<unknown>): Promise<string> {
  try {
    await step();
  } catch (error) {
    assert.instance(error, CommandError);
    return (error as Error).message;
  }
  throw new Error('not refused');
}

test('an empty tree: /etc/passwd is named as missing under the root, nothing is created', async () => {
  for (const step of [() => addSystemGroup(root, 'podman'), () => createUser(root, 'bob', undefined, []), () => addToGroups(root, 'bob', ['podman'])]) {
    assert.is(await refusal(step), `/etc/passwd is missing under --root ${root}: the tree needs /etc/passwd and /etc/group to hold accounts`);
  }
  assert.equal(readdirSync(root), []);
});

test('a tree with /etc/passwd only: /etc/group is named', async () => {
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  assert.match(await refusal(() => addSystemGroup(root, 'podman')), /^\/etc\/group is missing under --root /);
});

test.run();
