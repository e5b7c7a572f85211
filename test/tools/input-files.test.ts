/**
 * A missing or unreadable input file, in every kind of command: one line naming the file, the
 * documented exit code 66 (never "internal error" 70), and nothing changed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EXIT_NO_INPUT } from '../../bin/lib/command.ts';
import { makeTree, runProgram, treeDiff, treeHashes } from '../support/trust-fixtures.ts';
import { removeRoot, renderedRoot } from '../support/u7s-fixtures.ts';

const work = mkdtempSync(join(tmpdir(), 'podsec-input-files-'));
let u7sRoot: string;
let trustRoot: string;
test.before(async () => {
  u7sRoot = await renderedRoot();
  trustRoot = makeTree('input-files');
  writeFileSync(join(u7sRoot, 'plain'), '');
});
test.after(() => {
  removeRoot(u7sRoot);
  rmSync(trustRoot, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

const missing = join(work, 'missing');
const env = { PATH: process.env.PATH, LANG: 'C', U7S_PLATFORM: 'p11', U7S_KUBEVERSION: 'v1.30.2' };
const cases: [string, string[], string, RegExp][] = [
  ['podsec-u7s-kubeadm', ['--plan', 'init', '--config', `${missing}.yaml`], 'u7s', /missing\.yaml: no such file or directory$/],
  ['podsec-u7s-kubeadm', ['--plan', 'init', '--config', '/plain/kubeadm.yaml'], 'u7s', /plain\/kubeadm\.yaml: a component of the path is not a directory$/],
  ['podsec-create-imagemakeruser', ['--no-password', '--gpg-public-key', `${missing}.asc`, 'alice'], 'trust', /missing\.asc: no such file or directory$/],
];

for (const [program, args, tree, message] of cases) {
  test(`${program} ${args.join(' ')}: one line, exit ${EXIT_NO_INPUT}, nothing changed`, async () => {
    const root = tree === 'u7s' ? u7sRoot : trustRoot;
    const before = treeHashes(root);
    const ran = await runProgram(program, ['--root', root, ...args], { env });
    assert.is(ran.exitCode, EXIT_NO_INPUT, ran.stdout + ran.stderr);
    assert.is(ran.stderr.trimEnd().split('\n').length, 1, ran.stderr);
    assert.match(ran.stderr.trimEnd(), new RegExp(`^${program}: `));
    assert.match(ran.stderr.trimEnd(), message);
    assert.equal(treeDiff(before, treeHashes(root)), []);
  });
}

test.run();
