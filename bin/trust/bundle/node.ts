/**
 * The node side: fetching the master's bundle and the files it lists, and the node's memory of
 * the pin and the serial it accepted (/var/lib/podsec/trust/node.json), which refuses a replayed
 * older bundle.
 */
import { join } from 'node:path';
import { CommandError } from '../../lib/command.ts';
import { parsePolicy, PolicySyntaxError, type ContainersPolicy } from '../../lib/containers-policy.ts';
import { httpGet, HttpError } from '../../lib/http.ts';
import { translator } from '../../lib/i18n.ts';
import { PODSEC_STATE_DIR } from '../../lib/names.ts';
import { atomicWrite, openTrustedDir, safeMkdir } from '../../lib/safe-fs.ts';
import {
  BUNDLE_NAME,
  EXIT_SERVER_UNREACHABLE,
  isObject,
  MAX_FILE_BYTES,
  NODE_STATE_FILE,
  NODE_STATE_NAME,
  normalizeHash,
  PUBLISHED_POLICY_NAME,
  referencedKeys,
  sha256,
  TRUST_STATE_DIR,
  type Manifest,
  type Pin,
} from './format.ts';
import { BundleRefusedError, verifyEnvelope } from './verify.ts';

const t = translator('podsec');
const FETCH_TIMEOUT_MS = 15_000;

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
    if (error instanceof SyntaxError)
      throw new CommandError(t('{file} is damaged; remove it and pass --trust-fingerprint again', { file: join(TRUST_STATE_DIR, NODE_STATE_NAME) }), 1);
    throw error;
  } finally {
    dir.close();
  }
}

function nodeStateText(state: NodeTrustState): string {
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

interface FetchOptions {
  /** Where the files are: http://<master>:81/keys/ (ends with "/"). */
  baseUrl: string;
  /** Host header: sigstore.local:81 when connecting to the master's address directly. */
  host?: string;
  pin: Pin;
  /** What this node accepted before: a bundle with a lower serial is refused, whatever the pin. */
  previous?: NodeTrustState;
  /** A node that has accepted no bundle yet refuses one created longer than this before `now` (undefined: any age). */
  maxAgeDays?: number;
  now: Date;
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

const MAX_BUNDLE_AGE_OPTION = '--max-bundle-age';
export const DEFAULT_MAX_BUNDLE_AGE_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Replays: the serial never goes back, whatever the pin (a node re-pinned by checksum or by
 * fingerprint must not take an older policy), and a node that has accepted nothing yet refuses an
 * old bundle, as it has no serial to compare with.
 */
function checkFreshness(manifest: Manifest, manifestSha256: string, options: FetchOptions, bundleUrl: string): void {
  const previous = options.previous;
  if (previous) {
    if (manifest.serial < previous.serial || (manifest.serial === previous.serial && manifestSha256 !== previous.manifestSha256)) {
      throw new BundleRefusedError(
        t('{url}: the bundle (serial {serial}) is older than the one this node accepted (serial ' + '{accepted}): an old bundle is being replayed', {
          url: bundleUrl,
          serial: manifest.serial,
          accepted: previous.serial,
        }),
      );
    }
    return;
  }
  if (options.maxAgeDays === undefined) return;
  const created = Date.parse(manifest.created);
  const ageDays = (options.now.getTime() - created) / DAY_MS;
  if (!Number.isFinite(created) || ageDays > options.maxAgeDays) {
    throw new BundleRefusedError(
      t(
        '{url}: the bundle was created {created}, more than {days} days ago ({option}), and this node has accepted no ' +
          'bundle before: an old bundle may be replayed. Re-run podsec-create-policy on the master to sign it anew, or ' +
          'pass {option} with more days (0: any age)',
        { url: bundleUrl, created: manifest.created, days: options.maxAgeDays, option: MAX_BUNDLE_AGE_OPTION },
      ),
    );
  }
}

async function fetchOnce(options: FetchOptions): Promise<FetchedBundle> {
  const bundleUrl = new URL(BUNDLE_NAME, options.baseUrl).href;
  let envelopeBytes: Buffer;
  try {
    envelopeBytes = await get(bundleUrl, options, MAX_FILE_BYTES);
  } catch (error) {
    if (error instanceof HttpStatusError && error.status === 404) {
      throw new CommandError(
        t('{url}: the signature server publishes no trust bundle; run podsec-create-policy on the master ' + 'first', { url: bundleUrl }),
        EXIT_SERVER_UNREACHABLE,
      );
    }
    throw error;
  }
  const envelope = envelopeBytes.toString('utf8');
  const { manifest, text } = verifyEnvelope(envelope, options.pin, bundleUrl);
  const manifestSha256 = sha256(text);
  checkFreshness(manifest, manifestSha256, options, bundleUrl);
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
