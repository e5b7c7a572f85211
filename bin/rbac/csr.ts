/**
 * A client key and a PKCS#10 certificate signing request made with node:crypto. The subject is
 * DER-encoded from the user and group names as data (one UTF8String per attribute), so a name can't
 * change the distinguished name the way a `-subj "/CN=…/O=…"` string does. `openssl req -verify`
 * checks what this produces (test/tools/rbac-commands.test.ts).
 */
import { createPublicKey, generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';

const der = (tag: number, body: Buffer): Buffer => {
  const n = body.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, body]);
};
const sequence = (...items: Buffer[]) => der(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => der(0x31, Buffer.concat(items));
const integerZero = () => der(0x02, Buffer.from([0]));
const utf8 = (text: string) => der(0x0c, Buffer.from(text, 'utf8'));
const nullValue = () => der(0x05, Buffer.alloc(0));
const bitString = (bytes: Buffer) => der(0x03, Buffer.concat([Buffer.from([0]), bytes]));

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes: number[] = [40 * parts[0]! + parts[1]!];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [part & 0x7f];
    for (let v = Math.floor(part / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}

const OID_COMMON_NAME = '2.5.4.3';
const OID_ORGANIZATION = '2.5.4.10';
const OID_SHA256_WITH_RSA = '1.2.840.113549.1.1.11';

/** The subject Name: CN=<user>, then one O=<group> per group, in order (as upstream's -subj). */
export function subjectName(commonName: string, organizations: string[]): Buffer {
  const rdn = (type: string, value: string) => set(sequence(oid(type), utf8(value)));
  return sequence(rdn(OID_COMMON_NAME, commonName), ...organizations.map((o) => rdn(OID_ORGANIZATION, o)));
}

export interface ClientKey {
  privateKey: KeyObject;
  /** PKCS#8 PEM. */
  privateKeyPem: string;
}

export function generateClientKey(): ClientKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKey, privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

const pem = (label: string, bytes: Buffer) =>
  `-----BEGIN ${label}-----\n${bytes
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END ${label}-----\n`;

/** A PEM "CERTIFICATE REQUEST" for the subject, signed with the key (sha256WithRSAEncryption). */
export function createCsr(key: KeyObject, commonName: string, organizations: string[]): string {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const info = sequence(integerZero(), subjectName(commonName, organizations), spki, der(0xa0, Buffer.alloc(0)));
  const signature = sign('sha256', info, key);
  return pem('CERTIFICATE REQUEST', sequence(info, sequence(oid(OID_SHA256_WITH_RSA), nullValue()), bitString(signature)));
}

/** Whether the PEM certificate was issued for this private key (upstream compared modulus MD5s). */
export function certificateMatchesKey(certificatePem: string, key: KeyObject): boolean {
  try {
    return new X509Certificate(certificatePem).checkPrivateKey(key);
  } catch {
    return false;
  }
}
