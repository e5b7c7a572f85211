/**
 * The apt-rpm test repository (scripts/repo/), checked by real consumers: librpm (python3-rpm)
 * reads our headers and pkglists back, `rpm -qp` says what the packages hold, xz/bzip2 decompress
 * the lists, gpg verifies the release signature.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { test as base, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import { indexRepository, RepoIndexError } from '../../scripts/repo/index.ts';
import { COPIED_TAGS, Tag } from '../../scripts/repo/pkglist.ts';
import {
  decodeEntry,
  encodeEntry,
  parseHeader,
  readRpm,
  RpmFormatError,
  RpmType,
  writeHeader,
  type EntryValue,
  type HeaderEntry,
  type RpmTypeCode,
} from '../../scripts/repo/rpm-header.ts';
import { run, runTs } from '../support/exec.ts';
import { rewriteRpm } from '../support/rpm-rewrite.ts';
import { gated, withTools } from '../support/tools.ts';

const PYTHON = '/usr/bin/python3';

/** Like withTools, for librpm's Python binding (Debian: python3-rpm), which `command -v` cannot see. */
function withPythonRpm<T extends Test>(suite: T): T {
  if (spawnSync(PYTHON, ['-c', 'import rpm'], { stdio: 'ignore' }).status === 0) return suite;
  return gated(suite, `missing: ${PYTHON} -c 'import rpm' fails (install python3-rpm)`);
}

const test = withPythonRpm(withTools(base, ['rpmbuild', 'rpm', 'xz', 'bzip2', 'gpg', 'gpgconf']));

// ---------------------------------------------------------------------------------------------
// Fixtures: two source packages built by rpmbuild.

const SPEC_PODSEC_TEST = `
Name: podsec-test
Version: 1.2
Release: alt1
Epoch: 3
Summary: Test package A
Summary(ru_RU.UTF-8): Тестовый пакет A
License: GPL-2.0-or-later
Group: System/Base
BuildArch: noarch
AutoReqProv: no
Requires: coreutils >= 8.0
Requires: /usr/share/podsec-test-b/data.txt
Provides: podsec-test-virtual = 1.0
Conflicts: podsec-old < 1.0
Obsoletes: podsec-older < 0.9

%description
Package A of the repository tests.

%package -n podsec-test-b
Summary: Test package B
Group: System/Base
Requires: podsec-test = %{epoch}:%{version}-%{release}
Provides: /etc/podsec-test/b.conf

%description -n podsec-test-b
Package B of the repository tests.

%pre
exit 0

%install
for f in /usr/bin/podsec-test /usr/sbin/podsec-test-admin /usr/bin/podsec-helpers/tool /opt/podsec/bin/x \\
    /etc/podsec-test/a.conf /usr/share/doc/podsec-test/README /usr/lib/libpodsectest.so.1 \\
    /usr/share/java/podsec.jar /usr/share/java/podsec.txt /usr/share/fonts/ttf/podsec.ttf \\
    /usr/share/fonts/podsec.otf /usr/games/podsec-game \\
    /usr/share/podsec-test-b/data.txt /usr/share/podsec-test-b/other.txt /etc/podsec-test/b.conf; do
  mkdir -p %{buildroot}$(dirname $f)
  echo "$f" > %{buildroot}$f
done

%files
/usr/bin/podsec-test
/usr/sbin/podsec-test-admin
/usr/bin/podsec-helpers/tool
/opt/podsec/bin/x
%config(noreplace) /etc/podsec-test/a.conf
%doc /usr/share/doc/podsec-test/README
/usr/lib/libpodsectest.so.1
/usr/share/java/podsec.jar
/usr/share/java/podsec.txt
/usr/share/fonts/ttf/podsec.ttf
/usr/share/fonts/podsec.otf
/usr/games/podsec-game

%files -n podsec-test-b
/usr/share/podsec-test-b/data.txt
/usr/share/podsec-test-b/other.txt
%config /etc/podsec-test/b.conf
`;

// Its SOURCERPM (alpha-src-…) sorts first although its file name (zzz-…) sorts last.
const SPEC_ALPHA = `
Name: alpha-src
Version: 0.1
Release: alt1
Summary: Source of zzz-tool
License: MIT
Group: System/Base
BuildArch: noarch
AutoReqProv: no

%description
Only builds zzz-tool.

%package -n zzz-tool
Summary: A tool from another source package
Group: System/Base

%description -n zzz-tool
A tool.

%install
mkdir -p %{buildroot}/usr/share/zzz
echo zzz > %{buildroot}/usr/share/zzz/data

%files -n zzz-tool
/usr/share/zzz/data
`;

/** What genpkglist keeps of podsec-test's files (see isUsefulFile). */
const USEFUL_A = [
  '/usr/bin/podsec-test',
  '/usr/sbin/podsec-test-admin',
  '/opt/podsec/bin/x',
  '/usr/lib/libpodsectest.so.1',
  '/usr/share/java/podsec.jar',
  '/usr/share/fonts/ttf/podsec.ttf',
  '/usr/share/fonts/podsec.otf',
  '/usr/games/podsec-game',
];
const USEFUL_B = ['/usr/share/podsec-test-b/data.txt', '/etc/podsec-test/b.conf']; // required / provided by path

let work: string;
let rpms: string[];
let topDir: string;
let listed: ListedPackage[];
const rpmDb = () => ['--dbpath', join(work, 'rpmdb')];
const sha = (algorithm: string, data: Buffer) => createHash(algorithm).update(data).digest('hex');

async function rpmbuild(specText: string, name: string): Promise<string[]> {
  const top = join(work, `rpmbuild-${name}`);
  const spec = join(work, `${name}.spec`);
  await writeFile(spec, specText);
  const result = await run('rpmbuild', ['-bb', '--nodeps', '--quiet', '--define', `_topdir ${top}`, '--define', `_dbpath ${work}/rpmdb`, spec], {
    env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000', LC_ALL: 'C' },
  });
  if (result.exitCode !== 0) throw new Error(`rpmbuild ${name}: ${result.stderr}`);
  const dir = join(top, 'RPMS', 'noarch');
  return (await readdir(dir)).map((f) => join(dir, f));
}

// ---------------------------------------------------------------------------------------------
// librpm's view, through python3-rpm.

interface ListedPackage {
  name: string;
  epoch: number | null;
  version: string;
  release: string;
  arch: string;
  sourcerpm: string;
  summary: string;
  requires: string[];
  provides: string[];
  files: string[];
  filename: string;
  filesize: number;
  md5: string;
  blake2b: string;
  directory: string;
}

/** Every header of a pkglist as librpm reads it (headerRead with magic, in a loop, as apt does). */
const READ_PKGLIST = `
import json, sys, rpm
def deps(h, kind):
    return ['%s %d %s' % d for d in zip(h[kind + 'name'], h[kind + 'flags'], h[kind + 'version'])]
out = []
with open(sys.argv[1], 'rb') as f:
    for h in rpm.readHeaderListFromFD(f.fileno(), False):
        out.append(dict(name=h['name'], epoch=h['epoch'], version=h['version'], release=h['release'],
            arch=h['arch'], sourcerpm=h['sourcerpm'], summary=h['summary'],
            requires=deps(h, 'require'), provides=deps(h, 'provide'), files=h[rpm.RPMTAG_FILENAMES],
            filename=h[1000000], filesize=h[1000001], md5=h[1000005], blake2b=h[1000009], directory=h[1000010]))
print(json.dumps(out))
`;

async function python(script: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await run(PYTHON, ['-c', script, ...args], { env: { ...process.env, ...env } });
  if (result.exitCode !== 0) throw new Error(`python3: ${result.stderr}`);
  return result.stdout;
}

/** LANGUAGE picks the I18N summary: the translated one must still pair with HEADERI18NTABLE. */
const readPkglist = async (file: string): Promise<ListedPackage[]> => JSON.parse(await python(READ_PKGLIST, [file], { LANGUAGE: 'ru_RU.UTF-8' }));

interface Queried {
  name: string;
  epoch: number | null;
  version: string;
  release: string;
  arch: string;
  requires: string[];
  provides: string[];
}

async function rpmQuery(file: string): Promise<Queried> {
  const format =
    '%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n[R\\t%{REQUIRENAME} %{REQUIREFLAGS} ' +
    '%{REQUIREVERSION}\\n][P\\t%{PROVIDENAME} %{PROVIDEFLAGS} %{PROVIDEVERSION}\\n]';
  const result = await run('rpm', ['-qp', ...rpmDb(), '--qf', format, file]);
  assert.is(result.exitCode, 0, result.stderr);
  const [first, ...lines] = result.stdout.trimEnd().split('\n');
  const [name, epoch, version, release, arch] = first!.split('\t') as [string, string, string, string, string];
  const of = (kind: string) => lines.filter((l) => l.startsWith(`${kind}\t`)).map((l) => l.slice(2));
  return { name, epoch: epoch === '(none)' ? null : Number(epoch), version, release, arch, requires: of('R'), provides: of('P') };
}

/** A release's checksum block: path -> [hash, size]. */
function checksumBlock(release: string, field: 'MD5Sum' | 'BLAKE2b'): Map<string, [string, number]> {
  const lines = release.split('\n');
  const start = lines.indexOf(`${field}:`);
  assert.ok(start >= 0, `no ${field}: field`);
  const block = new Map<string, [string, number]>();
  for (const line of lines.slice(start + 1)) {
    const match = /^ ([0-9a-f]+) (\d+) (\S+)$/.exec(line);
    if (!match) break;
    block.set(match[3]!, [match[1]!, Number(match[2])]);
  }
  return block;
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      files[path.slice(dir.length)] = sha('sha256', await readFile(path));
    }
  }
  return files;
}

const stagingLeft = async (archDir: string) => (await readdir(archDir)).filter((name) => name.startsWith('.'));

base.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'podsec-repo-test-'));
  if (spawnSync('rpmbuild', ['--version'], { stdio: 'ignore' }).status !== 0) return; // gated tests skip or fail
  rpms = [...(await rpmbuild(SPEC_PODSEC_TEST, 'podsec-test')), ...(await rpmbuild(SPEC_ALPHA, 'alpha'))].sort();
  topDir = join(work, 'repo');
  await indexRepository({ topDir, rpms, origin: 'podsec', label: 'podsec-ci', date: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) });
  if (spawnSync(PYTHON, ['-c', 'import rpm'], { stdio: 'ignore' }).status === 0) listed = await readPkglist(join(topDir, 'noarch/base/pkglist.podsec'));
});

base.after(async () => {
  await rm(work, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// rpm-header.ts

const SAMPLES: [RpmTypeCode, EntryValue][] = [
  [RpmType.NULL, null],
  [RpmType.CHAR, [0x41, 0, 0xff]],
  [RpmType.INT8, [1, 2, 255]],
  [RpmType.INT16, [0, 0o755, 0xffff]],
  [RpmType.INT32, [0, 1, 0xffffffff]],
  [RpmType.INT64, [0n, 1n << 40n, (1n << 64n) - 1n]],
  [RpmType.STRING, 'podsec — подпись'],
  [RpmType.BIN, Buffer.from([0, 1, 2, 3, 0xff])],
  [RpmType.STRING_ARRAY, ['a', '', 'ccc']],
  [RpmType.I18NSTRING, ['Summary', 'Сводка']],
];

base('rpm-header: every type round-trips through writeHeader and parseHeader, aligned', () => {
  // A one-byte entry first, so that every aligned type needs padding.
  const entries = [encodeEntry(100, RpmType.INT8, [7]), ...SAMPLES.map(([type, value], i) => encodeEntry(1000 + i * 3, type, value))];
  const blob = writeHeader([...entries].reverse()); // the writer sorts
  const { entries: parsed, end } = parseHeader(blob);
  assert.is(end, blob.length);
  assert.equal(
    parsed.map((e) => e.tag),
    entries.map((e) => e.tag),
  );
  parsed.slice(1).forEach((entry, i) => {
    const [type, value] = SAMPLES[i]!;
    assert.is(entry.type, type);
    assert.equal(decodeEntry(entry), value, `type ${type}`);
    const offset = entry.data.byteOffset - blob.byteOffset - 16 - blob.readUInt32BE(8) * 16;
    assert.is(offset % ({ 3: 2, 4: 4, 5: 8 }[type as number] ?? 1), 0, `type ${type} aligned`);
  });
  assert.equal(writeHeader(parsed), blob, 'write(parse(blob)) is blob');
});

test('rpm-header: a real package header, without its region, round-trips; the region form too', async () => {
  const pkg = readRpm(await readFile(rpms.find((p) => basename(p).startsWith('podsec-test-1'))!));
  assert.is(pkg.header[0]!.tag, 63, 'rpmbuild writes an immutable region first');
  const legacy = pkg.header.filter((e) => e.tag >= 100);
  const reparsed = parseHeader(writeHeader(legacy)).entries;
  assert.equal(
    reparsed.map((e) => [e.tag, e.type, e.count, e.data.toString('hex')]),
    legacy.map((e) => [e.tag, e.type, e.count, e.data.toString('hex')]),
  );
  // rpmbuild lays data out in tag order too, so our region layout reproduces its header byte for byte
  assert.equal(writeHeader(legacy, { region: 63 }), pkg.headerBytes);
});

base('rpm-header: malformed input is rejected with a reason', () => {
  const good = writeHeader([encodeEntry(1000, RpmType.STRING, 'x'), encodeEntry(1001, RpmType.STRING_ARRAY, ['a', 'b'])]);
  const throwsFormat = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (error: Error) => error instanceof RpmFormatError && pattern.test(error.message));
  throwsFormat(() => parseHeader(Buffer.concat([Buffer.from([0, 0, 0, 0]), good.subarray(4)])), /bad header magic/);
  throwsFormat(() => parseHeader(good.subarray(0, good.length - 1)), /truncated header/);
  const unterminated = Buffer.from(good);
  unterminated[unterminated.length - 1] = 0x41;
  throwsFormat(() => parseHeader(unterminated), /tag 1001: data does not fit/);
  const badType = Buffer.from(good);
  badType.writeUInt32BE(12, 16 + 4);
  throwsFormat(() => parseHeader(badType), /unknown type 12/);
  throwsFormat(() => writeHeader([encodeEntry(63, RpmType.BIN, Buffer.alloc(16))]), /below 100/);
  throwsFormat(() => writeHeader([encodeEntry(1000, RpmType.STRING, 'a'), encodeEntry(1000, RpmType.STRING, 'b')]), /duplicate/);
  throwsFormat(() => writeHeader([{ tag: 1000, type: RpmType.INT32, count: 2, data: Buffer.alloc(4) }]), /do not match/);
  throwsFormat(() => readRpm(Buffer.alloc(50)), /truncated lead/);
  throwsFormat(() => readRpm(Buffer.alloc(200)), /bad lead magic/);
});

test('rpm-header: writeHeader writes the bytes librpm writes for the same header (rpm.hdr().unload())', async () => {
  const script = `
import rpm, sys
h = rpm.hdr()
h[rpm.RPMTAG_NAME] = 'abc'
h[rpm.RPMTAG_FILEMODES] = [0o755, 0o644, 1]
h[rpm.RPMTAG_LONGSIZE] = 1 << 40
h[rpm.RPMTAG_SIGMD5] = bytes(range(16))
h[rpm.RPMTAG_REQUIRENAME] = ['a', 'bb']
h[rpm.RPMTAG_SIZE] = 7
h[rpm.RPMTAG_SUMMARY] = 'sum'
h[rpm.RPMTAG_FILEVERIFYFLAGS] = [1, 2]
sys.stdout.write(h.unload().hex())
`;
  const librpm = Buffer.from((await python(script, [])).trim(), 'hex');
  const ours = writeHeader([
    encodeEntry(1000, RpmType.STRING, 'abc'),
    encodeEntry(1030, RpmType.INT16, [0o755, 0o644, 1]),
    encodeEntry(5009, RpmType.INT64, [1n << 40n]),
    encodeEntry(261, RpmType.BIN, Buffer.from([...Array(16).keys()])),
    encodeEntry(1049, RpmType.STRING_ARRAY, ['a', 'bb']),
    encodeEntry(1009, RpmType.INT32, [7]),
    encodeEntry(1004, RpmType.I18NSTRING, ['sum']),
    encodeEntry(1045, RpmType.INT32, [1, 2]),
  ]);
  assert.equal(ours.subarray(8).toString('hex'), librpm.toString('hex'), 'unload() has no magic; the rest must match');
});

// ---------------------------------------------------------------------------------------------
// pkglist.ts through librpm

test('pkglist: every header loads in librpm; name, epoch, version, release, arch, requires, provides equal rpm -qp', async () => {
  assert.is(listed.length, rpms.length);
  for (const file of rpms) {
    const queried = await rpmQuery(file);
    const record = listed.find((p) => p.filename === basename(file));
    assert.ok(record, `${basename(file)} listed`);
    const { name, epoch, version, release, arch, requires, provides } = record!;
    assert.equal({ name, epoch, version, release, arch, requires, provides }, queried, basename(file));
  }
});

test('pkglist: FILENAME, FILESIZE, MD5, BLAKE2B and DIRECTORY describe the published file', async () => {
  for (const record of listed) {
    const published = await readFile(join(topDir, 'noarch', record.directory, record.filename));
    assert.is(record.directory, 'RPMS.podsec');
    assert.is(record.filesize, published.length);
    assert.is(record.md5, sha('md5', published));
    assert.is(record.blake2b, sha('blake2b512', published));
    assert.equal(published, await readFile(rpms.find((p) => basename(p) === record.filename)!), 'a copy of the input');
  }
});

test('pkglist: the file list keeps only the useful files (PATH dirs, libs, jars, fonts, games, paths named by dependencies)', () => {
  const files = (name: string) => [...listed.find((p) => p.name === name)!.files].sort();
  assert.equal(files('podsec-test'), [...USEFUL_A].sort());
  assert.equal(files('podsec-test-b'), [...USEFUL_B].sort());
  assert.equal(files('zzz-tool'), []);
});

test('pkglist: the tags are exactly those genpkglist keeps plus the apt tags; I18N summaries still resolve', async () => {
  const pkglist = await readFile(join(topDir, 'noarch/base/pkglist.podsec'));
  const apt = [Tag.CRPMTAG_FILENAME, Tag.CRPMTAG_FILESIZE, Tag.CRPMTAG_MD5, Tag.CRPMTAG_BLAKE2B, Tag.CRPMTAG_DIRECTORY];
  const fileList = [Tag.BASENAMES, Tag.DIRNAMES, Tag.DIRINDEXES];
  let at = 0;
  const records: HeaderEntry[][] = [];
  while (at < pkglist.length) {
    const { entries, end } = parseHeader(pkglist, at);
    records.push(entries);
    at = end;
  }
  assert.is(records.length, rpms.length);
  for (const record of records) {
    const name = decodeEntry(record.find((e) => e.tag === Tag.NAME)!) as string;
    const source = readRpm(await readFile(rpms.find((p) => basename(p).startsWith(`${name}-`))!)).header;
    const expected = [...COPIED_TAGS.filter((tag) => source.some((e) => e.tag === tag)), ...(name === 'zzz-tool' ? [] : fileList), ...apt].sort(
      (a, b) => a - b,
    );
    assert.equal(
      record.map((e) => e.tag),
      expected,
      name,
    );
    for (const tag of COPIED_TAGS) {
      const [ours, theirs] = [record, source].map((h) => h.find((e) => e.tag === tag));
      assert.equal(
        ours && [ours.type, ours.count, ours.data.toString('hex')],
        theirs && [theirs.type, theirs.count, theirs.data.toString('hex')],
        `${name}: tag ${tag} copied raw`,
      );
    }
  }
  assert.is(listed.find((p) => p.name === 'podsec-test')!.summary, 'Тестовый пакет A');
  assert.is(listed.find((p) => p.name === 'podsec-test-b')!.summary, 'Test package B');
});

test('pkglist: records are sorted by (SOURCERPM, file name)', () => {
  assert.equal(
    listed.map((p) => p.filename),
    ['zzz-tool-0.1-alt1.noarch.rpm', 'podsec-test-1.2-alt1.noarch.rpm', 'podsec-test-b-1.2-alt1.noarch.rpm'],
  );
  assert.equal([...new Set(listed.map((p) => p.sourcerpm))], ['alpha-src-0.1-alt1.src.rpm', 'podsec-test-1.2-alt1.src.rpm']);
});

// ---------------------------------------------------------------------------------------------
// index.ts: release files, compression, failure handling, signing

test('release: genbasedir fields; MD5Sum and BLAKE2b blocks match every listed file; release.<component>', async () => {
  const archDir = join(topDir, 'noarch');
  const release = await readFile(join(archDir, 'base/release'), 'utf8');
  assert.ok(
    release.startsWith(
      'Origin: podsec\nLabel: podsec-ci\nSuite: Unknown\nCodename: Unknown\nDate: Tue, 02 Jan 2024 03:04:05 +0000\n' +
        'Architectures: noarch\nComponents: podsec\nDescription: Not Available\nMD5Sum:\n',
    ),
    release,
  );
  assert.ok(release.endsWith('\n\n'), 'the stanza ends with one blank line');
  assert.is(release.indexOf('\n\n'), release.length - 2, 'one stanza: apt reads only the first');
  const expectedPaths = ['base/pkglist.podsec', 'base/pkglist.podsec.bz2', 'base/pkglist.podsec.xz', 'base/release.podsec'];
  for (const [field, algorithm] of [
    ['MD5Sum', 'md5'],
    ['BLAKE2b', 'blake2b512'],
  ] as const) {
    const block = checksumBlock(release, field);
    assert.equal([...block.keys()], expectedPaths, `${field} lists genbasedir's files in its order`);
    for (const [path, [hash, size]] of block) {
      const data = await readFile(join(archDir, path));
      assert.is(size, data.length, `${field} ${path} size`);
      assert.is(hash, sha(algorithm, data), `${field} ${path} hash`);
    }
  }
  assert.is(
    await readFile(join(archDir, 'base/release.podsec'), 'utf8'),
    'Archive: Unknown\nComponent: podsec\nVersion: Unknown\nOrigin: podsec\nLabel: podsec-ci\nArchitecture: noarch\nNotAutomatic: false\n',
  );
  assert.equal(await stagingLeft(archDir), []);
});

test('xz -dc and bzip2 -dc of the compressed lists equal the plain list', async () => {
  const base = join(topDir, 'noarch/base/pkglist.podsec');
  const plain = await readFile(base);
  for (const [tool, suffix] of [
    ['xz', '.xz'],
    ['bzip2', '.bz2'],
  ] as const) {
    const result = spawnSync(tool, ['-dc', base + suffix]);
    assert.is(result.status, 0, String(result.stderr));
    assert.ok(result.stdout.equals(plain), `${tool} -dc ${basename(base)}${suffix}`);
  }
});

test('the index is reproducible: the same packages and date give byte-identical base/ files', async () => {
  const again = join(work, 'again');
  await indexRepository({ topDir: again, rpms, origin: 'podsec', label: 'podsec-ci', date: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) });
  const files = async (top: string) => Object.fromEntries(Object.entries(await snapshot(top)).filter(([path]) => path.includes('/base/')));
  assert.equal(await files(again), await files(topDir));
});

test('re-indexing replaces the published packages: RPMS.<component> holds exactly the new set', async () => {
  const top = join(work, 'reindex');
  await indexRepository({ topDir: top, rpms });
  const one = rpms.filter((p) => basename(p).startsWith('zzz-'));
  await indexRepository({ topDir: top, rpms: one });
  assert.equal(
    await readdir(join(top, 'noarch/RPMS.podsec')),
    one.map((p) => basename(p)),
  );
  assert.equal(
    (await readPkglist(join(top, 'noarch/base/pkglist.podsec'))).map((p) => p.name),
    ['zzz-tool'],
  );
  await indexRepository({ topDir: top }); // in place: what RPMS.podsec holds
  assert.equal(await stagingLeft(join(top, 'noarch')), []);
});

test('CLI: corrupted RPMs are reported by name with exit 1; the previous index stays as it was', async () => {
  const input = join(work, 'corrupt-input');
  await mkdir(input);
  for (const file of rpms) await copyFile(file, join(input, basename(file)));
  const good = await readFile(rpms[0]!);
  const headerStart = good.length - readRpm(good).payload.length - readRpm(good).headerBytes.length;
  const badMagic = Buffer.from(good);
  badMagic.fill(0, 0, 4);
  await writeFile(join(input, 'bad-magic.rpm'), badMagic);
  await writeFile(join(input, 'truncated-header.rpm'), good.subarray(0, headerStart + 100));
  await writeFile(join(input, 'truncated-payload.rpm'), good.subarray(0, good.length - 10));
  const top = join(work, 'corrupt-top');
  const first = await runTs('scripts/repo/cli.ts', ['--repo-only', join(work, 'rpmbuild-alpha/RPMS/noarch'), '--out', top]);
  assert.is(first.exitCode, 0, first.stderr);
  const before = await snapshot(top);

  const result = await runTs('scripts/repo/cli.ts', ['--repo-only', input, '--out', top]);
  assert.is(result.exitCode, 1, result.stdout + result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.is(lines.length, 3, result.stderr);
  assert.match(result.stderr, /repo: \S*bad-magic\.rpm: bad lead magic/);
  assert.match(result.stderr, /repo: \S*truncated-header\.rpm: main header: truncated header/);
  assert.match(result.stderr, /repo: \S*truncated-payload\.rpm: truncated or padded/);
  assert.equal(await snapshot(top), before, 'nothing changed');
  assert.equal(await stagingLeft(join(top, 'noarch')), []);

  const fresh = join(work, 'corrupt-fresh');
  assert.is((await runTs('scripts/repo/cli.ts', ['--repo-only', input, '--out', fresh])).exitCode, 1);
  assert.equal(await readdir(fresh).catch(() => []), [], 'no index at all where there was none');
});

test('indexing refuses source packages and two packages with the same file name', async () => {
  const top = join(work, 'refuse');
  const copyDir = join(work, 'same-name');
  await mkdir(copyDir);
  await copyFile(rpms[0]!, join(copyDir, basename(rpms[0]!)));
  const error = await indexRepository({ topDir: top, rpms: [rpms[0]!, join(copyDir, basename(rpms[0]!))] }).catch((e: unknown) => e);
  assert.instance(error, RepoIndexError);
  assert.match((error as RepoIndexError).problems.join('\n'), /same file name as/);
  const noSource = rewriteRpm(await readFile(rpms[0]!), (entries) => entries.filter((e) => e.tag !== Tag.SOURCERPM));
  await writeFile(join(copyDir, 'nosource.rpm'), noSource);
  const error2 = await indexRepository({ topDir: top, rpms: [join(copyDir, 'nosource.rpm')] }).catch((e: unknown) => e);
  assert.match((error2 as RepoIndexError).problems[0]!, /nosource\.rpm: no SOURCERPM tag/);
});

test('signing: the release carries a detached signature gpg verifies; apt splits it off at -----BEGIN', async () => {
  const gnupgHome = await mkdtemp(join(work, 'gnupg-'));
  await chmod(gnupgHome, 0o700);
  const env = { ...process.env, GNUPGHOME: gnupgHome };
  try {
    const made = await run(
      'gpg',
      ['--batch', '--passphrase', '', '--quick-gen-key', 'podsec repo test <repo-test@podsec.invalid>', 'ed25519', 'sign', 'never'],
      { env },
    );
    assert.is(made.exitCode, 0, made.stderr);
    const listedKeys = await run('gpg', ['--batch', '--with-colons', '--list-secret-keys'], { env });
    const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(listedKeys.stdout)![1]!;

    const top = join(work, 'signed');
    await indexRepository({ topDir: top, rpms, signKey: fingerprint, gnupgHome, label: 'podsec' });
    const release = await readFile(join(top, 'noarch/base/release'), 'utf8');
    const cut = release.indexOf('-----BEGIN PGP SIGNATURE-----\n');
    assert.ok(cut > 0, 'signature appended');
    const [text, signature] = [release.slice(0, cut), release.slice(cut)];
    assert.ok(text.endsWith('\n\n'), 'the signed text is the whole unsigned release');
    assert.ok(signature.endsWith('-----END PGP SIGNATURE-----\n'));
    await writeFile(join(top, 'text'), text);
    await writeFile(join(top, 'text.asc'), signature);
    const verified = await run('gpg', ['--batch', '--status-fd', '1', '--verify', join(top, 'text.asc'), join(top, 'text')], { env });
    assert.is(verified.exitCode, 0, verified.stderr);
    assert.match(verified.stdout, new RegExp(`^\\[GNUPG:\\] VALIDSIG ${fingerprint} `, 'm'));

    // A failed signing publishes nothing.
    const before = await snapshot(top);
    const failed = await indexRepository({ topDir: top, rpms: rpms.slice(0, 1), signKey: 'no-such-key@podsec.invalid', gnupgHome }).catch((e: unknown) => e);
    assert.instance(failed, Error);
    assert.match((failed as Error).message, /gpg --detach-sign/);
    assert.equal(await snapshot(top), before);
    assert.equal(await stagingLeft(join(top, 'noarch')), []);
  } finally {
    await run('gpgconf', ['--kill', 'all'], { env });
  }
});

// ---------------------------------------------------------------------------------------------
// 500 packages: variants of one rpmbuild-built package, rewritten with our header writer.

test('500 packages: every variant passes librpm digest checks; all 500 come back through the pkglist', async () => {
  const template = await readFile(rpms.find((p) => basename(p).startsWith('podsec-test-b-'))!);
  const dir = join(work, 'variants');
  await mkdir(dir);
  const names: string[] = [];
  for (let i = 0; i < 500; i++) {
    const name = `podsec-variant-${String(i).padStart(3, '0')}`;
    const release = `alt${i + 1}`;
    const variant = rewriteRpm(template, (entries) =>
      entries.map((e) => {
        if (e.tag === Tag.NAME) return encodeEntry(e.tag, RpmType.STRING, name);
        if (e.tag === Tag.RELEASE) return encodeEntry(e.tag, RpmType.STRING, release);
        if (e.tag === Tag.PROVIDENAME)
          return encodeEntry(
            e.tag,
            RpmType.STRING_ARRAY,
            (decodeEntry(e) as string[]).map((p) => (p === 'podsec-test-b' ? name : p)),
          );
        if (e.tag === Tag.PROVIDEVERSION)
          return encodeEntry(
            e.tag,
            RpmType.STRING_ARRAY,
            (decodeEntry(e) as string[]).map((v) => v.replace(/-alt1$/, `-${release}`)),
          );
        return e;
      }),
    );
    await writeFile(join(dir, `${name}-1.2-${release}.noarch.rpm`), variant);
    names.push(name);
  }
  const verify = `
import json, os, sys, rpm
rpm.addMacro('_dbpath', sys.argv[2])
ts = rpm.TransactionSet()
ts.setVSFlags(0)  # check every digest
names = []
for f in sorted(os.listdir(sys.argv[1])):
    with open(os.path.join(sys.argv[1], f), 'rb') as fd:
        h = ts.hdrFromFdno(fd.fileno())
    names.append(h['name'])
print(json.dumps(names))
`;
  assert.equal(JSON.parse(await python(verify, [dir, join(work, 'rpmdb')])), names, 'librpm reads every variant with its digests checked');

  const top = join(work, 'five-hundred');
  const started = performance.now();
  const result = await indexRepository({ topDir: top, rpmDir: dir });
  process.stdout.write(`  (indexed ${result.packages} RPMs in ${(performance.now() - started).toFixed(0)} ms)\n`);
  const back = await readPkglist(result.pkglist);
  assert.equal(
    back.map((p) => p.name),
    names,
  );
  assert.ok(back.every((p, i) => p.filename === `${names[i]}-1.2-alt${i + 1}.noarch.rpm` && p.release === `alt${i + 1}`));

  // So many are hashed on worker threads, and the list goes to xz and bzip2 as it is made: the same checks as for the few above.
  for (const p of back) {
    const published = await readFile(join(top, 'noarch', p.directory, p.filename));
    assert.ok(p.filesize === published.length && p.md5 === sha('md5', published) && p.blake2b === sha('blake2b512', published), p.filename);
  }
  const plain = await readFile(result.pkglist);
  for (const [tool, suffix] of [
    ['xz', '.xz'],
    ['bzip2', '.bz2'],
  ] as const) {
    const decompressed = spawnSync(tool, ['-dc', result.pkglist + suffix], { maxBuffer: 64 * 1024 * 1024 });
    assert.is(decompressed.status, 0, String(decompressed.stderr));
    assert.ok(decompressed.stdout.equals(plain), `${tool} -dc ${basename(result.pkglist)}${suffix}`);
  }

  // Hashed in the inputs' order, listed in (SOURCERPM, file name) order: zzz-tool (alpha-src) comes first, hashed last.
  const mixed = await indexRepository({
    topDir: join(work, 'five-hundred-mixed'),
    rpms: [...names.map((n, i) => join(dir, `${n}-1.2-alt${i + 1}.noarch.rpm`)), ...rpms],
  });
  assert.equal(
    (await readPkglist(mixed.pkglist)).map((p) => p.name),
    ['zzz-tool', 'podsec-test', 'podsec-test-b', ...names],
  );
});

test.run();
