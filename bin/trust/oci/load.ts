/**
 * podsec-load-sign-oci's work (upstream's steps, with every check made first): unpack
 * `<arch>.tar.xz`, check every image name, check that the caller's key is the one the system policy wants for each destination,
 * then push and sign image by image with skopeo (one copy per image: OCI layout → registry, the
 * signature written through the maker's lookaside staging or, for sigstore, as an attachment).
 * Nothing is pushed until every check has passed; a failing copy stops the run naming the image.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CommandError } from '../../lib/command.ts';
import { parsePolicy, PolicySyntaxError, requirementsFor, type ContainersPolicy } from '../../lib/containers-policy.ts';
import { translator } from '../../lib/i18n.ts';
import { groupGid } from '../../lib/accounts.ts';
import { PODMAN_DEV_GROUP } from '../../lib/names.ts';
import { readRegularFile } from '../../lib/safe-fs.ts';
import { POLICY_FILE } from '../policy/create-policy.ts';
import { readCurrent } from '../file-changes.ts';
import { checkPublicKey, secretKeysOf } from '../keys/gpg.ts';
import { failure, run, runWithSecretFile, type RunResult } from '../../lib/proc.ts';
import { decryptSigstorePrivateKey, parsePublicKeyPem, publicPemOf, samePublicKey, SigstoreKeyError } from '../keys/sigstore-key.ts';
import { ArchiveError, extractLayout, type ArchiveLimits } from './archive.ts';
import { LayoutError, readLayout, type LayoutImage } from './layout.ts';
import { destinationOf, formatName } from './refs.ts';

const t = translator('podsec');

export const EXIT = {
  usage: 1,
  arch: 3,
  destination: 5,
  unpack: 6,
  noArchDir: 7,
  noIndex: 8,
  badImage: 9,
  policy: 10,
  copy: 11,
} as const;

/** The options of the commands that sign, for the signing key's passphrase. */
export const PASSPHRASE_OPTIONS = {
  'passphrase-file': { type: 'string', valueName: 'FILE', description: 'the passphrase of the signing key is the first line of FILE' },
  'no-passphrase': { type: 'boolean', description: 'the sigstore key has no passphrase (do not ask)' },
} as const;

/** Only image makers (group podman_dev) push and sign. */
export function requireMakerGroup(root: string): void {
  const devGid = groupGid(root, PODMAN_DEV_GROUP);
  const groups = new Set([process.getgid?.(), ...(process.getgroups?.() ?? [])]);
  if (devGid === undefined || !groups.has(devGid))
    throw new CommandError(t('The script is called by a user not included in the {group} group', { group: PODMAN_DEV_GROUP }), EXIT.usage);
}

export type Signer = { kind: 'gpg'; id: string; passphrase?: string } | { kind: 'sigstore'; keyFile: string; keyText: string; passphrase: string };

interface Transfer {
  image: LayoutImage;
  destination: string;
}

/** Unpacks the archive into a fresh private temp directory; returns the layout directory and its images. */
export async function unpackArchive(archive: string, arch: string, limits: ArchiveLimits): Promise<{ work: string; layout: string; images: LayoutImage[] }> {
  const work = mkdtempSync(join(process.env.TMPDIR || '/var/tmp', 'podsec-load-'));
  try {
    try {
      await extractLayout(archive, arch, work, limits);
    } catch (error) {
      if (error instanceof ArchiveError) throw new CommandError(t('{archive}: {reason}', { archive, reason: error.message }), EXIT.unpack);
      throw error;
    }
    const layout = join(work, arch);
    const isDir = (path: string) => {
      try {
        return statSync(path).isDirectory();
      } catch {
        return false;
      }
    };
    if (!isDir(layout))
      throw new CommandError(t('{archive} has no directory {arch}/ (is it the archive of another architecture?)', { archive, arch }), EXIT.noArchDir);
    try {
      statSync(join(layout, 'index.json'));
    } catch {
      throw new CommandError(t('{archive} has no {arch}/index.json', { archive, arch }), EXIT.noIndex);
    }
    let images: LayoutImage[];
    try {
      images = readLayout(layout);
    } catch (error) {
      if (error instanceof LayoutError) throw new CommandError(t('{archive}: {reason}; nothing was pushed', { archive, reason: error.message }), EXIT.badImage);
      throw error;
    }
    return { work, layout, images };
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
}

/** Maps archive images to registry.local destinations; every image must carry the archive's platform prefix. */
export function planTransfers(images: LayoutImage[], archivePlatform: string, prefix: string[]): Transfer[] {
  return images.map((image) => {
    if (image.name.path[0] !== archivePlatform) {
      throw new CommandError(
        t('{image}: its prefix is not {platform}/ like the other images of the archive; nothing was pushed', {
          image: JSON.stringify(image.ref),
          platform: archivePlatform,
        }),
        EXIT.badImage,
      );
    }
    return { image, destination: destinationOf(image.name, prefix) };
  });
}

/** The system policy, for checking where the caller's signatures will be accepted. */
export function readSystemPolicy(root: string): ContainersPolicy | undefined {
  const current = readCurrent(root, POLICY_FILE);
  if (current.kind === 'absent' || current.bytes === undefined) return undefined;
  try {
    return parsePolicy(current.bytes.toString('utf8'), POLICY_FILE);
  } catch (error) {
    if (error instanceof PolicySyntaxError) throw new CommandError(t('cannot check the destinations: {reason}', { reason: error.message }), EXIT.policy);
    throw error;
  }
}

/**
 * For each transfer, why the system policy would not accept the caller's signature there (a
 * reject scope, no maker scope, another maker's key), or undefined when it would. Pushing such
 * images would only produce images nobody can pull.
 */
export async function signerProblems(
  root: string,
  policy: ContainersPolicy,
  transfers: { destination: string }[],
  signer: Signer,
): Promise<(string | undefined)[]> {
  let signerKeys: { gpg?: string[]; sigstore?: ReturnType<typeof parsePublicKeyPem> } = {};
  if (signer.kind === 'gpg') {
    const info = await secretKeysOf(signer.id);
    if (info.primaries.length === 0)
      throw new CommandError(t('no secret key {signer} in your GPG keyring; nothing was pushed', { signer: JSON.stringify(signer.id) }), EXIT.usage);
    if (info.primaries.length > 1)
      throw new CommandError(
        t.n('{signer} matches {count} secret key; give the fingerprint', '{signer} matches {count} secret keys; give the fingerprint', info.primaries.length, {
          signer: JSON.stringify(signer.id),
        }),
        EXIT.usage,
      );
    signerKeys = { gpg: info.signing };
  } else {
    try {
      signerKeys = { sigstore: parsePublicKeyPem(publicPemOf(decryptSigstorePrivateKey(signer.keyText, Buffer.from(signer.passphrase)))) };
    } catch (error) {
      if (error instanceof SigstoreKeyError)
        throw new CommandError(t('{file}: {reason}; nothing was pushed', { file: signer.keyFile, reason: error.message }), EXIT.usage);
      throw error;
    }
  }
  const keyCache = new Map<string, Promise<boolean>>();
  const matches = (keyPath: string, type: 'signedBy' | 'sigstoreSigned') => {
    const cacheKey = `${type}:${keyPath}`;
    let result = keyCache.get(cacheKey);
    if (!result) {
      result = (async () => {
        let bytes: Buffer;
        try {
          bytes = readRegularFile(join(root, keyPath), { maxBytes: 1024 * 1024 });
        } catch {
          return false;
        }
        if (type === 'signedBy') {
          if (!signerKeys.gpg) return false;
          const info = await checkPublicKey(bytes, keyPath).catch(() => undefined);
          return info !== undefined && info.signing.some((f) => signerKeys.gpg!.includes(f));
        }
        if (!signerKeys.sigstore) return false;
        try {
          return samePublicKey(parsePublicKeyPem(bytes.toString('utf8')), signerKeys.sigstore);
        } catch {
          return false;
        }
      })();
      keyCache.set(cacheKey, result);
    }
    return result;
  };
  const problems: (string | undefined)[] = [];
  for (const { destination } of transfers) {
    const { scope, requirements } = requirementsFor(policy, destination);
    const shown = scope ?? t('the default');
    if (requirements.every((r) => r.type === 'insecureAcceptAnything')) {
      problems.push(undefined);
      continue;
    }
    const signed = requirements.filter((r) => r.type === 'signedBy' || r.type === 'sigstoreSigned');
    if (signed.length === 0 || requirements.some((r) => r.type === 'reject')) {
      problems.push(t('{destination}: the system policy ({scope}) rejects it, no image maker owns this path', { destination, scope: shown }));
      continue;
    }
    let problem: string | undefined;
    for (const requirement of signed) {
      const paths = [requirement.keyPath, ...(requirement.keyPaths ?? [])].filter((p): p is string => p !== undefined);
      let ok = false;
      for (const path of paths) if (await matches(path, requirement.type as 'signedBy' | 'sigstoreSigned')) ok = true;
      if (!ok) {
        problem = t('{destination}: the system policy ({scope}) wants a signature by {keys}, not by your key', {
          destination,
          scope: shown,
          keys: paths.join(', ') || requirement.type,
        });
        break;
      }
    }
    problems.push(problem);
  }
  return problems;
}

/** The signing options for `signer`, which skopeo copy and podman push spell alike. */
const signingArgs = (signer: Signer, passphraseFile?: string) => [
  ...(signer.kind === 'gpg' ? ['--sign-by', signer.id] : ['--sign-by-sigstore-private-key', resolve(signer.keyFile)]),
  ...(passphraseFile !== undefined ? ['--sign-passphrase-file', passphraseFile] : []),
];

/** Runs a tool that signs: `args` gets the signing options; the passphrase, if any, through a FIFO (runWithSecretFile). */
export function runSigning(tool: string, args: (signing: string[]) => string[], signer: Signer): Promise<RunResult> {
  if (signer.passphrase === undefined) return run(tool, args(signingArgs(signer)));
  return runWithSecretFile(tool, (file) => args(signingArgs(signer, file)), signer.passphrase);
}

/** skopeo copy of one image from the layout to the registry, signed. */
export async function pushAndSign(layout: string, arch: string, transfer: Transfer, signer: Signer): Promise<void> {
  const result = await runSigning(
    'skopeo',
    (signing) => [
      '--override-arch',
      arch,
      'copy',
      '--quiet',
      '--retry-times',
      '2',
      '--dest-tls-verify=false',
      ...signing,
      `oci:${layout}:${transfer.image.ref}`,
      `docker://${transfer.destination}`,
    ],
    signer,
  );
  if (result.error || result.status !== 0) throw copyFailure(result, formatName(transfer.image.name), transfer.destination, 'skopeo copy');
}

/**
 * Why a signed push failed, as the error to throw. When the push went through and only the
 * signature failed, the image is in the registry unsigned: the message says so and names it.
 */
export function copyFailure(result: RunResult, image: string, destination: string, tool: string): CommandError {
  if (/writing signatures?:/i.test(result.stderr ?? '')) {
    return new CommandError(
      t('{destination} was pushed to the registry but is NOT signed (nodes refuse it): {reason}; fix the cause and run the command again to sign it', {
        destination,
        reason: failure(result),
      }),
      EXIT.copy,
    );
  }
  return new CommandError(t('{image} → {destination}: {tool} failed: {reason}', { image, destination, tool, reason: failure(result) }), EXIT.copy);
}
