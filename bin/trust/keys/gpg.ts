/**
 * GPG for image makers: key generation in the maker's own keyring (run as the maker, never as
 * root), export of the public key (root reads it from a pipe and installs it itself), and
 * inspection of public keys in a throw-away keyring. ALT's binary is gpg2, Debian's gpg.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError } from '../../lib/command.ts';
import { translator } from '../../lib/i18n.ts';
import { failure, run, runOrFail, type RunAs } from '../../lib/proc.ts';

const t = translator('podsec');
const MAX_PUBLIC_KEY_BYTES = 1024 * 1024;

let gpgBinary: string | undefined;

/** gpg2 where it exists (ALT), else gpg. */
export async function gpgCommand(): Promise<string> {
  if (gpgBinary) return gpgBinary;
  for (const candidate of ['gpg2', 'gpg']) {
    const probe = await run(candidate, ['--version']);
    if (!probe.error && probe.status === 0) return (gpgBinary = candidate);
  }
  throw new CommandError(t('neither gpg2 nor gpg is installed'), 1);
}

export interface PublicKeyInfo {
  /** Fingerprints of the primary keys, in file order. */
  primaries: string[];
  /** Fingerprints of all keys (primary and subkeys) that may sign. */
  signing: string[];
  /** User ids, for messages. */
  uids: string[];
}

/** Parses `--with-colons` key listings (pub/sec, sub/ssb, fpr, uid records). */
export function parseColons(text: string): PublicKeyInfo {
  const info: PublicKeyInfo = { primaries: [], signing: [], uids: [] };
  let current: { primary: boolean; canSign: boolean } | undefined;
  for (const line of text.split('\n')) {
    const f = line.split(':');
    const type = f[0];
    if (type === 'pub' || type === 'sec' || type === 'sub' || type === 'ssb') {
      current = { primary: type === 'pub' || type === 'sec', canSign: /s/.test(f[11] ?? '') };
    } else if (type === 'fpr' && current && f[9]) {
      if (current.primary) info.primaries.push(f[9]);
      if (current.canSign || current.primary) info.signing.push(f[9]);
      current = undefined;
    } else if (type === 'uid' && f[9]) {
      info.uids.push(f[9]);
    }
  }
  return info;
}

/** Lists the keys in an exported public key block, without importing it anywhere that matters. */
export async function inspectPublicKey(bytes: Uint8Array): Promise<PublicKeyInfo> {
  if (bytes.length === 0 || bytes.length > MAX_PUBLIC_KEY_BYTES)
    throw new CommandError(t('a public key must be between 1 byte and {max} bytes', { max: MAX_PUBLIC_KEY_BYTES }), 1);
  const home = mkdtempSync(join(tmpdir(), 'podsec-gpg-'));
  try {
    const gpg = await gpgCommand();
    const result = await run(gpg, ['--homedir', home, '--batch', '--no-tty', '--with-colons', '--show-keys'], { input: bytes, env: { GNUPGHOME: undefined } });
    if (result.error || result.status !== 0) throw new CommandError(t('not a usable OpenPGP public key: {reason}', { reason: failure(result) }), 1);
    return parseColons(result.stdout);
  } finally {
    await run('gpgconf', ['--homedir', home, '--kill', 'all']);
    rmSync(home, { recursive: true, force: true });
  }
}

/** Checks an ASCII-armoured or binary public key block: exactly one primary key that can sign. */
export async function checkPublicKey(bytes: Uint8Array, source: string): Promise<PublicKeyInfo> {
  if (Buffer.from(bytes).includes('PRIVATE KEY BLOCK'))
    throw new CommandError(t('{source} is a private key; give the public key (gpg --armor --export)', { source }), 1);
  const info = await inspectPublicKey(bytes);
  if (info.primaries.length !== 1)
    throw new CommandError(t('{source} must hold exactly one public key, it holds {count}', { source, count: info.primaries.length }), 1);
  return info;
}

const userEnv = (as: RunAs) => ({ GNUPGHOME: join(as.home, '.gnupg') });

/** Stops the gpg-agent a key operation started for the maker. */
export async function stopAgent(as: RunAs): Promise<void> {
  await run('gpgconf', ['--kill', 'gpg-agent'], { as, env: userEnv(as) });
}

function createdFingerprint(status: string): string | undefined {
  return /^\[GNUPG:\] KEY_CREATED [BP] ([0-9A-F]{40,64})\s*$/m.exec(status)?.[1];
}

/** Generates an RSA-3072 signing key in the maker's keyring, unattended; returns its fingerprint. */
export async function generateKeyBatch(as: RunAs, uid: string, passphrase: string): Promise<string> {
  const gpg = await gpgCommand();
  try {
    const result = await runOrFail(
      t('generate the GPG key of {user}', { user: as.name }),
      gpg,
      [
        '--batch',
        '--no-tty',
        '--status-fd',
        '1',
        '--pinentry-mode',
        'loopback',
        '--passphrase-fd',
        '3',
        '--quick-generate-key',
        uid,
        'rsa3072',
        'sign',
        'never',
      ],
      { as, env: userEnv(as), fd3Input: `${passphrase}\n` },
    );
    const fingerprint = createdFingerprint(result.stdout);
    if (!fingerprint) throw new CommandError(t('gpg reported no new key for {user}', { user: as.name }), 1);
    return fingerprint;
  } finally {
    await stopAgent(as);
  }
}

/** gpg's own interactive dialogue (key type, size, name, e-mail, passphrase), as upstream; returns the new key's fingerprint. */
export async function generateKeyInteractive(as: RunAs): Promise<string> {
  const gpg = await gpgCommand();
  try {
    const result = await run(gpg, ['--status-fd', '3', '--pinentry-mode', 'loopback', '--full-generate-key'], {
      as,
      env: userEnv(as),
      interactive: true,
      fd3Output: true,
    });
    if (result.error || result.status !== 0)
      throw new CommandError(t('generate the GPG key of {user}: gpg failed: {reason}', { user: as.name, reason: failure(result) }), 1);
    const fingerprint = createdFingerprint(result.fd3);
    if (!fingerprint) throw new CommandError(t('Public key not found'), 1);
    return fingerprint;
  } finally {
    await stopAgent(as);
  }
}

/** The maker's public key, ASCII-armoured, read from gpg's stdout (root writes the file, not the maker). */
export async function exportPublicKey(as: RunAs, fingerprint: string): Promise<Buffer> {
  const gpg = await gpgCommand();
  const result = await runOrFail(
    t('export the public key of {user}', { user: as.name }),
    gpg,
    ['--batch', '--no-tty', '--armor', '--export', '--', fingerprint],
    { as, env: userEnv(as) },
  );
  const bytes = Buffer.from(result.stdout);
  if (!result.stdout.startsWith('-----BEGIN PGP PUBLIC KEY BLOCK-----'))
    throw new CommandError(t('gpg exported no public key for {fingerprint}', { fingerprint }), 1);
  return bytes;
}

/** The caller's own secret keys matching `signer` (an e-mail, user id or fingerprint), from their keyring. */
export async function secretKeysOf(signer: string, env: Record<string, string | undefined> = {}): Promise<PublicKeyInfo> {
  const gpg = await gpgCommand();
  const result = await run(gpg, ['--batch', '--no-tty', '--no-auto-check-trustdb', '--with-colons', '--list-secret-keys', '--', signer], { env });
  if (result.error || result.status !== 0) return { primaries: [], signing: [], uids: [] };
  return parseColons(result.stdout);
}
