/**
 * RPM header blobs and package files. Hand-written: the npm packages around RPM drive rpmbuild or
 * read an rpmdb, none reads and writes header blobs with entries copied byte for byte.
 *
 * A header blob: magic `8e ad e8 01` + 4 reserved bytes, BE32 entry count `il`, BE32 data size `dl`,
 * `il` 16-byte index entries (tag, type, offset, count; all BE32), then `dl` bytes of data.
 * A package file: 96-byte lead, signature header (padded to 8 bytes), main header, payload.
 *
 * Entries keep their data as raw big-endian bytes, so copying an entry (I18N strings included)
 * never re-encodes it. `writeHeader` emits the legacy layout apt-rpm's pkglist uses and librpm
 * 4.13 (lib/header.c headerImport) reads back: entries sorted by tag (as headerExport writes
 * fresh headers), the first tag ≥ 100 (no region tag), data in entry order with minimal type
 * alignment and no trailing padding, so that the padding and data lengths sum to exactly `dl`.
 */
import { createHash } from 'node:crypto';

export const RpmType = {
  NULL: 0,
  CHAR: 1,
  INT8: 2,
  INT16: 3,
  INT32: 4,
  INT64: 5,
  STRING: 6,
  BIN: 7,
  STRING_ARRAY: 8,
  I18NSTRING: 9,
} as const;
export type RpmTypeCode = (typeof RpmType)[keyof typeof RpmType];

export interface HeaderEntry {
  tag: number;
  type: number;
  count: number;
  data: Buffer;
}

export type EntryValue = null | number[] | bigint[] | string | string[] | Buffer;

export class RpmFormatError extends Error {}

const HEADER_MAGIC = Buffer.from([0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0]);
const LEAD_MAGIC = Buffer.from([0xed, 0xab, 0xee, 0xdb]);
const LEAD_SIZE = 96;
const MAX_ENTRIES = 0xffff;
const MAX_DATA = 256 * 1024 * 1024; // librpm's HEADER_DATA_MAX
/** Tags below this are region markers or signature-header internals; librpm rejects them in a legacy header. */
export const FIRST_LEGACY_TAG = 100;

const FIXED_SIZE: Record<number, number> = { 0: 0, 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1 };
const ALIGNMENT: Record<number, number> = { 3: 2, 4: 4, 5: 8 };
const isStringType = (type: number) => type === RpmType.STRING || type === RpmType.STRING_ARRAY || type === RpmType.I18NSTRING;

/** Byte length of an entry's data starting at `at`, or -1 if it does not fit before `end` or is malformed. */
function dataLength(type: number, count: number, buf: Buffer, at: number, end: number): number {
  if (type === RpmType.STRING && count !== 1) return -1;
  if (!isStringType(type)) {
    const length = FIXED_SIZE[type]! * count;
    return at + length <= end ? length : -1;
  }
  let position = at;
  for (let i = 0; i < count; i++) {
    const nul = buf.indexOf(0, position);
    if (nul < 0 || nul >= end) return -1;
    position = nul + 1;
  }
  return position - at;
}

/** Parses the header blob (with magic) at `start`; `end` is the offset just past it. */
export function parseHeader(buf: Buffer, start = 0): { entries: HeaderEntry[]; end: number } {
  if (buf.length < start + 16) throw new RpmFormatError(`truncated header: ${buf.length - start} bytes, need at least 16`);
  if (!buf.subarray(start, start + 4).equals(HEADER_MAGIC.subarray(0, 4))) throw new RpmFormatError('bad header magic');
  const il = buf.readUInt32BE(start + 8);
  const dl = buf.readUInt32BE(start + 12);
  if (il > MAX_ENTRIES || dl > MAX_DATA) throw new RpmFormatError(`implausible header size: ${il} entries, ${dl} data bytes`);
  const dataStart = start + 16 + il * 16;
  const end = dataStart + dl;
  if (end > buf.length) throw new RpmFormatError(`truncated header: needs ${end - start} bytes, ${buf.length - start} left`);
  const entries: HeaderEntry[] = [];
  for (let i = 0; i < il; i++) {
    const at = start + 16 + i * 16;
    const [tag, type, offset, count] = [0, 4, 8, 12].map((d) => buf.readUInt32BE(at + d)) as [number, number, number, number];
    if (type > RpmType.I18NSTRING) throw new RpmFormatError(`tag ${tag}: unknown type ${type}`);
    if (offset > dl || offset % (ALIGNMENT[type] ?? 1) !== 0) throw new RpmFormatError(`tag ${tag}: bad data offset ${offset}`);
    const length = dataLength(type, count, buf, dataStart + offset, end);
    if (length < 0) throw new RpmFormatError(`tag ${tag}: data does not fit the header (type ${type}, count ${count})`);
    entries.push({ tag, type, count, data: buf.subarray(dataStart + offset, dataStart + offset + length) });
  }
  return { entries, end };
}

/**
 * Serializes entries sorted by tag, data in entry order with minimal type alignment. Without
 * `region` this is the legacy layout (see the file comment). With `region` (62 for a signature
 * header, 63 for a package's main header) it is the layout rpmbuild writes: a region entry first,
 * covering every entry, whose 16-byte trailer ends the data. Throws on what librpm would reject.
 */
export function writeHeader(entries: readonly HeaderEntry[], options: { region?: 62 | 63 } = {}): Buffer {
  const sorted = [...entries].sort((a, b) => a.tag - b.tag);
  const offsets: number[] = [];
  let dl = 0;
  sorted.forEach((entry, i) => {
    if (entry.tag < FIRST_LEGACY_TAG) throw new RpmFormatError(`tag ${entry.tag}: below ${FIRST_LEGACY_TAG}, not allowed here`);
    if (i > 0 && sorted[i - 1]!.tag === entry.tag) throw new RpmFormatError(`tag ${entry.tag}: duplicate`);
    if (entry.type > RpmType.I18NSTRING) throw new RpmFormatError(`tag ${entry.tag}: unknown type ${entry.type}`);
    if (dataLength(entry.type, entry.count, entry.data, 0, entry.data.length) !== entry.data.length) {
      throw new RpmFormatError(`tag ${entry.tag}: ${entry.data.length} data bytes do not match type ${entry.type}, count ${entry.count}`);
    }
    const align = ALIGNMENT[entry.type] ?? 1;
    dl += (align - (dl % align)) % align;
    offsets.push(dl);
    dl += entry.data.length;
  });
  if (options.region) {
    const il = sorted.length + 1;
    const trailer = Buffer.alloc(16);
    trailer.writeUInt32BE(options.region, 0);
    trailer.writeUInt32BE(RpmType.BIN, 4);
    trailer.writeInt32BE(-il * 16, 8); // a negative offset: the region spans the whole index
    trailer.writeUInt32BE(16, 12);
    sorted.unshift({ tag: options.region, type: RpmType.BIN, count: 16, data: trailer });
    offsets.unshift(dl);
    dl += 16;
  }
  const dataStart = 16 + sorted.length * 16;
  const out = Buffer.alloc(dataStart + dl);
  HEADER_MAGIC.copy(out, 0);
  out.writeUInt32BE(sorted.length, 8);
  out.writeUInt32BE(dl, 12);
  sorted.forEach((entry, i) => {
    const at = 16 + i * 16;
    out.writeUInt32BE(entry.tag, at);
    out.writeUInt32BE(entry.type, at + 4);
    out.writeUInt32BE(offsets[i]!, at + 8);
    out.writeUInt32BE(entry.count, at + 12);
    entry.data.copy(out, dataStart + offsets[i]!);
  });
  return out;
}

/** The entry's value: numbers for CHAR/INT8/INT16/INT32, bigints for INT64, strings, bytes for BIN. */
export function decodeEntry(entry: HeaderEntry): EntryValue {
  const { type, count, data } = entry;
  const ints = (size: number, read: (at: number) => number) => Array.from({ length: count }, (_, i) => read(i * size));
  switch (type) {
    case RpmType.NULL:
      return null;
    case RpmType.CHAR:
    case RpmType.INT8:
      return [...data.subarray(0, count)];
    case RpmType.INT16:
      return ints(2, (at) => data.readUInt16BE(at));
    case RpmType.INT32:
      return ints(4, (at) => data.readUInt32BE(at));
    case RpmType.INT64:
      return Array.from({ length: count }, (_, i) => data.readBigUInt64BE(i * 8));
    case RpmType.BIN:
      return Buffer.from(data);
    case RpmType.STRING:
      return data.toString('utf8', 0, data.length - 1);
    default: {
      const strings = data.toString('utf8').split('\0');
      strings.pop(); // after the last NUL
      return strings;
    }
  }
}

/** Builds an entry from a value, the inverse of `decodeEntry`. */
export function encodeEntry(tag: number, type: RpmTypeCode, value: EntryValue): HeaderEntry {
  const fail = () => new RpmFormatError(`tag ${tag}: value does not fit type ${type}`);
  switch (type) {
    case RpmType.NULL:
      return { tag, type, count: 0, data: Buffer.alloc(0) };
    case RpmType.BIN:
      if (!Buffer.isBuffer(value)) throw fail();
      return { tag, type, count: value.length, data: Buffer.from(value) };
    case RpmType.STRING:
      if (typeof value !== 'string') throw fail();
      return { tag, type, count: 1, data: Buffer.from(`${value}\0`) };
    case RpmType.STRING_ARRAY:
    case RpmType.I18NSTRING:
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw fail();
      return { tag, type, count: value.length, data: Buffer.from((value as string[]).map((s) => `${s}\0`).join('')) };
    case RpmType.INT64: {
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'bigint')) throw fail();
      const data = Buffer.alloc(value.length * 8);
      (value as bigint[]).forEach((v, i) => data.writeBigUInt64BE(v, i * 8));
      return { tag, type, count: value.length, data };
    }
    default: {
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'number')) throw fail();
      const size = FIXED_SIZE[type]!;
      const data = Buffer.alloc(value.length * size);
      (value as number[]).forEach((v, i) => data.writeUIntBE(v, i * size, size));
      return { tag, type, count: value.length, data };
    }
  }
}

export const findEntry = (entries: readonly HeaderEntry[], tag: number) => entries.find((e) => e.tag === tag);

/** A STRING (or the first of a string array / I18N string) entry's value. */
export function getString(entries: readonly HeaderEntry[], tag: number): string | undefined {
  const entry = findEntry(entries, tag);
  if (!entry || !isStringType(entry.type)) return undefined;
  const value = decodeEntry(entry);
  return typeof value === 'string' ? value : (value as string[])[0];
}

export function getStrings(entries: readonly HeaderEntry[], tag: number): string[] {
  const entry = findEntry(entries, tag);
  if (!entry || (entry.type !== RpmType.STRING_ARRAY && entry.type !== RpmType.I18NSTRING)) return [];
  return decodeEntry(entry) as string[];
}

export function getInts(entries: readonly HeaderEntry[], tag: number): number[] {
  const entry = findEntry(entries, tag);
  if (!entry || ![RpmType.INT8, RpmType.INT16, RpmType.INT32].includes(entry.type as 2 | 3 | 4)) return [];
  return decodeEntry(entry) as number[];
}

// Signature-header tags (rpm's rpmtag.h).
export const SigTag = { SHA1: 269, SHA256: 273, SIZE: 1000, MD5: 1004, LONGSIZE: 270 } as const;

export interface RpmPackage {
  lead: Buffer;
  signature: HeaderEntry[];
  header: HeaderEntry[];
  /** Main header blob (what the signature's SHA1/SHA256 digests cover). */
  headerBytes: Buffer;
  payload: Buffer;
}

/**
 * Reads a package: lead, signature header, main header. Checks the sizes and the header digests
 * the signature header carries (cheap, and catches truncated or patched files); the payload's
 * own digest is left to rpm.
 */
export function readRpm(buf: Buffer): RpmPackage {
  if (buf.length < LEAD_SIZE) throw new RpmFormatError(`truncated lead: ${buf.length} bytes`);
  if (!buf.subarray(0, 4).equals(LEAD_MAGIC)) throw new RpmFormatError('bad lead magic: not an RPM package');
  const within = <T>(what: string, parse: () => T): T => {
    try {
      return parse();
    } catch (error) {
      if (error instanceof RpmFormatError) throw new RpmFormatError(`${what}: ${error.message}`);
      throw error;
    }
  };
  const signature = within('signature header', () => parseHeader(buf, LEAD_SIZE));
  const headerStart = signature.end + ((8 - ((signature.end - LEAD_SIZE) % 8)) % 8);
  const header = within('main header', () => parseHeader(buf, headerStart));
  const pkg: RpmPackage = {
    lead: buf.subarray(0, LEAD_SIZE),
    signature: signature.entries,
    header: header.entries,
    headerBytes: buf.subarray(headerStart, header.end),
    payload: buf.subarray(header.end),
  };
  const size = findEntry(pkg.signature, SigTag.SIZE) ?? findEntry(pkg.signature, SigTag.LONGSIZE);
  if (size) {
    const expected = Number((decodeEntry(size) as number[] | bigint[])[0]);
    const actual = buf.length - headerStart;
    if (expected !== actual) throw new RpmFormatError(`truncated or padded: header+payload is ${actual} bytes, the signature header says ${expected}`);
  }
  for (const [tag, algorithm] of [
    [SigTag.SHA256, 'sha256'],
    [SigTag.SHA1, 'sha1'],
  ] as const) {
    const digest = getString(pkg.signature, tag);
    if (digest !== undefined && createHash(algorithm).update(pkg.headerBytes).digest('hex') !== digest) {
      throw new RpmFormatError(`main header ${algorithm.toUpperCase()} digest mismatch`);
    }
  }
  return pkg;
}
