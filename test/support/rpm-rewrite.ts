/**
 * Package variants for the repository tests and the repo-index benchmark, made with the project's
 * own header writer (scripts/repo/rpm-header.ts): faster than one rpmbuild per variant.
 */
import { createHash } from 'node:crypto';
import { encodeEntry, FIRST_LEGACY_TAG, readRpm, RpmType, SigTag, writeHeader, type HeaderEntry } from '../../scripts/repo/rpm-header.ts';

const SIGNATURE_TAGS = [267, 268, 1002, 1005, 1006]; // DSA, RSA, PGP, PGP5, GPG: invalid after a rewrite

/**
 * A new package from `buf` with its main header entries passed through `edit` and the signature
 * header's sizes and digests recomputed; cryptographic signatures are dropped (they would no
 * longer verify). The lead and the payload are kept. Used to derive package variants cheaply.
 */
export function rewriteRpm(buf: Buffer, edit: (entries: HeaderEntry[]) => HeaderEntry[]): Buffer {
  const pkg = readRpm(buf);
  const header = writeHeader(edit(pkg.header.filter((e) => e.tag >= FIRST_LEGACY_TAG)), { region: 63 });
  const digest = (algorithm: string, ...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), createHash(algorithm)).digest();
  const recomputed = [SigTag.SHA1, SigTag.SHA256, SigTag.SIZE, SigTag.LONGSIZE, SigTag.MD5, ...SIGNATURE_TAGS];
  const signature = writeHeader(
    [
      ...pkg.signature.filter((e) => e.tag >= FIRST_LEGACY_TAG && !recomputed.includes(e.tag)),
      encodeEntry(SigTag.SHA1, RpmType.STRING, digest('sha1', header).toString('hex')),
      encodeEntry(SigTag.SHA256, RpmType.STRING, digest('sha256', header).toString('hex')),
      encodeEntry(SigTag.SIZE, RpmType.INT32, [header.length + pkg.payload.length]),
      encodeEntry(SigTag.MD5, RpmType.BIN, digest('md5', header, pkg.payload)),
    ],
    { region: 62 },
  );
  const padding = Buffer.alloc((8 - (signature.length % 8)) % 8);
  return Buffer.concat([pkg.lead, signature, padding, header, pkg.payload]);
}
