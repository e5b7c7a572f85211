/**
 * NaCl secretbox (XSalsa20-Poly1305) as go-securesystemslib's `encrypted` package uses it for
 * sigstore private keys: the box is the 16-byte tag followed by the ciphertext (Go's
 * secretbox.Seal). The cipher is @noble/ciphers' audited, constant-time implementation.
 */
import { poly1305 as nobleMac } from '@noble/ciphers/_poly1305';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa';

const KEY_BYTES = 32;
export const NONCE_BYTES = 24;

function checkSizes(nonce: Uint8Array, key: Uint8Array): void {
  if (nonce.length !== NONCE_BYTES) throw new Error(`secretbox: the nonce must be ${NONCE_BYTES} bytes, not ${nonce.length}`);
  if (key.length !== KEY_BYTES) throw new Error(`secretbox: the key must be ${KEY_BYTES} bytes, not ${key.length}`);
}

export function secretboxSeal(message: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array {
  checkSizes(nonce, key);
  return xsalsa20poly1305(key, nonce).encrypt(message);
}

/** The message, or undefined when the box does not authenticate under this key and nonce. */
export function secretboxOpen(box: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | undefined {
  checkSizes(nonce, key);
  try {
    return xsalsa20poly1305(key, nonce).decrypt(box);
  } catch {
    return undefined;
  }
}

/** The Poly1305 tag of `message` under a one-time key (the MAC inside the box; its own known-answer test checks it). */
export const poly1305 = (oneTimeKey: Uint8Array, message: Uint8Array): Uint8Array => nobleMac(message, oneTimeKey);
