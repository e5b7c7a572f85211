/**
 * The trust bundle: how a node learns the master's policy and image makers' public keys without
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
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { CommandError } from '../../lib/command.ts';
import { parsePolicy, PolicySyntaxError, type ContainersPolicy } from '../../lib/containers-policy.ts';
import { translator } from '../../lib/i18n.ts';
import { PODSEC_STATE_DIR, SIGSTORE_ROOT } from '../../lib/names.ts';
import { atomicWrite, openTrustedDir, readRegularFile, safeMkdir, UnsafePathError } from '../../lib/safe-fs.ts';
import { httpGet, HttpError } from '../../lib/http.ts';

const t = translator('podsec');

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

const MAX_FILE_BYTES = 4 * 1024 * 1024;
const MAX_FILES = 1000;
const FETCH_TIMEOUT_MS = 15_000;
/** A published file name: no path, not hidden, no temp or history look-alikes. */
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$/;

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

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

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

// ---------------------------------------------------------------------------------------------
// The master side

/** The master's trust key, or undefined when this host has none yet. */
export function readMasterKey(root: string): KeyObject | undefined {
  let dir;
  try {
    dir = openTrustedDir(join(root, TRUST_STATE_DIR), { root });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const st = dir.lstat(MASTER_KEY_NAME);
    if (!st) return undefined;
    if (!st.isFile() || st.uid !== 0 || st.mode & 0o077) {
      throw new UnsafePathError(join(root, MASTER_KEY_FILE), t('the trust key must be a regular file of root with mode 0600'));
    }
    return createPrivateKey(dir.readFile(MASTER_KEY_NAME, 64 * 1024));
  } finally {
    dir.close();
  }
}

/** A new trust key (not saved yet: see installMasterKey). */
export function newMasterKey(): KeyObject {
  return generateKeyPairSync('ed25519').privateKey;
}

/**
 * Saves the master's trust key (0600 root in a 0700 root directory). It never replaces a key: if
 * another run saved one in the meantime, this fails and nothing signed with `key` is published.
 */
export function installMasterKey(root: string, key: KeyObject): void {
  safeMkdir(join(root, PODSEC_STATE_DIR), { mode: 0o755, uid: 0, gid: 0, root });
  safeMkdir(join(root, TRUST_STATE_DIR), { mode: 0o700, uid: 0, gid: 0, root });
  const dir = openTrustedDir(join(root, TRUST_STATE_DIR), { root });
  try {
    dir.writeFile(MASTER_KEY_NAME, key.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600, uid: 0, gid: 0, noReplace: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CommandError(t('{file} was created by another run at the same time; run the command again', { file: MASTER_KEY_FILE }), 1);
    }
    throw error;
  } finally {
    dir.close();
  }
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

/** A key file to publish: a regular file of root that nobody else can write (makers must not swap keys). */
function readPublishableKey(root: string, name: string): Buffer {
  const dir = openTrustedDir(join(root, KEYS_DIR), { root });
  try {
    const st = dir.lstat(name);
    if (!st) throw new CommandError(t('{path}: the policy names this key, but it does not exist', { path: join(KEYS_DIR, name) }), 1);
    if (!st.isFile() || st.uid !== 0 || st.mode & 0o022) {
      throw new CommandError(
        t('{path}: a published key must be a regular file of root that only root can write (check that it is the right key, then: chown root:root {path}; chmod 0644 {path})', {
          path: join(KEYS_DIR, name),
        }),
        1,
      );
    }
    return dir.readFile(name, MAX_FILE_BYTES);
  } catch (error) {
    if (error instanceof UnsafePathError) throw new CommandError(error.message, 1);
    throw error;
  } finally {
    dir.close();
  }
}

export function manifestText(manifest: Manifest): string {
  return JSON.stringify(manifest, null, 2) + '\n';
}

export function envelopeText(manifest: string, privateKey: KeyObject): string {
  const publicKey = createPublicKey(privateKey);
  return (
    JSON.stringify(
      {
        format: 'podsec-trust-bundle',
        version: 1,
        manifest,
        signature: sign(null, Buffer.from(manifest), privateKey).toString('base64'),
        publicKey: publicKey.export({ type: 'spki', format: 'pem' }),
      },
      null,
      2,
    ) + '\n'
  );
}

export interface PublishPlan {
  changed: boolean;
  /** What would change, one translated line each. */
  changes: string[];
  /** Keys the policy names outside /var/sigstore/keys (nodes can't get them): one warning each. */
  warnings: string[];
  fingerprint: string;
  manifestSha256: string;
  serial: number;
  apply(): void;
}

function readOptional(path: string): Buffer | undefined {
  try {
    return readRegularFile(path, { maxBytes: MAX_FILE_BYTES });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Plans publishing `policyText` (the master's system policy) with the keys it names. The keys
 * are read from /var/sigstore/keys unless given in `pendingKeys` (a key a command is about to
 * install). Re-publishing unchanged content changes nothing. The caller creates /var/sigstore/keys.
 */
export function planPublish(
  root: string,
  policyText: string,
  options: { now: Date; masterKey: KeyObject; pendingKeys?: Map<string, Buffer> },
): PublishPlan {
  const policy = parsePolicy(policyText, PUBLISHED_POLICY_NAME);
  const { names, elsewhere } = referencedKeys(policy);
  const files: { name: string; bytes: Buffer }[] = [{ name: PUBLISHED_POLICY_NAME, bytes: Buffer.from(policyText) }];
  for (const name of names) files.push({ name, bytes: options.pendingKeys?.get(name) ?? readPublishableKey(root, name) });
  const listed: ManifestFile[] = files.map((f) => ({ name: f.name, size: f.bytes.length, sha256: sha256(f.bytes) })).sort((a, b) => a.name.localeCompare(b.name));
  const publicKey = createPublicKey(options.masterKey);
  const fingerprint = fingerprintOf(publicKey);
  const warnings = elsewhere.map((path) => t('the policy names the key {path}, which is not in {dir}: nodes will not receive it', { path, dir: KEYS_DIR }));

  const bundlePath = join(root, KEYS_DIR, BUNDLE_NAME);
  const policyPath = join(root, KEYS_DIR, PUBLISHED_POLICY_NAME);
  const currentBundle = readOptional(bundlePath);
  let current: { manifest: Manifest; text: string } | undefined;
  if (currentBundle) {
    try {
      current = verifyEnvelope(currentBundle.toString('utf8'), { kind: 'fingerprint', value: fingerprint }, BUNDLE_NAME);
    } catch {
      current = undefined; // not ours, or damaged: it is replaced
    }
  }
  const currentPolicy = readOptional(policyPath);
  const policyChanged = !currentPolicy?.equals(Buffer.from(policyText));
  const same = (a: ManifestFile[], b: ManifestFile[]) => JSON.stringify(a) === JSON.stringify(b);
  if (current && same(current.manifest.files, listed) && !policyChanged) {
    return { changed: false, changes: [], warnings, fingerprint, manifestSha256: sha256(current.text), serial: current.manifest.serial, apply: () => {} };
  }
  const serial = Math.max((current?.manifest.serial ?? 0) + 1, Math.floor(options.now.getTime() / 1000));
  const manifest = manifestText({ format: 'podsec-trust-manifest', version: 1, serial, created: options.now.toISOString(), files: listed });
  const envelope = envelopeText(manifest, options.masterKey);
  const changes = [
    ...(policyChanged ? [t('publish the policy as {path}', { path: join(KEYS_DIR, PUBLISHED_POLICY_NAME) })] : []),
    t('sign and publish the trust bundle {path} (serial {serial}, files: {count})', { path: join(KEYS_DIR, BUNDLE_NAME), serial, count: listed.length }),
  ];
  return {
    changed: true,
    changes,
    warnings,
    fingerprint,
    manifestSha256: sha256(manifest),
    serial,
    apply: () => {
      // The policy first: a node that fetches in between sees a mismatch and refuses (and retries).
      if (policyChanged) atomicWrite(policyPath, policyText, { mode: 0o644, uid: 0, gid: 0, root });
      atomicWrite(bundlePath, envelope, { mode: 0o644, uid: 0, gid: 0, root });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The node side

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
    if (!isObject(file) || typeof file.name !== 'string' || !FILE_NAME.test(file.name) || file.name === BUNDLE_NAME) return refuse(t('bad file name {name}', { name: JSON.stringify(isObject(file) ? file.name : file) }));
    if (seen.has(file.name)) return refuse(t('{name} is listed twice', { name: file.name }));
    seen.add(file.name);
    if (!Number.isSafeInteger(file.size) || (file.size as number) < 0 || (file.size as number) > MAX_FILE_BYTES) return refuse(t('bad size of {name}', { name: file.name }));
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
      throw new BundleRefusedError(t('{file}: the manifest has SHA-256 {actual}, not the pinned {expected}: the bundle was changed or is not the one the master printed', { file: where, actual, expected: pin.value }));
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
      t('{file}: signed by the key {actual}, not by the pinned trust key {expected}', { file: where, actual: formatFingerprint(fingerprint), expected: formatFingerprint(pin.value) }),
    );
  }
  const signature = Buffer.from(typeof data.signature === 'string' ? data.signature : '', 'base64');
  if (signature.length !== 64 || !verify(null, Buffer.from(manifest), publicKey, signature)) {
    throw new BundleRefusedError(t('{file}: the signature of the manifest does not verify: the bundle was tampered with', { file: where }));
  }
  return { manifest: parseManifest(manifest, where), text: manifest, fingerprint };
}

export interface NodeTrustState {
  pin: Pin;
  serial: number;
  manifestSha256: string;
}

export function readNodeState(root: string): NodeTrustState | undefined {
  const dirPath = join(root, TRUST_STATE_DIR);
  let dir;
  try {
    dir = openTrustedDir(dirPath, { root });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    if (!dir.lstat(NODE_STATE_NAME)) return undefined;
    const data: unknown = JSON.parse(dir.readFile(NODE_STATE_NAME, 64 * 1024).toString('utf8'));
    if (
      isObject(data) &&
      isObject(data.pin) &&
      (data.pin.kind === 'fingerprint' || data.pin.kind === 'sha256') &&
      typeof data.pin.value === 'string' &&
      normalizeHash(data.pin.value) === data.pin.value &&
      Number.isSafeInteger(data.serial) &&
      typeof data.manifestSha256 === 'string'
    ) {
      return data as unknown as NodeTrustState;
    }
    throw new CommandError(t('{file} is damaged; remove it and pass --trust-fingerprint again', { file: join(TRUST_STATE_DIR, NODE_STATE_NAME) }), 1);
  } catch (error) {
    if (error instanceof SyntaxError) throw new CommandError(t('{file} is damaged; remove it and pass --trust-fingerprint again', { file: join(TRUST_STATE_DIR, NODE_STATE_NAME) }), 1);
    throw error;
  } finally {
    dir.close();
  }
}

export function nodeStateText(state: NodeTrustState): string {
  return JSON.stringify(state, null, 2) + '\n';
}

export function writeNodeState(root: string, state: NodeTrustState): void {
  safeMkdir(join(root, PODSEC_STATE_DIR), { mode: 0o755, uid: 0, gid: 0, root });
  safeMkdir(join(root, TRUST_STATE_DIR), { mode: 0o700, uid: 0, gid: 0, root });
  atomicWrite(join(root, NODE_STATE_FILE), nodeStateText(state), { mode: 0o600, uid: 0, gid: 0, root });
}

export interface FetchedBundle {
  envelope: string;
  manifest: Manifest;
  manifestSha256: string;
  /** Every listed file, verified. */
  files: Map<string, Buffer>;
  policy: ContainersPolicy;
  policyText: string;
}

export interface FetchOptions {
  /** Where the files are: http://<master>:81/keys/ (ends with "/"). */
  baseUrl: string;
  /** Host header: sigstore.local:81 when connecting to the master's address directly. */
  host?: string;
  pin: Pin;
  /** What this node accepted before (refuse older bundles under the same pin). */
  previous?: NodeTrustState;
  timeoutMs?: number;
}

class HttpStatusError extends CommandError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message, EXIT_SERVER_UNREACHABLE);
  }
}

class MismatchError extends BundleRefusedError {}

const mismatch = (url: string) => t('{url} does not match the signed bundle (tampered with, or changed by the master during the download)', { url });

async function get(url: string, options: FetchOptions, maxBytes: number): Promise<Buffer> {
  let result;
  try {
    result = await httpGet(url, { host: options.host, timeoutMs: options.timeoutMs ?? FETCH_TIMEOUT_MS, maxBytes });
  } catch (error) {
    // An answer larger than announced is a mismatch, not a network problem.
    if (error instanceof HttpError && error.status !== undefined) throw new MismatchError(mismatch(url));
    throw new CommandError(t('cannot reach the signature server: {reason}', { reason: (error as Error).message }), EXIT_SERVER_UNREACHABLE);
  }
  if (result.status !== 200) throw new HttpStatusError(t('{url}: HTTP status {status}', { url, status: result.status }), result.status);
  return result.body;
}

async function fetchOnce(options: FetchOptions): Promise<FetchedBundle> {
  const bundleUrl = new URL(BUNDLE_NAME, options.baseUrl).href;
  let envelopeBytes: Buffer;
  try {
    envelopeBytes = await get(bundleUrl, options, MAX_FILE_BYTES);
  } catch (error) {
    if (error instanceof HttpStatusError && error.status === 404) {
      throw new CommandError(t('{url}: the signature server publishes no trust bundle; run podsec-create-policy on the master first', { url: bundleUrl }), EXIT_SERVER_UNREACHABLE);
    }
    throw error;
  }
  const envelope = envelopeBytes.toString('utf8');
  const { manifest, text } = verifyEnvelope(envelope, options.pin, bundleUrl);
  const manifestSha256 = sha256(text);
  const previous = options.previous;
  if (previous && previous.pin.kind === options.pin.kind && previous.pin.value === options.pin.value) {
    if (manifest.serial < previous.serial || (manifest.serial === previous.serial && manifestSha256 !== previous.manifestSha256)) {
      throw new BundleRefusedError(
        t('{url}: the bundle (serial {serial}) is older than the one this node accepted (serial {accepted}): an old bundle is being replayed', { url: bundleUrl, serial: manifest.serial, accepted: previous.serial }),
      );
    }
  }
  const files = new Map<string, Buffer>();
  for (const file of manifest.files) {
    const url = new URL(encodeURIComponent(file.name), options.baseUrl).href;
    const bytes = await get(url, options, file.size);
    if (bytes.length !== file.size || sha256(bytes) !== file.sha256) {
      throw new MismatchError(mismatch(url));
    }
    files.set(file.name, bytes);
  }
  const policyText = files.get(PUBLISHED_POLICY_NAME)!.toString('utf8');
  let policy: ContainersPolicy;
  try {
    policy = parsePolicy(policyText, new URL(PUBLISHED_POLICY_NAME, options.baseUrl).href);
  } catch (error) {
    if (error instanceof PolicySyntaxError) throw new BundleRefusedError(error.message);
    throw error;
  }
  for (const name of referencedKeys(policy).names) {
    if (!files.has(name)) throw new BundleRefusedError(t('the policy in the bundle names the key {name}, which the bundle does not contain', { name }));
  }
  return { envelope, manifest, manifestSha256, files, policy, policyText };
}

/**
 * Fetches and verifies the master's bundle. One retry after a hash mismatch covers a master that
 * was publishing at that moment; a second mismatch is refused.
 */
export async function fetchTrustBundle(options: FetchOptions): Promise<FetchedBundle> {
  try {
    return await fetchOnce(options);
  } catch (error) {
    if (!(error instanceof MismatchError)) throw error;
    await new Promise((resolve) => setTimeout(resolve, 500));
    return fetchOnce(options);
  }
}
