/**
 * One pkglist record per binary RPM, as apt-repo-tools' genpkglist (genpkglist.cc, genutil.h
 * addAptTags) makes it: the tags genpkglist copies, raw; the file list stripped to the "useful"
 * files; the apt tags that tell apt where the package is and how to check it. Hand-written:
 * genpkglist exists only on ALT, and no npm package writes pkglists.
 */
import { RpmFormatError, RpmType, encodeEntry, findEntry, getInts, getString, getStrings, writeHeader, type HeaderEntry } from './rpm-header.ts';

export const Tag = {
  HEADERI18NTABLE: 100,
  NAME: 1000,
  VERSION: 1001,
  RELEASE: 1002,
  EPOCH: 1003,
  SUMMARY: 1004,
  DESCRIPTION: 1005,
  BUILDTIME: 1006,
  SIZE: 1009,
  PACKAGER: 1015,
  GROUP: 1016,
  ARCH: 1022,
  SOURCERPM: 1044,
  PROVIDENAME: 1047,
  REQUIREFLAGS: 1048,
  REQUIRENAME: 1049,
  REQUIREVERSION: 1050,
  CONFLICTFLAGS: 1053,
  CONFLICTNAME: 1054,
  CONFLICTVERSION: 1055,
  OBSOLETENAME: 1090,
  PROVIDEFLAGS: 1112,
  PROVIDEVERSION: 1113,
  OBSOLETEFLAGS: 1114,
  OBSOLETEVERSION: 1115,
  DIRINDEXES: 1116,
  BASENAMES: 1117,
  DIRNAMES: 1118,
  DISTTAG: 1155,
  // apt's own tags (apt-repo-tools crpmtag.h, apt rpmhandler.h)
  CRPMTAG_FILENAME: 1000000,
  CRPMTAG_FILESIZE: 1000001,
  CRPMTAG_MD5: 1000005,
  CRPMTAG_BLAKE2B: 1000009,
  CRPMTAG_DIRECTORY: 1000010,
} as const;

/** Copied raw (type, count and bytes kept, so I18N strings stay paired with HEADERI18NTABLE). */
export const COPIED_TAGS: readonly number[] = [
  Tag.HEADERI18NTABLE,
  Tag.NAME,
  Tag.EPOCH,
  Tag.VERSION,
  Tag.RELEASE,
  Tag.GROUP,
  Tag.ARCH,
  Tag.PACKAGER,
  Tag.SOURCERPM,
  Tag.SIZE,
  Tag.DESCRIPTION,
  Tag.SUMMARY,
  Tag.BUILDTIME,
  Tag.REQUIREFLAGS,
  Tag.REQUIRENAME,
  Tag.REQUIREVERSION,
  Tag.CONFLICTFLAGS,
  Tag.CONFLICTNAME,
  Tag.CONFLICTVERSION,
  Tag.PROVIDENAME,
  Tag.PROVIDEFLAGS,
  Tag.PROVIDEVERSION,
  Tag.OBSOLETENAME,
  Tag.OBSOLETEFLAGS,
  Tag.OBSOLETEVERSION,
  Tag.DISTTAG,
];

/** Every tag a record is made from: what an indexer needs to keep of a package's header. */
export const SOURCE_TAGS: ReadonlySet<number> = new Set([...COPIED_TAGS, Tag.BASENAMES, Tag.DIRNAMES, Tag.DIRINDEXES]);

const DEPENDENCY_NAME_TAGS = [Tag.REQUIRENAME, Tag.PROVIDENAME, Tag.CONFLICTNAME, Tag.OBSOLETENAME];

/** Paths that any of the packages requires, provides, conflicts with or obsoletes. */
function dependencyFiles(headers: Iterable<readonly HeaderEntry[]>): Set<string> {
  const files = new Set<string>();
  for (const header of headers) {
    for (const tag of DEPENDENCY_NAME_TAGS) for (const name of getStrings(header, tag)) if (name.startsWith('/')) files.add(name);
  }
  return files;
}

/**
 * genpkglist's usefulFile(): `dir` is a DIRNAMES value (with its trailing slash), `base` a
 * BASENAMES value. Directory rules match the file's own directory, not its ancestors.
 */
function isUsefulFile(dir: string, base: string, dependencyFiles: ReadonlySet<string>): boolean {
  if (dir.endsWith('/bin/') || dir.endsWith('/sbin/')) return true;
  // genpkglist also keeps /usr/lib/kde4bin/, a PATH directory of old ALT KDE packages
  if (dir === '/usr/games/' || dir === '/usr/lib/kde4bin/') return true;
  if (dir.startsWith('/usr/share/java/') && base.endsWith('.jar')) return true;
  if (dir.startsWith('/usr/share/fonts/') && (base.endsWith('.ttf') || base.endsWith('.otf'))) return true;
  if (base.startsWith('lib') && base.includes('.so', 3)) return true;
  return dependencyFiles.has(dir + base);
}

/** The useful part of the file list, with its own dirname table (dirs in order of first use). */
function strippedFileList(header: readonly HeaderEntry[], dependencyFiles: ReadonlySet<string>): HeaderEntry[] {
  const basenames = getStrings(header, Tag.BASENAMES);
  const dirnames = getStrings(header, Tag.DIRNAMES);
  const dirindexes = getInts(header, Tag.DIRINDEXES);
  const keptBases: string[] = [];
  const keptDirs: string[] = [];
  const keptIndexes: number[] = [];
  basenames.forEach((base, i) => {
    const dir = dirnames[dirindexes[i]!];
    if (dir === undefined) throw new RpmFormatError(`file ${base}: directory index out of range`);
    if (!isUsefulFile(dir, base, dependencyFiles)) return;
    let index = keptDirs.indexOf(dir);
    if (index < 0) index = keptDirs.push(dir) - 1;
    keptBases.push(base);
    keptIndexes.push(index);
  });
  if (keptBases.length === 0) return [];
  return [
    encodeEntry(Tag.BASENAMES, RpmType.STRING_ARRAY, keptBases),
    encodeEntry(Tag.DIRNAMES, RpmType.STRING_ARRAY, keptDirs),
    encodeEntry(Tag.DIRINDEXES, RpmType.INT32, keptIndexes),
  ];
}

interface PackageFile {
  fileName: string; // basename in RPMS.<component>
  size: number;
  md5: string; // hex
  blake2b: string; // hex, BLAKE2b-512
}

/** The pkglist header entries for one package. */
function pkglistEntries(header: readonly HeaderEntry[], file: PackageFile, component: string, dependencyFiles: ReadonlySet<string>): HeaderEntry[] {
  if (getString(header, Tag.SOURCERPM) === undefined) throw new RpmFormatError('no SOURCERPM tag: not a binary package');
  if (file.size > 0xffffffff) throw new RpmFormatError(`${file.size} bytes: too large for CRPMTAG_FILESIZE (INT32)`);
  const copied = COPIED_TAGS.map((tag) => findEntry(header, tag)).filter((entry): entry is HeaderEntry => entry !== undefined);
  return [
    ...copied,
    ...strippedFileList(header, dependencyFiles),
    encodeEntry(Tag.CRPMTAG_DIRECTORY, RpmType.STRING, `RPMS.${component}`),
    encodeEntry(Tag.CRPMTAG_FILENAME, RpmType.STRING, file.fileName),
    encodeEntry(Tag.CRPMTAG_FILESIZE, RpmType.INT32, [file.size]),
    encodeEntry(Tag.CRPMTAG_MD5, RpmType.STRING, file.md5),
    encodeEntry(Tag.CRPMTAG_BLAKE2B, RpmType.STRING, file.blake2b),
  ];
}

export interface PkglistInput {
  header: readonly HeaderEntry[];
  file: PackageFile;
}

/** The whole pkglist: records sorted by (SOURCERPM, file name) as genpkglist groups them, concatenated. */
export function buildPkglist(packages: readonly PkglistInput[], component: string): Buffer {
  const dependencies = dependencyFiles(packages.map((p) => p.header));
  const keyed = packages.map((p) => ({ p, srpm: Buffer.from(getString(p.header, Tag.SOURCERPM) ?? ''), name: Buffer.from(p.file.fileName) }));
  keyed.sort((a, b) => Buffer.compare(a.srpm, b.srpm) || Buffer.compare(a.name, b.name));
  return Buffer.concat(
    keyed.map(({ p }) => {
      try {
        return writeHeader(pkglistEntries(p.header, p.file, component, dependencies));
      } catch (error) {
        if (error instanceof RpmFormatError) throw new RpmFormatError(`${p.file.fileName}: ${error.message}`);
        throw error;
      }
    }),
  );
}
