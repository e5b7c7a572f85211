/**
 * podsec-create-imagemakeruser's interactive default, as upstream: on a terminal it asks for the
 * password and runs gpg's own key dialogue in the maker's keyring. The terminal is a pty from
 * script(1); answers are typed when their prompt appears, as a person would.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decryptSigstorePrivateKey, publicPemOf } from '../../bin/trust/keys/sigstore-key.ts';
import { startMaster, type MasterEnv } from '../support/oci-fixtures.ts';
import { hasTool, withTools } from '../support/tools.ts';
import { bundledProgram } from '../support/trust-fixtures.ts';

const base = suite('trust makers: interactive');
const TOOLS = ['script', 'useradd', 'gpg', 'ip', 'docker-registry', 'nginx', 'unshare', 'runuser'];
const test = withTools(base, TOOLS);

let m: MasterEnv;

base.before(async () => {
  if (TOOLS.some((tool) => !hasTool(tool))) return;
  m = await startMaster('mkinteractive');
});

base.after(async () => {
  if (!m) return;
  await m.stopUserProcesses(['imk', 'sigimk']);
  await m.stop();
});

/** Runs argv on a pty in the master's namespace and types each answer when its prompt shows up. */
async function onTerminal(argv: string[], dialogue: [RegExp, string][], timeoutMs = 120_000): Promise<{ code: number | null; output: string }> {
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', m.pair.master.name, 'script', '-qefc', quoted, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LANG: 'C', TERM: 'dumb' },
    });
    let output = '';
    let step = 0;
    let seen = 0;
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      while (step < dialogue.length) {
        const [prompt, answer] = dialogue[step]!;
        const match = prompt.exec(output.slice(seen));
        if (!match) break;
        seen += match.index + match[0].length;
        step++;
        // gpg turns echo off with TCSAFLUSH after printing its passphrase prompt, which drops
        // anything typed before: answer it a moment later, as a person would.
        if (/assphrase/.test(prompt.source)) setTimeout(() => child.stdin.write(`${answer}\r`), 500);
        else child.stdin.write(`${answer}\r`);
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.stdin.on('error', () => {});
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no exit within ${timeoutMs / 1000} s at step ${step}:\n${output}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

test('asks for the password and the sigstore passphrase (twice each) on the terminal, without echo', async () => {
  const bundle = await bundledProgram('podsec-create-imagemakeruser');
  const { code, output } = await onTerminal(
    [process.execPath, bundle, '--root', m.root, '--sigstore', 'sigimk@registry.local/sig'],
    [
      [/Enter the password for user sigimk - the container image developer: /, 'Pass-word-1'],
      [/Repeat the password: /, 'Pass-word-1'],
      [/Passphrase for the signing key of sigimk: /, 'key phrase'],
      [/Repeat the passphrase: /, 'key phrase'],
    ],
  );
  assert.is(code, 0, output);
  assert.not.match(output, /Pass-word-1|key phrase/, 'a secret was echoed');
  assert.match(readFileSync(join(m.root, 'etc/shadow'), 'utf8'), /^sigimk:\$6\$[^:]+:/m);
  const key = readFileSync(join(m.root, 'home/sigimk/.config/podsec/sigstore.key'), 'utf8');
  assert.is(publicPemOf(decryptSigstorePrivateKey(key, Buffer.from('key phrase'))), readFileSync(join(m.root, 'var/sigstore/keys/sigimk.pub'), 'utf8'));
});

test('two different password entries are refused and the new account is removed again', async () => {
  const bundle = await bundledProgram('podsec-create-imagemakeruser');
  const { code, output } = await onTerminal(
    [process.execPath, bundle, '--root', m.root, '--sigstore', 'mistyped@registry.local/mis'],
    [
      [/Enter the password for user mistyped/, 'one'],
      [/Repeat the password: /, 'two'],
    ],
  );
  assert.is(code, 1, output);
  assert.match(output, /the two entries differ/);
  assert.not.match(readFileSync(join(m.root, 'etc/passwd'), 'utf8'), /^mistyped:/m);
  assert.not.match(readFileSync(join(m.root, 'etc/containers/policy.json'), 'utf8'), /registry\.local\/mis/);
});

test("runs gpg's own key dialogue in the maker's keyring and installs the new public key", async () => {
  const bundle = await bundledProgram('podsec-create-imagemakeruser');
  const { code, output } = await onTerminal(
    [process.execPath, bundle, '--root', m.root, 'imk@registry.local/imk'],
    [
      [/Enter the password for user imk/, 'Pass-word-2'],
      [/Repeat the password: /, 'Pass-word-2'],
      [/Your selection\? /, '1'],
      [/What keysize do you want\? \(3072\) /, '2048'],
      [/Key is valid for\? \(0\) /, '0'],
      [/Is this correct\? \(y\/N\) /, 'y'],
      [/Real name: /, 'Image Maker'],
      [/Email address: /, 'imk@example.org'],
      [/Comment: /, ''],
      [/\(O\)kay\/\(Q\)uit\? /, 'O'],
      [/[Pp]assphrase[^\n]*: /, 'gpg phrase'],
      [/[Pp]assphrase[^\n]*: /, 'gpg phrase'],
    ],
    90_000,
  );
  assert.is(code, 0, output);
  assert.match(output, /imk signs with the GPG key [0-9A-F]{40}/);
  assert.match(readFileSync(join(m.root, 'var/sigstore/keys/imk.pgp'), 'utf8'), /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
  assert.match(readFileSync(join(m.root, 'etc/containers/policy.json'), 'utf8'), /"registry\.local\/imk"/);
});

test.run();
