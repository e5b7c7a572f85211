/** Checking a bundle against the admin's pin (the trust key's fingerprint or the manifest's SHA-256). */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { CommandError } from '../../lib/command.ts';
import { translator } from '../../lib/i18n.ts';
import {
  BUNDLE_NAME,
  EXIT_BUNDLE_REFUSED,
  FILE_NAME,
  fingerprintOf,
  formatFingerprint,
  isObject,
  MAX_FILE_BYTES,
  MAX_FILES,
  PUBLISHED_POLICY_NAME,
  sha256,
  type Manifest,
  type Pin,
} from './format.ts';

const t = translator('podsec');

export class BundleRefusedError extends CommandError {
  constructor(message: string) {
    super(message, EXIT_BUNDLE_REFUSED);
  }
}

function parseManifest(text: string, where: string): Manifest {
  const refuse = (reason: string): never => {
    throw new BundleRefusedError(t('{file}: the signed manifest is not valid: {reason}', { file: where, reason }));
  };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return refuse((error as Error).message);
  }
  if (!isObject(data) || data.format !== 'podsec-trust-manifest' || data.version !== 1) return refuse(t('unknown format'));
  if (!Number.isSafeInteger(data.serial) || (data.serial as number) < 1) return refuse(t('bad serial'));
  if (typeof data.created !== 'string') return refuse(t('bad creation time'));
  if (!Array.isArray(data.files) || data.files.length === 0 || data.files.length > MAX_FILES) return refuse(t('bad file list'));
  const seen = new Set<string>();
  for (const file of data.files as unknown[]) {
    if (!isObject(file) || typeof file.name !== 'string' || !FILE_NAME.test(file.name) || file.name === BUNDLE_NAME)
      return refuse(t('bad file name {name}', { name: JSON.stringify(isObject(file) ? file.name : file) }));
    if (seen.has(file.name)) return refuse(t('{name} is listed twice', { name: file.name }));
    seen.add(file.name);
    if (!Number.isSafeInteger(file.size) || (file.size as number) < 0 || (file.size as number) > MAX_FILE_BYTES)
      return refuse(t('bad size of {name}', { name: file.name }));
    if (typeof file.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(file.sha256)) return refuse(t('bad hash of {name}', { name: file.name }));
  }
  if (!seen.has(PUBLISHED_POLICY_NAME)) return refuse(t('it lists no {name}', { name: PUBLISHED_POLICY_NAME }));
  return data as unknown as Manifest;
}

/** Checks a bundle file against the pin; returns the manifest it vouches for. */
export function verifyEnvelope(text: string, pin: Pin, where: string): { manifest: Manifest; text: string; fingerprint?: string } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    data = undefined;
  }
  if (!isObject(data) || data.format !== 'podsec-trust-bundle' || data.version !== 1 || typeof data.manifest !== 'string') {
    throw new BundleRefusedError(t('{file} is not a podsec trust bundle', { file: where }));
  }
  const manifest = data.manifest;
  if (pin.kind === 'sha256') {
    const actual = sha256(manifest);
    if (actual !== pin.value) {
      throw new BundleRefusedError(
        t('{file}: the manifest has SHA-256 {actual}, not the pinned {expected}: the bundle was changed or ' + 'is not the one the master printed', {
          file: where,
          actual,
          expected: pin.value,
        }),
      );
    }
    return { manifest: parseManifest(manifest, where), text: manifest };
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(String(data.publicKey));
  } catch {
    throw new BundleRefusedError(t('{file}: the trust key in the bundle cannot be read', { file: where }));
  }
  const fingerprint = fingerprintOf(publicKey);
  if (publicKey.asymmetricKeyType !== 'ed25519' || fingerprint !== pin.value) {
    throw new BundleRefusedError(
      t('{file}: signed by the key {actual}, not by the pinned trust key {expected}', {
        file: where,
        actual: formatFingerprint(fingerprint),
        expected: formatFingerprint(pin.value),
      }),
    );
  }
  const signature = Buffer.from(typeof data.signature === 'string' ? data.signature : '', 'base64');
  if (signature.length !== 64 || !verify(null, Buffer.from(manifest), publicKey, signature)) {
    throw new BundleRefusedError(t('{file}: the signature of the manifest does not verify: the bundle was tampered with', { file: where }));
  }
  return { manifest: parseManifest(manifest, where), text: manifest, fingerprint };
}
