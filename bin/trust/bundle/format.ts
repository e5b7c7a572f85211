/**
 * The trust bundle's format: how a node learns the master's policy and image makers' public keys without
 * trusting the network.
 *
 * The master holds an Ed25519 trust key (/var/lib/podsec/trust/master-key.pem, root only). It
 * publishes, next to upstream's files in /var/sigstore/keys, one file podsec-trust-bundle.json:
 *
 *   { "format": "podsec-trust-bundle", "version": 1,
 *     "manifest": "<the manifest, a JSON text>",
 *     "signature": "<base64 Ed25519 signature of the manifest's UTF-8 bytes>",
 *     "publicKey": "<the trust key, PEM SubjectPublicKeyInfo>" }
 *
 * The manifest lists every published file (policy.json and each key the policy names) with its
 * size and SHA-256, a serial that only grows, and the time it was made. A node accepts the bundle
 * when either
 *  - the trust key's fingerprint (SHA-256 of its DER SubjectPublicKeyInfo) equals the one the admin
 *    pinned with --trust-fingerprint and the signature verifies (the master prints the fingerprint;
 *    it stays the same when makers are added), or
 *  - the SHA-256 of the manifest text equals the one pinned with --trust-sha256 (the master prints
 *    it too; it changes with every new bundle),
 * and then fetches each listed file and checks its size and hash. Anything that does not match is
 * refused before the node changes anything. A node remembers the serial it accepted and refuses an
 * older bundle under the same pin (a replayed old policy).
 *
 * By hand: `jq -r .manifest podsec-trust-bundle.json > m; jq -r .signature … | base64 -d > s;
 * jq -r .publicKey … > k.pem; openssl pkeyutl -verify -pubin -inkey k.pem -rawin -in m -sigfile s`,
 * and `openssl pkey -pubin -in k.pem -outform DER | sha256sum` is the fingerprint.
 *
 * Making the key: key.ts; publishing on the master: publish.ts; checking a bundle: verify.ts;
 * a node's fetch and its memory of what it accepted: node.ts.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { ContainersPolicy } from '../../lib/containers-policy.ts';
import { PODSEC_STATE_DIR, SIGSTORE_ROOT } from '../../lib/names.ts';

export const TRUST_STATE_DIR = `${PODSEC_STATE_DIR}/trust`;
export const MASTER_KEY_NAME = 'master-key.pem';
export const MASTER_KEY_FILE = `${TRUST_STATE_DIR}/${MASTER_KEY_NAME}`;
export const NODE_STATE_NAME = 'node.json';
export const NODE_STATE_FILE = `${TRUST_STATE_DIR}/${NODE_STATE_NAME}`;
export const KEYS_DIR = `${SIGSTORE_ROOT}/keys`;
export const PUBLISHED_POLICY_NAME = 'policy.json';
export const BUNDLE_NAME = 'podsec-trust-bundle.json';

/** Exit codes of the node bootstrap. */
export const EXIT_BUNDLE_REFUSED = 4;
export const EXIT_SERVER_UNREACHABLE = 5;

export const MAX_FILE_BYTES = 4 * 1024 * 1024;
export const MAX_FILES = 1000;
/** A published file name: no path, not hidden, no temp or history look-alikes. */
export const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$/;

export interface ManifestFile {
  name: string;
  size: number;
  sha256: string;
}

export interface Manifest {
  format: 'podsec-trust-manifest';
  version: 1;
  serial: number;
  created: string;
  files: ManifestFile[];
}

export type Pin = { kind: 'fingerprint'; value: string } | { kind: 'sha256'; value: string };

export const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The trust key's fingerprint: SHA-256 of its DER SubjectPublicKeyInfo, 64 lowercase hex digits. */
export function fingerprintOf(publicKey: KeyObject): string {
  return sha256(publicKey.export({ type: 'spki', format: 'der' }));
}

/** 16 groups of 4 hex digits, easier to read aloud and compare. */
export function formatFingerprint(hex: string): string {
  return hex.match(/.{1,4}/g)!.join(' ');
}

/** A pinned hash as typed by an admin (any case, spaces or colons between digits), or undefined if it is not 64 hex digits. */
export function normalizeHash(text: string): string | undefined {
  const hex = text.replace(/[\s:]/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

export function manifestText(manifest: Manifest): string {
  return JSON.stringify(manifest, null, 2) + '\n';
}

/** Key files the policy names: those in /var/sigstore/keys (published) and those elsewhere (nodes can't get them). */
export function referencedKeys(policy: ContainersPolicy): { names: string[]; elsewhere: string[] } {
  const names = new Set<string>();
  const elsewhere = new Set<string>();
  for (const scopes of Object.values(policy.transports ?? {})) {
    for (const requirements of Object.values(scopes)) {
      for (const requirement of requirements) {
        if (requirement.type !== 'signedBy' && requirement.type !== 'sigstoreSigned') continue;
        for (const path of [requirement.keyPath, ...(requirement.keyPaths ?? [])]) {
          if (path === undefined) continue;
          const name = path.startsWith(`${KEYS_DIR}/`) ? path.slice(KEYS_DIR.length + 1) : undefined;
          if (name !== undefined && FILE_NAME.test(name) && name !== BUNDLE_NAME && name !== PUBLISHED_POLICY_NAME) names.add(name);
          else elsewhere.add(path);
        }
      }
    }
  }
  return { names: [...names].sort(), elsewhere: [...elsewhere].sort() };
}
