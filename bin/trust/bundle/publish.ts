/** Publishing on the master: the policy and the keys it names in /var/sigstore/keys, with the signed bundle over them. */
import { createPublicKey, sign, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { CommandError } from '../../lib/command.ts';
import { parsePolicy } from '../../lib/containers-policy.ts';
import { translator } from '../../lib/i18n.ts';
import { atomicWrite, openTrustedDir, readRegularFile, UnsafePathError } from '../../lib/safe-fs.ts';
import {
  BUNDLE_NAME,
  fingerprintOf,
  KEYS_DIR,
  manifestText,
  MAX_FILE_BYTES,
  PUBLISHED_POLICY_NAME,
  referencedKeys,
  sha256,
  type Manifest,
  type ManifestFile,
} from './format.ts';
import { verifyEnvelope } from './verify.ts';

const t = translator('podsec');
const RESIGN_AFTER_MS = 24 * 60 * 60 * 1000;

/** A key file to publish: a regular file of root that nobody else can write (makers must not swap keys). */
function readPublishableKey(root: string, name: string): Buffer {
  const dir = openTrustedDir(join(root, KEYS_DIR), { root });
  try {
    const st = dir.lstat(name);
    if (!st) throw new CommandError(t('{path}: the policy names this key, but it does not exist', { path: join(KEYS_DIR, name) }), 1);
    if (!st.isFile() || st.uid !== 0 || st.mode & 0o022) {
      throw new CommandError(
        t(
          '{path}: a published key must be a regular file of root that only root can write (check that it ' +
            'is the right key, then: chown root:root {path}; chmod 0644 {path})',
          {
            path: join(KEYS_DIR, name),
          },
        ),
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

interface PublishPlan {
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

/** The bytes of a file, or undefined when there is none. */
export function readOptional(path: string): Buffer | undefined {
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
export function planPublish(root: string, policyText: string, options: { now: Date; masterKey: KeyObject; pendingKeys?: Map<string, Buffer> }): PublishPlan {
  const policy = parsePolicy(policyText, PUBLISHED_POLICY_NAME);
  const { names, elsewhere } = referencedKeys(policy);
  const files: { name: string; bytes: Buffer }[] = [{ name: PUBLISHED_POLICY_NAME, bytes: Buffer.from(policyText) }];
  for (const name of names) files.push({ name, bytes: options.pendingKeys?.get(name) ?? readPublishableKey(root, name) });
  const listed: ManifestFile[] = files
    .map((f) => ({ name: f.name, size: f.bytes.length, sha256: sha256(f.bytes) }))
    .sort((a, b) => a.name.localeCompare(b.name));
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
  // A bundle older than a day is signed anew, so that a new node's age limit (node.ts) can be met by re-running.
  const fresh = current !== undefined && options.now.getTime() - Date.parse(current.manifest.created) < RESIGN_AFTER_MS;
  if (current && fresh && same(current.manifest.files, listed) && !policyChanged) {
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
