/**
 * An apt-rpm repository from a set of RPMs, laid out as apt-repo-tools' genbasedir does:
 *
 *   <topDir>/<arch>/RPMS.<component>/*.rpm
 *   <topDir>/<arch>/base/pkglist.<component>[.xz|.bz2]
 *   <topDir>/<arch>/base/release.<component>
 *   <topDir>/<arch>/base/release          MD5Sum: and BLAKE2b: blocks, optionally a signature
 *
 * Every package is read and checked before anything is written; one unreadable package fails the
 * whole run, naming the file. Packages are published as hard links where the file system allows (copies
 * elsewhere). Output goes to a staging directory inside <arch> and is renamed into
 * place at the end, `release` last, so a failed run leaves the previous index as it was.
 *
 * Signing (genbasedir -s): `gpg --armor --detach-sign` of `release`, the armored signature appended
 * after its closing blank line; apt's gpg method splits it off again at `-----BEGIN`. A client
 * trusts it through a vendor label, e.g. /etc/apt/vendors.list.d/podsec.list:
 *
 *   simple-key "podsec" {
 *     Fingerprint "<the signing key's 40-hex-digit fingerprint>";
 *     Name "podsec test repository";
 *   };
 *
 * with the public key imported into APT::GPG::Homedir (/usr/lib/alt-gpgkeys by default) and the
 * source written as `rpm [podsec] file:<topDir> <arch> <component>`. Unsigned repositories are used
 * without a label: `rpm file:<topDir> <arch> <component>`.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, readFile, readdir, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { startBzip2, startXz } from '../compress.ts';
import { mapLimit } from '../concurrency.ts';
import { buildPkglist, SOURCE_TAGS, Tag, type PkglistInput } from './pkglist.ts';
import { getString, readRpm } from './rpm-header.ts';

interface ReleaseFields {
  origin?: string;
  label?: string;
  suite?: string;
  codename?: string;
  description?: string;
  archive?: string;
  version?: string;
  notAutomatic?: boolean;
}

interface IndexOptions extends ReleaseFields {
  topDir: string;
  arch?: string;
  component?: string;
  /** The packages to publish (copied into RPMS.<component>). */
  rpms?: string[];
  /** Or every *.rpm in this directory. With neither, what RPMS.<component> already holds is indexed in place. */
  rpmDir?: string;
  /** The release's Date; default SOURCE_DATE_EPOCH when set (reproducible builds), else now. */
  date?: Date;
  /** A gpg key id to sign `release` with; needs `gnupgHome` or GNUPGHOME. */
  signKey?: string;
  gnupgHome?: string;
}

interface IndexResult {
  archDir: string;
  packages: number;
  pkglist: string;
  release: string;
  signed: boolean;
}

/** Packages that could not be indexed, one `file: reason` line each. */
export class RepoIndexError extends Error {
  constructor(readonly problems: string[]) {
    super(`cannot index the repository:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

const PUBLISH_CONCURRENCY = 16;

/**
 * The packages into `dir` (RPMS.<component>): hard links (no second copy of the bytes), all asked
 * for at once; copies, a few at a time, where links cannot be made (another file system).
 */
async function publishAll(paths: readonly string[], dir: string): Promise<void> {
  const target = (path: string) => join(dir, basename(path));
  const linked = await Promise.all(
    paths.map((path) =>
      link(path, target(path)).then(
        () => true,
        () => false,
      ),
    ),
  );
  await mapLimit(
    paths.filter((_, i) => !linked[i]),
    PUBLISH_CONCURRENCY,
    (path) => copyFile(path, target(path)),
  );
}

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
const blake2b = (data: Buffer) => createHash('blake2b512').update(data).digest('hex');

async function rpmsIn(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((name) => !name.startsWith('.') && name.endsWith('.rpm'));
  return names.sort().map((name) => join(dir, name));
}

/**
 * Reads whole files into one buffer that grows to the largest file and is reused: a fresh buffer
 * per package (readFile) costs more in allocation and page faults than the hashing does.
 */
function fileReader(): (path: string) => Buffer {
  let buffer = Buffer.allocUnsafe(1 << 20);
  return (path) => {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size > buffer.length) buffer = Buffer.allocUnsafe(size);
      let length = 0;
      while (length < size) {
        const n = readSync(fd, buffer, length, size - length, length);
        if (n === 0) break;
        length += n;
      }
      return buffer.subarray(0, length);
    } finally {
      closeSync(fd);
    }
  };
}

/** Reads, checks and hashes one package; keeps only the header entries a pkglist record needs (copied out of `data`). */
function analyze(path: string, data: Buffer): PkglistInput {
  const pkg = readRpm(data);
  if (getString(pkg.header, Tag.SOURCERPM) === undefined) throw new Error('no SOURCERPM tag: a source package, or not a binary package');
  const header = pkg.header.filter((e) => SOURCE_TAGS.has(e.tag)).map((e) => ({ ...e, data: Buffer.from(e.data) }));
  return { header, file: { fileName: basename(path), size: data.length, md5: md5(data), blake2b: blake2b(data) } };
}

function analyzeAll(paths: readonly string[]): PkglistInput[] {
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const path of paths) {
    const previous = seen.get(basename(path));
    if (previous) problems.push(`${path}: same file name as ${previous}`);
    seen.set(basename(path), path);
  }
  const read = fileReader();
  const analyzed = paths.map((path) => {
    try {
      return analyze(path, read(path));
    } catch (error) {
      problems.push(`${path}: ${(error as Error).message}`);
      return undefined;
    }
  });
  if (problems.length) throw new RepoIndexError(problems.sort());
  return analyzed as PkglistInput[];
}

function detachSign(file: string, keyId: string, gnupgHome: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const args = ['--batch', '--yes', '--armor', '--detach-sign', '--local-user', keyId, '--output', '-', file];
    const child = spawn('gpg', args, { env: { ...process.env, GNUPGHOME: gnupgHome }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => reject(new Error(`gpg: ${error.message}`)));
    child.on('close', (code) =>
      code === 0 ? resolvePromise(stdout) : reject(new Error(`gpg --detach-sign with key ${keyId} failed (exit ${code}): ${stderr.trim()}`)),
    );
  });
}

/** `date -R`, in UTC. */
function rfc2822(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}

function defaultDate(): Date {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  return epoch && /^\d+$/.test(epoch) ? new Date(Number(epoch) * 1000) : new Date();
}

/** base/release.<component>, field for field as genbasedir writes it. */
function componentRelease(fields: ReleaseFields, component: string, arch: string): string {
  return [
    `Archive: ${fields.archive ?? 'Unknown'}`,
    `Component: ${component}`,
    `Version: ${fields.version ?? 'Unknown'}`,
    `Origin: ${fields.origin ?? 'Unknown'}`,
    `Label: ${fields.label ?? 'Unknown'}`,
    `Architecture: ${arch}`,
    `NotAutomatic: ${fields.notAutomatic ?? false}`,
    '',
  ].join('\n');
}

interface HashedFile {
  path: string; // relative to <arch>
  size: number;
  md5: string;
  blake2b: string;
}

/** base/release: genbasedir's fields, then MD5Sum: and BLAKE2b: blocks, then one blank line. */
function globalRelease(fields: ReleaseFields, component: string, arch: string, date: Date, files: readonly HashedFile[]): string {
  return [
    `Origin: ${fields.origin ?? 'Unknown'}`,
    `Label: ${fields.label ?? 'Unknown'}`,
    `Suite: ${fields.suite ?? 'Unknown'}`,
    `Codename: ${fields.codename ?? 'Unknown'}`,
    `Date: ${rfc2822(date)}`,
    `Architectures: ${arch}`,
    `Components: ${component}`,
    `Description: ${fields.description ?? 'Not Available'}`,
    'MD5Sum:',
    ...files.map((f) => ` ${f.md5} ${f.size} ${f.path}`),
    'BLAKE2b:',
    ...files.map((f) => ` ${f.blake2b} ${f.size} ${f.path}`),
    '',
    '',
  ].join('\n');
}

export async function indexRepository(options: IndexOptions): Promise<IndexResult> {
  const arch = options.arch ?? 'noarch';
  const component = options.component ?? 'podsec';
  const archDir = resolve(options.topDir, arch);
  const rpmsDir = join(archDir, `RPMS.${component}`);
  const gnupgHome = options.gnupgHome ?? process.env.GNUPGHOME;
  if (options.signKey && !gnupgHome) throw new Error('signing needs a GnuPG home: pass gnupgHome or set GNUPGHOME');

  let inputs: string[];
  let inPlace = false;
  if (options.rpms) inputs = options.rpms.map((p) => resolve(p));
  else if (options.rpmDir) {
    inputs = await rpmsIn(resolve(options.rpmDir));
    inPlace = (await realpath(options.rpmDir)) === (await realpath(rpmsDir).catch(() => ''));
  } else {
    inputs = await rpmsIn(rpmsDir);
    inPlace = true;
  }
  // The list's compressors start now and wait for it: their start-up overlaps the reading and hashing.
  const compressors = { xz: startXz(), bzip2: startBzip2() };
  try {
    return await publishIndex(analyzeAll(inputs));
  } finally {
    // Stops them where the list never came (a no-op for those that finished).
    compressors.xz.cancel();
    compressors.bzip2.cancel();
  }

  async function publishIndex(packages: PkglistInput[]): Promise<IndexResult> {
    await mkdir(archDir, { recursive: true });
    const stage = await mkdtemp(join(archDir, '.index-'));
    try {
      const base = join(stage, 'base');
      await mkdir(base);
      const names = {
        pkglist: `pkglist.${component}`,
        bz2: `pkglist.${component}.bz2`,
        xz: `pkglist.${component}.xz`,
        componentRelease: `release.${component}`,
      };
      // The packages are linked by libuv's threads while this one makes the list.
      if (!inPlace) await mkdir(join(stage, `RPMS.${component}`));
      const publishing = inPlace ? Promise.resolve() : publishAll(inputs, join(stage, `RPMS.${component}`));
      publishing.catch(() => {}); // awaited below
      const pkglist = buildPkglist(packages, component);
      await writeFile(join(base, names.pkglist), pkglist);
      await Promise.all([
        compressors.xz.compress(pkglist).then((data) => writeFile(join(base, names.xz), data)),
        compressors.bzip2.compress(pkglist).then((data) => writeFile(join(base, names.bz2), data)),
        publishing,
      ]);
      await writeFile(join(base, names.componentRelease), componentRelease(options, component, arch));

      // genbasedir's order: the plain list, .bz2, .xz, then release.<component>
      const hashed = await Promise.all(
        [names.pkglist, names.bz2, names.xz, names.componentRelease].map(async (name) => {
          const data = await readFile(join(base, name));
          return { path: `base/${name}`, size: data.length, md5: md5(data), blake2b: blake2b(data) };
        }),
      );
      const releaseFile = join(base, 'release');
      await writeFile(releaseFile, globalRelease(options, component, arch, options.date ?? defaultDate(), hashed));
      if (options.signKey) await writeFile(releaseFile, await detachSign(releaseFile, options.signKey, gnupgHome!), { flag: 'a' });

      // Commit: packages first, then the lists, release last.
      if (!inPlace) {
        await rename(rpmsDir, join(stage, 'previous-RPMS')).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT') throw error;
        });
        await rename(join(stage, `RPMS.${component}`), rpmsDir);
      }
      await mkdir(join(archDir, 'base'), { recursive: true });
      for (const name of [...Object.values(names), 'release']) await rename(join(base, name), join(archDir, 'base', name));
    } finally {
      await rm(stage, { recursive: true, force: true });
    }
    return {
      archDir,
      packages: packages.length,
      pkglist: join(archDir, 'base', `pkglist.${component}`),
      release: join(archDir, 'base', 'release'),
      signed: Boolean(options.signKey),
    };
  }
}
