/**
 * NaCl secretbox (XSalsa20-Poly1305), the cipher of the encrypted private-key format that
 * containers/image and cosign read (go-securesystemslib / go-tuf `encrypted`). node:crypto has
 * neither Salsa20 nor a bare Poly1305, so both are written out here from their specifications
 * (Bernstein: "The Salsa20 family of stream ciphers", "Extending the Salsa20 nonce",
 * "The Poly1305-AES message-authentication code"; NaCl's crypto_secretbox).
 *
 * Scope and why this is acceptable: podsec only *seals* one private key, once, with a fresh random
 * nonce, on the machine that generates it. The usual hazards of hand-written ciphers don't apply to
 * that use: there is no decryption oracle, no attacker-timed operation, no nonce reuse. `open` is
 * here for checking a passphrase before a long signing run; it compares tags in constant time.
 * Correctness is pinned by NaCl's published test vectors and by the real skopeo decrypting keys
 * we generate (test/unit/trust-sigstore-keys.test.ts, test/integration/trust-sigstore.test.ts).
 */
import { timingSafeEqual } from 'node:crypto';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;

const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]; // "expand 32-byte k"

const rotl = (v: number, c: number) => (v << c) | (v >>> (32 - c));

/** The 20-round Salsa20 core on a 16-word state; returns the state after the rounds, without feed-forward. */
function salsaRounds(input: Uint32Array): Uint32Array {
  const x = Uint32Array.from(input);
  const quarter = (a: number, b: number, c: number, d: number) => {
    x[b]! ^= rotl((x[a]! + x[d]!) | 0, 7);
    x[c]! ^= rotl((x[b]! + x[a]!) | 0, 9);
    x[d]! ^= rotl((x[c]! + x[b]!) | 0, 13);
    x[a]! ^= rotl((x[d]! + x[c]!) | 0, 18);
  };
  for (let i = 0; i < 10; i++) {
    // column round
    quarter(0, 4, 8, 12);
    quarter(5, 9, 13, 1);
    quarter(10, 14, 2, 6);
    quarter(15, 3, 7, 11);
    // row round
    quarter(0, 1, 2, 3);
    quarter(5, 6, 7, 4);
    quarter(10, 11, 8, 9);
    quarter(15, 12, 13, 14);
  }
  return x;
}

const word = (bytes: Uint8Array, offset: number) =>
  (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;

/** The Salsa20 input state: constants, the 32-byte key, and 16 bytes of nonce/counter. */
function state(key: Uint8Array, sixteen: Uint8Array): Uint32Array {
  const s = new Uint32Array(16);
  s[0] = SIGMA[0]!;
  s[5] = SIGMA[1]!;
  s[10] = SIGMA[2]!;
  s[15] = SIGMA[3]!;
  for (let i = 0; i < 4; i++) {
    s[1 + i] = word(key, 4 * i);
    s[11 + i] = word(key, 16 + 4 * i);
    s[6 + i] = word(sixteen, 4 * i);
  }
  return s;
}

/** HSalsa20: derives XSalsa20's subkey from the key and the first 16 nonce bytes. */
export function hsalsa20(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  const x = salsaRounds(state(key, nonce16));
  const out = new Uint8Array(32);
  const view = new DataView(out.buffer);
  [0, 5, 10, 15, 6, 7, 8, 9].forEach((index, i) => view.setUint32(4 * i, x[index]!, true));
  return out;
}

/** `length` bytes of the XSalsa20 key stream for a 32-byte key and a 24-byte nonce, from block 0. */
export function xsalsa20Stream(key: Uint8Array, nonce: Uint8Array, length: number): Uint8Array {
  const subkey = hsalsa20(key, nonce.subarray(0, 16));
  const input = new Uint8Array(16);
  input.set(nonce.subarray(16, 24), 0);
  const out = new Uint8Array(length);
  const block = new Uint8Array(64);
  const view = new DataView(block.buffer);
  for (let counter = 0, offset = 0; offset < length; counter++, offset += 64) {
    new DataView(input.buffer).setUint32(8, counter >>> 0, true);
    new DataView(input.buffer).setUint32(12, Math.floor(counter / 2 ** 32), true);
    const s = state(subkey, input);
    const x = salsaRounds(s);
    for (let i = 0; i < 16; i++) view.setUint32(4 * i, (x[i]! + s[i]!) >>> 0, true);
    out.set(block.subarray(0, Math.min(64, length - offset)), offset);
  }
  return out;
}

const P1305 = (1n << 130n) - 5n;

const littleEndian = (bytes: Uint8Array) => bytes.reduceRight((acc, b) => (acc << 8n) | BigInt(b), 0n);

/** Poly1305 one-time authenticator of `message` under a 32-byte one-time key (r ‖ s). */
export function poly1305(oneTimeKey: Uint8Array, message: Uint8Array): Uint8Array {
  const r = littleEndian(oneTimeKey.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = littleEndian(oneTimeKey.subarray(16, 32));
  let acc = 0n;
  for (let offset = 0; offset < message.length; offset += 16) {
    const chunk = message.subarray(offset, offset + 16);
    const n = littleEndian(chunk) + (1n << BigInt(8 * chunk.length));
    acc = ((acc + n) * r) % P1305;
  }
  let tag = (acc + s) & ((1n << 128n) - 1n);
  const out = new Uint8Array(TAG_BYTES);
  for (let i = 0; i < TAG_BYTES; i++, tag >>= 8n) out[i] = Number(tag & 0xffn);
  return out;
}

function check(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== KEY_BYTES) throw new RangeError(`secretbox key must be ${KEY_BYTES} bytes`);
  if (nonce.length !== NONCE_BYTES) throw new RangeError(`secretbox nonce must be ${NONCE_BYTES} bytes`);
}

/** crypto_secretbox as Go's golang.org/x/crypto/nacl/secretbox.Seal returns it: tag ‖ ciphertext. */
export function secretboxSeal(message: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array {
  check(key, nonce);
  const stream = xsalsa20Stream(key, nonce, 32 + message.length);
  const ciphertext = new Uint8Array(message.length);
  for (let i = 0; i < message.length; i++) ciphertext[i] = message[i]! ^ stream[32 + i]!;
  const out = new Uint8Array(TAG_BYTES + message.length);
  out.set(poly1305(stream.subarray(0, 32), ciphertext), 0);
  out.set(ciphertext, TAG_BYTES);
  return out;
}

/** The inverse of secretboxSeal; undefined when the tag does not verify (wrong key or damaged box). */
export function secretboxOpen(box: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | undefined {
  check(key, nonce);
  if (box.length < TAG_BYTES) return undefined;
  const ciphertext = box.subarray(TAG_BYTES);
  const stream = xsalsa20Stream(key, nonce, 32 + ciphertext.length);
  const expected = poly1305(stream.subarray(0, 32), ciphertext);
  if (!timingSafeEqual(expected, box.subarray(0, TAG_BYTES))) return undefined;
  const message = new Uint8Array(ciphertext.length);
  for (let i = 0; i < ciphertext.length; i++) message[i] = ciphertext[i]! ^ stream[32 + i]!;
  return message;
}
