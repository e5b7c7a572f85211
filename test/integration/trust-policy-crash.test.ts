/**
 * Crash safety of podsec-create-policy (issue item 7): the program (bundled with fault points,
 * bin/lib/fault-point.ts) is killed with SIGKILL at every write step of a master run in turn —
 * chosen points, not random times, so the verdict does not depend on the machine's speed. Before each run the system policy is
 * changed the way podsec-create-imagemakeruser changes it (a new maker scope, plus a loosening scope
 * create-policy must drop), so every run has real work: rewrite policy.json, publish, re-sign.
 *
 * After every kill: /etc/containers/policy.json parses and equals the old or the new content;
 * every history entry is whole; the published policy is the old or the new one; the published
 * trust bundle is whole and verifies against the master key; /etc/hosts is whole. After every kill
 * a run to completion must repair everything (bundle and published policy agree).
 */
import { createHash, createPublicKey } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { installManaged, isHistoryName } from '../../bin/lib/config-history.ts';
import { parsePolicy, serializePolicy } from '../../bin/lib/containers-policy.ts';
import { fingerprintOf } from '../../bin/trust/bundle/format.ts';
import { readMasterKey } from '../../bin/trust/bundle/key.ts';
import { verifyEnvelope } from '../../bin/trust/bundle/verify.ts';
import { masterPolicy } from '../../bin/trust/policy/create-policy.ts';
import { makeTree, runCommand, runProgram } from '../support/trust-fixtures.ts';
import { crashAtEveryStep, faultBundle } from '../support/fault-points.ts';

const IP = '10.78.0.1';

const read = (path: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
};

test('podsec-create-policy: killed at every write step of a master run, every file is old or new; a re-run repairs all', async () => {
  const root = makeTree('crash');
  try {
    const first = await runProgram('podsec-create-policy', ['--root', root, '--role', 'master', IP]);
    assert.is(first.exitCode, 0, first.stderr);
    const fingerprint = fingerprintOf(createPublicKey(readMasterKey(root)!));
    const containers = join(root, 'etc/containers');
    const keys = join(root, 'var/sigstore/keys');
    const hosts = read(join(root, 'etc/hosts'));
    const bundle = await faultBundle('podsec-create-policy');
    const args = ['--root', root, '--role', 'master', IP];
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');

    const result = await crashAtEveryStep({
      prepare: (run) => {
        // A maker was added since the last run (and someone loosened the policy by hand).
        const current = parsePolicy(readFileSync(join(containers, 'policy.json'), 'utf8'), 'policy.json');
        writeFileSync(join(keys, `m${run}.pgp`), `key of maker m${run}\n`, { mode: 0o644 });
        const scopes = {
          ...current.transports!.docker,
          [`registry.local/m${run}`]: [{ type: 'signedBy' as const, keyType: 'GPGKeys' as const, keyPath: `/var/sigstore/keys/m${run}.pgp` }],
        };
        delete scopes['docker.io'];
        const oldText = serializePolicy({
          default: [{ type: 'reject' }],
          transports: { docker: { ...scopes, 'docker.io': [{ type: 'insecureAcceptAnything' }] } },
        });
        installManaged(join(containers, 'policy.json'), oldText, { root, prefix: 'policy_', timestamp: new Date(), mode: 0o644 });
        const newText = serializePolicy(masterPolicy(parsePolicy(oldText, 'p')).policy);
        return { oldText, newText, oldPublished: read(join(keys, 'policy.json')), oldBundle: read(join(keys, 'podsec-trust-bundle.json')) };
      },
      run: (env) => runCommand(process.execPath, [bundle, ...args], { env: { ...process.env, LANG: 'C', LC_ALL: 'C', ...env } }),
      afterComplete: ({ newText }) => assert.is(read(join(containers, 'policy.json')), newText),
      afterKill: (step, { oldText, newText, oldPublished, oldBundle }) => {
        const where = `killed at step ${step.n} (${step.label})`;
        const policyText = readFileSync(join(containers, 'policy.json'), 'utf8');
        JSON.parse(policyText);
        assert.ok(policyText === oldText || policyText === newText, `${where}: policy.json is neither the old nor the new content`);
        for (const name of readdirSync(containers)) {
          if (isHistoryName('policy_', name)) JSON.parse(readFileSync(join(containers, name), 'utf8'));
        }
        const published = read(join(keys, 'policy.json'));
        assert.ok(published === oldPublished || published === newText, `${where}: the published policy is torn`);
        const trust = read(join(keys, 'podsec-trust-bundle.json'))!;
        const verified = verifyEnvelope(trust, { kind: 'fingerprint', value: fingerprint }, 'bundle');
        assert.ok(
          trust === oldBundle || verified.manifest.files.some((f) => f.name === 'policy.json' && f.sha256 === sha(newText)),
          `${where}: a new bundle that does not list the new policy`,
        );
        assert.is(read(join(root, 'etc/hosts')), hosts, `${where}: /etc/hosts changed`);
      },
      converge: async (step, { newText }) => {
        const where = `after the kill at step ${step.n} (${step.label})`;
        const repaired = await runProgram('podsec-create-policy', args);
        assert.is(repaired.exitCode, 0, `${where}: the next run fails: ${repaired.stderr}`);
        assert.is(read(join(containers, 'policy.json')), newText, where);
        assert.is(read(join(keys, 'policy.json')), newText, where);
        const manifest = verifyEnvelope(read(join(keys, 'podsec-trust-bundle.json'))!, { kind: 'fingerprint', value: fingerprint }, 'bundle').manifest;
        assert.is(manifest.files.find((f) => f.name === 'policy.json')?.sha256, sha(newText), where);
      },
    });
    process.stdout.write(
      `create-policy crash safety: ${result.steps.length} write steps, each a kill point (${result.kills} kills):` +
        `\n${result.steps.map((s) => `  ${s.n} ${s.label}`).join('\n')}\n`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
