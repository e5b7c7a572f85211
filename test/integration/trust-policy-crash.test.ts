/**
 * Crash safety of podsec-create-policy (issue item 7): the packaged program (bundled) is killed
 * with SIGKILL at random moments of a master run, many times. Before each run the system policy is
 * changed the way podsec-create-imagemakeruser changes it (a new maker scope, plus a loosening scope
 * create-policy must drop), so every run has real work: rewrite policy.json, publish, re-sign.
 *
 * After every kill: /etc/containers/policy.json parses and equals the old or the new content;
 * every history entry is whole; the published policy is the old or the new one; the published
 * trust bundle is whole and verifies against the master key; /etc/hosts is whole. Every few runs a
 * run to completion must repair everything (bundle and published policy agree).
 * Reproducible: PODSEC_CRASH_SEED picks the kill delays (printed on failure).
 */
import { spawn } from 'node:child_process';
import { createHash, createPublicKey } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { installManaged, isHistoryName } from '../../bin/lib/config-history.ts';
import { parsePolicy, serializePolicy } from '../../bin/lib/containers-policy.ts';
import { fingerprintOf, readMasterKey, verifyEnvelope } from '../../bin/trust/bundle.ts';
import { masterPolicy } from '../../bin/trust/create-policy.ts';
import { makeTree, programCommand, runProgram } from '../support/trust-fixtures.ts';
import { prng } from '../support/prng.ts';

const RUNS = Number(process.env.PODSEC_CRASH_RUNS ?? 60);
const SEED = Number(process.env.PODSEC_CRASH_SEED ?? 20241126);
const DEADLINE_MS = 300_000;
const IP = '10.78.0.1';


const read = (path: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
};

/** Starts the program and SIGKILLs it after `delayMs` (if it is still running). */
async function runAndKill(command: [string, string[]], delayMs: number): Promise<'killed' | 'finished'> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command[1], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    const hard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(hard);
      if (signal === 'SIGKILL') resolve('killed');
      else if (code === 0) resolve('finished');
      else reject(new Error(`create-policy failed (${code}): ${stderr}`));
    });
  });
}

test(`podsec-create-policy survives ${RUNS} SIGKILLs at random moments (seed ${SEED})`, async () => {
  const root = makeTree('crash');
  try {
    const first = await runProgram('podsec-create-policy', ['--root', root, '--role', 'master', IP]);
    assert.is(first.exitCode, 0, first.stderr);
    const fingerprint = fingerprintOf(createPublicKey(readMasterKey(root)!));
    const containers = join(root, 'etc/containers');
    const keys = join(root, 'var/sigstore/keys');
    const hosts = read(join(root, 'etc/hosts'));
    const command = await programCommand('podsec-create-policy');
    command[1].push('--root', root, '--role', 'master', IP);

    // How long a full run takes here, to spread the kills over all of it.
    const started = Date.now();
    await runProgram('podsec-create-policy', ['--root', root, '--role', 'master', IP]);
    const span = Math.max(50, (Date.now() - started) * 1.3);

    const random = prng(SEED);
    const deadline = Date.now() + DEADLINE_MS;
    let kills = 0;
    for (let run = 0; run < RUNS; run++) {
      assert.ok(Date.now() < deadline, `over ${DEADLINE_MS / 1000} s after ${run} runs`);
      const context = `seed ${SEED}, run ${run}`;
      // A maker was added since the last run (and someone loosened the policy by hand).
      const current = parsePolicy(readFileSync(join(containers, 'policy.json'), 'utf8'), 'policy.json');
      writeFileSync(join(keys, `m${run}.pgp`), `key of maker m${run}\n`, { mode: 0o644 });
      const scopes = { ...current.transports!.docker, [`registry.local/m${run}`]: [{ type: 'signedBy' as const, keyType: 'GPGKeys' as const, keyPath: `/var/sigstore/keys/m${run}.pgp` }] };
      delete scopes['docker.io'];
      const oldText = serializePolicy({ default: [{ type: 'reject' }], transports: { docker: { ...scopes, 'docker.io': [{ type: 'insecureAcceptAnything' }] } } });
      installManaged(join(containers, 'policy.json'), oldText, { root, prefix: 'policy_', timestamp: new Date(), mode: 0o644 });
      const newText = serializePolicy(masterPolicy(parsePolicy(oldText, 'p')).policy);
      const oldPublished = read(join(keys, 'policy.json'));
      const oldBundle = read(join(keys, 'podsec-trust-bundle.json'));

      const delay = Math.floor(random() * span);
      const outcome = await runAndKill(command, delay);
      if (outcome === 'killed') kills++;
      const where = `${context}, kill after ${delay} ms`;

      const policyText = readFileSync(join(containers, 'policy.json'), 'utf8');
      JSON.parse(policyText);
      assert.ok(policyText === oldText || policyText === newText, `${where}: policy.json is neither the old nor the new content`);
      for (const name of readdirSync(containers)) {
        if (isHistoryName('policy_', name)) JSON.parse(readFileSync(join(containers, name), 'utf8'));
      }
      const published = read(join(keys, 'policy.json'));
      assert.ok(published === oldPublished || published === newText, `${where}: the published policy is torn`);
      const bundle = read(join(keys, 'podsec-trust-bundle.json'))!;
      const verified = verifyEnvelope(bundle, { kind: 'fingerprint', value: fingerprint }, 'bundle');
      assert.ok(bundle === oldBundle || verified.manifest.files.some((f) => f.name === 'policy.json' && f.sha256 === createHash('sha256').update(newText).digest('hex')), `${where}: a new bundle that does not list the new policy`);
      assert.is(read(join(root, 'etc/hosts')), hosts, `${where}: /etc/hosts changed`);

      if (run % 5 === 4) {
        const repaired = await runProgram('podsec-create-policy', ['--root', root, '--role', 'master', IP]);
        assert.is(repaired.exitCode, 0, `${where}: the next run fails: ${repaired.stderr}`);
        assert.is(read(join(containers, 'policy.json')), newText, where);
        assert.is(read(join(keys, 'policy.json')), newText, where);
        const manifest = verifyEnvelope(read(join(keys, 'podsec-trust-bundle.json'))!, { kind: 'fingerprint', value: fingerprint }, 'bundle').manifest;
        assert.is(manifest.files.find((f) => f.name === 'policy.json')?.sha256, createHash('sha256').update(newText).digest('hex'), where);
      }
    }
    assert.ok(kills >= RUNS / 2, `only ${kills} of ${RUNS} runs were killed before finishing`);
    process.stdout.write(`create-policy crash safety: ${RUNS} runs, ${kills} killed mid-run, kill window ${Math.round(span)} ms\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
