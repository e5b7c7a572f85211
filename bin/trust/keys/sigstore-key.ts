/**
 * Sigstore signing keys in the format containers/image (skopeo, podman) reads for
 * `--sign-by-sigstore-private-key`, generated here because skopeo 1.9 has no command for it.
 *
 * Private key: an ECDSA P-256 key as PKCS#8 DER, encrypted as go-securesystemslib's `encrypted`
 * package does it (scrypt N=32768 r=8 p=1, 32-byte salt; NaCl secretbox with a 24-byte nonce),
 * the resulting JSON wrapped in PEM. The PEM type is `ENCRYPTED COSIGN PRIVATE KEY`: containers/image
 * 5.23 (skopeo 1.9) accepts only that type; later versions accept it and `ENCRYPTED SIGSTORE PRIVATE KEY`.
 * Public key: SubjectPublicKeyInfo PEM (`PUBLIC KEY`), what `sigstoreSigned` keyPath expects.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, scryptSync, type KeyObject } from 'node:crypto';
import { translator } from '../../lib/i18n.ts';
import { NONCE_BYTES, secretboxOpen, secretboxSeal } from './secretbox.ts';

const t = translator('podsec');

export const PRIVATE_KEY_PEM_TYPE = 'ENCRYPTED COSIGN PRIVATE KEY';
const ACCEPTED_PEM_TYPES = [PRIVATE_KEY_PEM_TYPE, 'ENCRYPTED SIGSTORE PRIVATE KEY'];
/** The only parameters go-securesystemslib accepts when decrypting (it refuses others as a DoS guard). */
const SCRYPT = { N: 32768, r: 8, p: 1 } as const;
const SALT_BYTES = 32;
const MAX_PEM_BYTES = 64 * 1024;

export class SigstoreKeyError extends Error {}

interface SigstoreKeyPair {
  /** The encrypted private key, PEM. */
  privateKeyPem: string;
  /** The public key, SubjectPublicKeyInfo PEM. */
  publicKeyPem: string;
}

function deriveKey(passphrase: Uint8Array, salt: Uint8Array): Buffer {
  return scryptSync(passphrase, salt, 32, { ...SCRYPT, maxmem: 64 * 1024 * 1024 });
}

function pem(type: string, body: Uint8Array): string {
  const base64 = Buffer.from(body).toString('base64');
  return `-----BEGIN ${type}-----\n${base64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${type}-----\n`;
}

/** Encrypts PKCS#8 DER bytes into the `encrypted` JSON document. */
function encryptPrivateKeyDer(der: Uint8Array, passphrase: Uint8Array): Buffer {
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const ciphertext = secretboxSeal(der, nonce, deriveKey(passphrase, salt));
  const document = {
    kdf: { name: 'scrypt', params: SCRYPT, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(ciphertext).toString('base64'),
  };
  return Buffer.from(JSON.stringify(document));
}

/** A new ECDSA P-256 key pair; the private key encrypted with `passphrase` (may be empty). */
export function generateSigstoreKeyPair(passphrase: Uint8Array): SigstoreKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = privateKey.export({ type: 'pkcs8', format: 'der' });
  return {
    privateKeyPem: pem(PRIVATE_KEY_PEM_TYPE, encryptPrivateKeyDer(der, passphrase)),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function pemBody(text: string): { type: string; body: Buffer } {
  const match = /-----BEGIN ([A-Z ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END \1-----/.exec(text);
  if (!match) throw new SigstoreKeyError(t('not a PEM file'));
  return { type: match[1]!, body: Buffer.from(match[2]!.replace(/\s+/g, ''), 'base64') };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Decrypts an encrypted sigstore private key, as containers/image would; throws SigstoreKeyError
 * naming what is wrong (not a key, unsupported parameters, wrong passphrase).
 */
export function decryptSigstorePrivateKey(text: string, passphrase: Uint8Array): KeyObject {
  if (text.length > MAX_PEM_BYTES) throw new SigstoreKeyError(t('the key file is too large'));
  const { type, body } = pemBody(text);
  if (!ACCEPTED_PEM_TYPES.includes(type)) throw new SigstoreKeyError(t('unsupported PEM type {type}', { type }));
  let document: unknown;
  try {
    document = JSON.parse(body.toString('utf8'));
  } catch {
    throw new SigstoreKeyError(t('the encrypted key is not valid JSON'));
  }
  const kdf = isObject(document) && isObject(document.kdf) ? document.kdf : undefined;
  const params = kdf && isObject(kdf.params) ? kdf.params : undefined;
  const cipher = isObject(document) && isObject(document.cipher) ? document.cipher : undefined;
  if (!kdf || kdf.name !== 'scrypt' || !params || params.N !== SCRYPT.N || params.r !== SCRYPT.r || params.p !== SCRYPT.p || typeof kdf.salt !== 'string') {
    throw new SigstoreKeyError(t('unsupported key derivation parameters'));
  }
  if (!cipher || cipher.name !== 'nacl/secretbox' || typeof cipher.nonce !== 'string' || !isObject(document) || typeof document.ciphertext !== 'string') {
    throw new SigstoreKeyError(t('unsupported cipher'));
  }
  const nonce = Buffer.from(cipher.nonce, 'base64');
  if (nonce.length !== NONCE_BYTES) throw new SigstoreKeyError(t('unsupported cipher'));
  const der = secretboxOpen(Buffer.from(document.ciphertext, 'base64'), nonce, deriveKey(passphrase, Buffer.from(kdf.salt, 'base64')));
  if (!der) throw new SigstoreKeyError(t('wrong passphrase (decryption failed)'));
  try {
    return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
  } catch {
    throw new SigstoreKeyError(t('the decrypted key is not a PKCS#8 private key'));
  }
}

/** The public key (SPKI PEM) of a decrypted private key, for comparing with a policy's keyPath. */
export function publicPemOf(privateKey: KeyObject): string {
  return createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
}

/** Parses a public key PEM; throws SigstoreKeyError when it isn't one. */
export function parsePublicKeyPem(text: string): KeyObject {
  if (text.length > MAX_PEM_BYTES) throw new SigstoreKeyError(t('the key file is too large'));
  const { type } = pemBody(text);
  if (type !== 'PUBLIC KEY') throw new SigstoreKeyError(t('expected a PUBLIC KEY PEM, found {type}', { type }));
  try {
    return createPublicKey({ key: text, format: 'pem' });
  } catch {
    throw new SigstoreKeyError(t('not a valid public key'));
  }
}

/** Do two public keys (SPKI PEM or KeyObject) denote the same key? */
export function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  const der = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });
  return der(a).equals(der(b));
}
