/**
 * Crash safety of podsec-create-imagemakeruser (issue 3, proof 7): the command is killed with
 * SIGKILL at every one of its write steps in turn (fault points, bin/lib/fault-point.ts: files it
 * writes, directories it makes, every external command it runs — useradd, chpasswd, …), each time
 * adding the maker `crash` to the same tree (restored from a snapshot before every run, so every
 * run does the same steps: a run writes every maker's own policy). The kill points are chosen, not timed, so the verdict is the same on a fast
 * and on a loaded machine. After every kill:
 *  - /etc/containers/policy.json parses and is exactly the policy before the run or after it;
 *  - a policy that names the new maker's key never points at a missing key file;
 *  - the published copy in /var/sigstore/keys parses and is a policy the system had (a run killed
 *    between the switch and the publication leaves it one step behind until the next run).
 * Then the killed maker is completed with --reconfigure, and the tree converges.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePolicy, serializePolicy } from '../../bin/lib/containers-policy.ts';
import { referencedKeys, type Manifest } from '../../bin/trust/bundle/format.ts';
import { withMakers } from '../../bin/trust/policy/maker-policy.ts';
import { removeTree, useMaster, type MasterEnv } from '../support/oci-fixtures.ts';
import { withTools } from '../support/tools.ts';
import { crashAtEveryStep, faultBundle } from '../support/fault-points.ts';

const base = suite('trust makers crash safety');
const TOOLS = ['useradd', 'ip', 'docker-registry', 'nginx', 'unshare', 'runuser', 'chattr', 'lsattr'];
const test = withTools(base, TOOLS);

let m: MasterEnv;

useMaster(base, 'mkcrash', TOOLS, [], (started) => {
  m = started;
});

const policyPath = () => join(m.root, 'etc/containers/policy.json');
const publishedPath = () => join(m.root, 'var/sigstore/keys/policy.json');

/**
 * Runs create-imagemakeruser (bundled with fault points) for `user` in the master's namespace with
 * `env` added; whatever its process group left running is killed when it ends.
 */
async function makerRun(user: string, env: Record<string, string> = {}, extra: string[] = []): Promise<{ exitCode: number | null; stderr: string }> {
  const bundle = await faultBundle('podsec-create-imagemakeruser');
  const args = [
    'netns',
    'exec',
    m.pair.master.name,
    process.execPath,
    bundle,
    '--root',
    m.root,
    '--no-password',
    '--sigstore',
    '--no-key-passphrase',
    ...extra,
    `${user}@registry.local/crash/${user}`,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('ip', args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LANG: 'C', LC_ALL: 'C', ...env } });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c));
    const hard = setTimeout(() => {
      stderr += '\n(no exit within 300 s)';
      process.kill(-child.pid!, 'SIGKILL');
    }, 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(hard);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // nothing left
      }
      resolve({ exitCode: code, stderr });
    });
  });
}

/** The tree as it is now, to put back before every run: contents and the immutable attribute of makers' directories. */
function snapshot(root: string): () => void {
  const snapDir = mkdtempSync(join(tmpdir(), 'podsec-mkcrash-snap-'));
  const copy = join(snapDir, 'root');
  cpSync(root, copy, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  spawnSync('chattr', ['-R', '-f', '-i', join(copy, 'home')], { stdio: 'ignore' });
  const lsattr =
    spawnSync('sh', ['-c', 'find "$1" -xdev -type d -print0 | xargs -0 -r lsattr -d', 'sh', join(root, 'home')], { encoding: 'utf8' }).stdout ?? '';
  const immutable = lsattr
    .split('\n')
    .map((line) => /^(\S+)\s+(.+)$/.exec(line))
    .filter((m): m is RegExpExecArray => Boolean(m && m[1]!.includes('i')))
    .map((m) => m[2]!.slice(root.length));
  process.on('exit', () => rmSync(snapDir, { recursive: true, force: true }));
  return () => {
    spawnSync('chattr', ['-R', '-f', '-i', join(root, 'home')], { stdio: 'ignore' });
    for (const name of readdirSync(root)) removeTree(join(root, name));
    cpSync(copy, root, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    for (const path of immutable) {
      const made = spawnSync('chattr', ['+i', join(root, path)], { encoding: 'utf8' });
      if (made.status !== 0) throw new Error(`chattr +i ${path}: ${made.stderr}`);
    }
  };
}

test(
  'create-imagemakeruser: killed at every write step, the policy is old or new and never names a ' + 'missing key; --reconfigure completes the maker',
  async () => {
    const started = Date.now();
    const first = await makerRun('crashwarm');
    assert.is(first.exitCode, 0, first.stderr);
    const restore = snapshot(m.root);
    const user = 'crash';
    let oldSeen = 0;
    let newSeen = 0;
    const result = await crashAtEveryStep({
      prepare: () => {
        restore();
        const before = readFileSync(policyPath(), 'utf8');
        const expected = serializePolicy(withMakers(parsePolicy(before, 'before'), [{ user, kind: 'sigstore', repoPaths: [`registry.local/crash/${user}`] }]));
        return { before, expected, published: readFileSync(publishedPath(), 'utf8') };
      },
      run: (env) => makerRun(user, env),
      afterComplete: ({ expected }) => {
        assert.is(readFileSync(policyPath(), 'utf8'), expected);
        assert.is(readFileSync(publishedPath(), 'utf8'), expected);
      },
      afterKill: (step, { before, expected, published: publishedBefore }) => {
        const context = `killed at step ${step.n} (${step.label})`;
        const after = readFileSync(policyPath(), 'utf8');
        parsePolicy(after, policyPath());
        assert.ok(after === before || after === expected, `${context}: policy.json is neither the old nor the new policy:\n${after}`);
        if (after === expected) {
          newSeen++;
          assert.ok(existsSync(join(m.root, `var/sigstore/keys/${user}.pub`)), `${context}: the policy names ${user}.pub, which is missing`);
        } else oldSeen++;
        const published = readFileSync(publishedPath(), 'utf8');
        parsePolicy(published, publishedPath());
        assert.ok([publishedBefore, before, expected].includes(published), `${context}: the published policy is none of the system's policies`);
      },
      // The killed maker is completed by --reconfigure (its account may exist or not).
      converge: async (step, { expected }) => {
        const context = `after the kill at step ${step.n} (${step.label})`;
        const again = await makerRun(user, {}, ['--reconfigure']);
        assert.is(again.exitCode, 0, `${context}: ${again.stderr}`);
        assert.is(readFileSync(policyPath(), 'utf8'), expected, context);
        assert.ok(existsSync(join(m.root, `var/sigstore/keys/${user}.pub`)), context);
        assert.is(readFileSync(publishedPath(), 'utf8'), expected, `${context}: a complete run publishes the current policy`);
      },
    });
    assert.ok(oldSeen > 0 && newSeen > 0, `kills before and after the policy switch (old ${oldSeen}, new ${newSeen})`);
    process.stdout.write(
      `makers crash: ${result.steps.length} write steps, each a kill point (${result.kills} kills), policy old ${oldSeen} / new ${newSeen} times` +
        `, ${Date.now() - started} ms` +
        `\n${result.steps.map((s) => `  ${s.n} ${s.label}`).join('\n')}\n`,
    );
  },
);

/** What a node checks: every file the signed bundle lists is published with its size and hash, and the published policy names only listed keys. */
function assertPublishedAgree(context: string): void {
  const keys = join(m.root, 'var/sigstore/keys');
  const manifest = JSON.parse(JSON.parse(readFileSync(join(keys, 'podsec-trust-bundle.json'), 'utf8')).manifest) as Manifest;
  for (const file of manifest.files) {
    const bytes = readFileSync(join(keys, file.name));
    assert.is(createHash('sha256').update(bytes).digest('hex'), file.sha256, `${context}: ${file.name} does not match the signed bundle`);
  }
  const published = parsePolicy(readFileSync(publishedPath(), 'utf8'), publishedPath());
  for (const name of referencedKeys(published).names)
    assert.ok(
      manifest.files.some((f) => f.name === name),
      `${context}: ${name} is not in the bundle`,
    );
  const system = parsePolicy(readFileSync(policyPath(), 'utf8'), policyPath());
  for (const name of referencedKeys(system).names) assert.ok(existsSync(join(keys, name)), `${context}: the system policy names the missing ${name}`);
}

test('create-imagemakeruser --reconfigure: a failure at every step in turn leaves the published key, policy and bundle agreeing', async () => {
  const made = await makerRun('recon');
  assert.is(made.exitCode, 0, made.stderr);
  // The maker's own policy is gone, so the run also rewrites the maker's own files (a step after the key's).
  spawnSync('chattr', ['-R', '-f', '-i', join(m.root, 'home/recon')], { stdio: 'ignore' });
  rmSync(join(m.root, 'home/recon/.config/containers/policy.json'));
  const restore = snapshot(m.root);
  const keyPath = join(m.root, 'var/sigstore/keys/recon.pub');
  const oldKey = readFileSync(keyPath, 'utf8');
  let failures = 0;
  const result = await crashAtEveryStep({
    mode: 'fail',
    prepare: () => restore(),
    run: (env) => makerRun('recon', env, ['--reconfigure']),
    afterComplete: () => {
      assert.is.not(readFileSync(keyPath, 'utf8'), oldKey, '--reconfigure --sigstore makes a new key');
      assertPublishedAgree('after a complete run');
    },
    afterKill: (step, _prepared, outcome) => {
      if (outcome.exitCode !== 0) failures++;
      assertPublishedAgree(`failed at step ${step.n} (${step.label}), exit ${outcome.exitCode}`);
    },
  });
  assert.ok(failures > 0, 'the failures were reported');
  process.stdout.write(
    `makers reconfigure: ${result.steps.length} steps, each failed in turn (${failures} runs exited non-zero)` +
      `\n${result.steps.map((s) => `  ${s.n} ${s.label}`).join('\n')}\n`,
  );
});

test.run();
