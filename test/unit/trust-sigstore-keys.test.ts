/**
 * The sigstore private-key format podsec generates (scrypt + NaCl secretbox, as go-securesystemslib
 * encrypts and containers/image decrypts): the cipher against published vectors, the key files
 * against their own decoder. That the real skopeo and podman accept them is proven in
 * test/integration/trust-sigstore.test.ts.
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { poly1305, secretboxOpen, secretboxSeal } from '../../bin/trust/keys/secretbox.ts';
import {
  decryptSigstorePrivateKey,
  generateSigstoreKeyPair,
  parsePublicKeyPem,
  PRIVATE_KEY_PEM_TYPE,
  publicPemOf,
  samePublicKey,
  SigstoreKeyError,
} from '../../bin/trust/keys/sigstore-key.ts';

const hex = (h: string) => Buffer.from(h, 'hex');

// NaCl's tests/secretbox.c (crypto_secretbox_xsalsa20poly1305), also in tweetnacl's test suite.
const NACL_KEY = hex('1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389');
const NACL_NONCE = hex('69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37');
const NACL_MESSAGE = hex(
  'be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db6' +
    '6cce314adb310e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f937763848645e0705',
);
const NACL_BOX = hex(
  'f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c97271d2c20f9b928fe2270d6' +
    'fb863d51738b48eeee314a7cc8ab932164548e526ae902243685' +
    '17acfeabd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74e355a5',
);

test("secretbox: NaCl test vector (tag ‖ ciphertext, as Go's secretbox.Seal)", () => {
  assert.is(Buffer.from(secretboxSeal(NACL_MESSAGE, NACL_NONCE, NACL_KEY)).toString('hex'), NACL_BOX.toString('hex'));
  assert.is(Buffer.from(secretboxOpen(NACL_BOX, NACL_NONCE, NACL_KEY)!).toString('hex'), NACL_MESSAGE.toString('hex'));
});

test('poly1305: RFC 8439 §2.5.2 vector', () => {
  const key = hex('85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b');
  assert.is(Buffer.from(poly1305(key, Buffer.from('Cryptographic Forum Research Group'))).toString('hex'), 'a8061dc1305136c6c22b8baf0c0127a9');
});

test('secretbox: round trips over block boundaries; any flipped bit or wrong key fails to open', () => {
  for (const length of [0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000, 4097]) {
    const message = randomBytes(length);
    const nonce = randomBytes(24);
    const key = randomBytes(32);
    const box = Buffer.from(secretboxSeal(message, nonce, key));
    assert.is(box.length, length + 16);
    assert.ok(Buffer.from(secretboxOpen(box, nonce, key)!).equals(message), `length ${length}`);
    const bit = Math.floor(Math.random() * box.length * 8);
    box[bit >> 3]! ^= 1 << (bit & 7);
    assert.is(secretboxOpen(box, nonce, key), undefined);
    box[bit >> 3]! ^= 1 << (bit & 7);
    assert.is(secretboxOpen(box, nonce, randomBytes(32)), undefined);
  }
});

test('secretbox: wrong key or nonce sizes are errors', () => {
  assert.throws(() => secretboxSeal(Buffer.alloc(1), Buffer.alloc(23), Buffer.alloc(32)), /nonce/);
  assert.throws(() => secretboxSeal(Buffer.alloc(1), Buffer.alloc(24), Buffer.alloc(31)), /key/);
});

test('key pair: encrypted PEM of the type skopeo 1.9 reads, scrypt N=32768 r=8 p=1, and it decrypts to the public key', () => {
  const pair = generateSigstoreKeyPair(Buffer.from('passphrase'));
  const [first, ...rest] = pair.privateKeyPem.trimEnd().split('\n');
  assert.is(first, `-----BEGIN ${PRIVATE_KEY_PEM_TYPE}-----`);
  assert.is(rest.pop(), `-----END ${PRIVATE_KEY_PEM_TYPE}-----`);
  assert.ok(rest.every((line) => line.length <= 64));
  const envelope = JSON.parse(Buffer.from(rest.join(''), 'base64').toString('utf8'));
  assert.equal(Object.keys(envelope), ['kdf', 'cipher', 'ciphertext']);
  assert.equal(envelope.kdf.name, 'scrypt');
  assert.equal(envelope.kdf.params, { N: 32768, r: 8, p: 1 });
  assert.is(Buffer.from(envelope.kdf.salt, 'base64').length, 32);
  assert.is(envelope.cipher.name, 'nacl/secretbox');
  assert.is(Buffer.from(envelope.cipher.nonce, 'base64').length, 24);
  const key = decryptSigstorePrivateKey(pair.privateKeyPem, Buffer.from('passphrase'));
  assert.is(key.asymmetricKeyType, 'ec');
  assert.equal(key.asymmetricKeyDetails, { namedCurve: 'prime256v1' });
  assert.is(publicPemOf(key), pair.publicKeyPem);
  assert.ok(samePublicKey(parsePublicKeyPem(pair.publicKeyPem), createPublicKey(key)));
});

test('key pair: a wrong passphrase, changed parameters or another PEM type are refused', () => {
  const pair = generateSigstoreKeyPair(Buffer.from('right'));
  assert.throws(
    () => decryptSigstorePrivateKey(pair.privateKeyPem, Buffer.from('wrong')),
    (e: unknown) => e instanceof SigstoreKeyError && /wrong passphrase/.test((e as Error).message),
  );
  const body = pair.privateKeyPem.split('\n').slice(1, -2).join('');
  const envelope = JSON.parse(Buffer.from(body, 'base64').toString('utf8'));
  envelope.kdf.params.N = 1024;
  const weakened =
    `-----BEGIN ${PRIVATE_KEY_PEM_TYPE}-----\n${Buffer.from(JSON.stringify(envelope)).toString('base64')}` + `\n-----END ${PRIVATE_KEY_PEM_TYPE}-----\n`;
  assert.throws(() => decryptSigstorePrivateKey(weakened, Buffer.from('right')), /key derivation parameters/);
  const retyped = pair.privateKeyPem.replaceAll(PRIVATE_KEY_PEM_TYPE, 'EC PRIVATE KEY');
  assert.throws(() => decryptSigstorePrivateKey(retyped, Buffer.from('right')), /unsupported PEM type/);
  const sigstoreType = pair.privateKeyPem.replaceAll(PRIVATE_KEY_PEM_TYPE, 'ENCRYPTED SIGSTORE PRIVATE KEY');
  assert.is(publicPemOf(decryptSigstorePrivateKey(sigstoreType, Buffer.from('right'))), pair.publicKeyPem);
});

test('key pair: an empty passphrase works (unattended signing), and each key is new', () => {
  const a = generateSigstoreKeyPair(Buffer.alloc(0));
  const b = generateSigstoreKeyPair(Buffer.alloc(0));
  assert.is(publicPemOf(decryptSigstorePrivateKey(a.privateKeyPem, Buffer.alloc(0))), a.publicKeyPem);
  assert.is.not(a.publicKeyPem, b.publicKeyPem);
  assert.not.ok(samePublicKey(parsePublicKeyPem(a.publicKeyPem), parsePublicKeyPem(b.publicKeyPem)));
});

test.run();
