/**
 * Crash safety of podsec-create-imagemakeruser (issue 3, proof 7): the command (with everything it
 * started: useradd, chpasswd, …) is killed with SIGKILL at random moments, many times, each time
 * adding a new maker. After every kill:
 *  - /etc/containers/policy.json parses and is exactly the policy before the run or after it;
 *  - a policy that names the new maker's key never points at a missing key file;
 *  - the published copy in /var/sigstore/keys parses and is a policy the system had (a run killed
 *    between the switch and the publication leaves it one step behind until the next run).
 * At the end a killed maker is completed with --reconfigure, and the tree converges.
 * Reproducible: PODSEC_CRASH_SEED picks the kill delays (printed on failure).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePolicy, serializePolicy } from '../../bin/lib/containers-policy.ts';
import { withMakers } from '../../bin/makers/maker-policy.ts';
import { startMaster, type MasterEnv } from '../support/oci-fixtures.ts';
import { hasTool, withTools } from '../support/tools.ts';
import { bundledProgram } from '../support/trust-fixtures.ts';
import { prng } from '../support/prng.ts';

const base = suite('trust makers crash safety');
const TOOLS = ['useradd', 'ip', 'docker-registry', 'nginx', 'unshare', 'runuser', 'chattr'];
const test = withTools(base, TOOLS);

const RUNS = Number(process.env.PODSEC_CRASH_RUNS ?? 60);
const SEED = Number(process.env.PODSEC_CRASH_SEED ?? 20261126);
const DEADLINE_MS = 600_000;


let m: MasterEnv;

base.before(async () => {
  if (TOOLS.some((tool) => !hasTool(tool))) return;
  m = await startMaster('mkcrash');
});

base.after(async () => {
  if (m) await m.stop();
});

const policyPath = () => join(m.root, 'etc/containers/policy.json');
const publishedPath = () => join(m.root, 'var/sigstore/keys/policy.json');

/** Runs create-imagemakeruser for `user` in the master's namespace; SIGKILLs its process group after delayMs (or lets it finish). */
async function makerRun(user: string, delayMs: number | undefined, extra: string[] = []): Promise<{ killed: boolean; code: number | null; stderr: string }> {
  const bundle = await bundledProgram('podsec-create-imagemakeruser');
  const args = ['netns', 'exec', m.pair.master.name, process.execPath, bundle, '--root', m.root, '--no-password', '--sigstore', '--no-key-passphrase', ...extra, `${user}@registry.local/crash/${user}`];
  return new Promise((resolve) => {
    const child = spawn('ip', args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let killed = false;
    child.stderr!.on('data', (c: Buffer) => (stderr += c));
    const timer =
      delayMs === undefined
        ? undefined
        : setTimeout(() => {
            killed = true;
            try {
              process.kill(-child.pid!, 'SIGKILL');
            } catch {
              killed = false; // it had finished
            }
          }, delayMs);
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ killed: killed && code === null, code, stderr });
    });
  });
}

test(`create-imagemakeruser survives ${RUNS} SIGKILLs at random moments (seed ${SEED})`, async () => {
  const started = Date.now();
  const full = Date.now();
  const first = await makerRun('crashwarm', undefined);
  assert.is(first.code, 0, first.stderr);
  const fullMs = Date.now() - full;
  const random = prng(SEED);
  let kills = 0;
  let completed = 0;
  let oldSeen = 0;
  let newSeen = 0;
  const interrupted: string[] = [];
  const history = new Set([readFileSync(policyPath(), 'utf8')]);
  for (let run = 0; run < RUNS; run++) {
    assert.ok(Date.now() - started < DEADLINE_MS, `over ${DEADLINE_MS / 1000} s after ${run} runs`);
    const user = `crash${run}`;
    const before = readFileSync(policyPath(), 'utf8');
    const expected = serializePolicy(withMakers(parsePolicy(before, 'before'), [{ user, kind: 'sigstore', repoPaths: [`registry.local/crash/${user}`] }]));
    const delay = Math.floor(random() * fullMs * 0.9);
    const context = `seed ${SEED}, run ${run}, kill after ${delay} ms of ~${fullMs} ms`;
    const result = await makerRun(user, delay);
    if (result.killed) kills++;
    else {
      assert.is(result.code, 0, `${context}: ${result.stderr}`);
      completed++;
    }
    const after = readFileSync(policyPath(), 'utf8');
    parsePolicy(after, policyPath());
    history.add(after);
    assert.ok(after === before || after === expected, `${context}: policy.json is neither the old nor the new policy:\n${after}`);
    if (after === expected) {
      newSeen++;
      assert.ok(existsSync(join(m.root, `var/sigstore/keys/${user}.pub`)), `${context}: the policy names ${user}.pub, which is missing`);
    } else {
      oldSeen++;
      if (result.killed) interrupted.push(user);
    }
    const published = readFileSync(publishedPath(), 'utf8');
    parsePolicy(published, publishedPath());
    assert.ok(history.has(published), `${context}: the published policy is none of the system's policies`);
  }
  assert.ok(kills >= 50, `only ${kills} runs were killed (the rest finished first); raise the delays`);

  // A maker whose run was killed before the policy switch is completed by --reconfigure (its account may exist).
  const victim = interrupted[0];
  if (victim) {
    const again = await makerRun(victim, undefined, ['--reconfigure']);
    assert.is(again.code, 0, again.stderr);
    assert.match(readFileSync(policyPath(), 'utf8'), new RegExp(`"registry\\.local/crash/${victim}"`));
    const converged = await makerRun(victim, undefined, ['--reconfigure']);
    assert.is(converged.code, 0, converged.stderr);
    assert.is(readFileSync(publishedPath(), 'utf8'), readFileSync(policyPath(), 'utf8'), 'a complete run publishes the current policy');
  }
  process.stdout.write(`makers crash: ${kills} kills, ${completed} finished, policy old ${oldSeen} / new ${newSeen} times, ${Date.now() - started} ms\n`);
});

test.run();
