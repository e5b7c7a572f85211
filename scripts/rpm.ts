/**
 * RPM step: rpmbuild with the ALT macro emulation and reproducible settings
 * -> dist/RPMS/noarch/*.rpm. Byte-identical across rebuilds, build directories and times.
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { esbuildBinDir } from './bundle.ts';
import { allOrFirstError } from './concurrency.ts';
import { FILES_DIRECTIVES, SECTION_NAMES } from './lint/spec-parse.ts';

interface RpmBuildInput {
  specFile: string;
  tarball: string;
  macrosText: string;
  sourceDateEpoch: number;
  outDir: string; // receives noarch/*.rpm
}

/** rpmbuild's --define arguments for reproducible output; each `name value` is ONE argv element. */
export function reproducibleDefines(topdir: string): string[] {
  return [
    `_topdir ${topdir}`,
    'clamp_mtime_to_source_date_epoch 1',
    'use_source_date_epoch_as_buildtime 1',
    '_buildhost reproducible',
    // Debian's rpm keeps its database under ~; nothing here should touch the host's.
    `_dbpath ${topdir}/rpmdb`,
  ].flatMap((d) => ['--define', d]);
}

/** The rpmbuild to run; PODSEC_RPMBUILD overrides it (the tests use it to simulate a host without rpmbuild). */
const rpmbuildCommand = () => process.env.PODSEC_RPMBUILD || 'rpmbuild';

export async function hasRpmbuild(): Promise<boolean> {
  const result = await execa(rpmbuildCommand(), ['--version'], { reject: false });
  return result.exitCode === 0;
}

/**
 * The spec as Debian's rpm 4.18 reads it: that rpm refuses ALT's `BuildRequires(pre):` (packages
 * needed before the spec is parsed) as an unknown tag; a plain BuildRequires means the same to a
 * build that does not install its build requirements (--nodeps).
 */
export function forUpstreamRpm(specText: string): string {
  return specText.replace(/^BuildRequires\(pre\):/gm, 'BuildRequires:');
}

/** Macro names rpm 4.18 itself writes when it expands %setup and %doc: rpm's internals, not the spec's. */
const RPM_INTERNAL_MACROS = ['_builddir', '_sourcedir', '__rpmuncompress', '_defaultdocdir'];
const RPM_SYNTAX = new Set([...SECTION_NAMES, ...FILES_DIRECTIVES, ...RPM_INTERNAL_MACROS]);

/**
 * The macros the spec uses that the ALT macro file does not define: the spec expanded by rpmspec
 * with that file alone (none of the host rpm's own macro files), and what is left unexpanded.
 * So a macro Debian's rpm has and ALT's rpm-build lacks fails our build as it would fail on ALT.
 */
export async function macrosAltLacks(specText: string, macrosText: string): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'podsec-altmacros-'));
  try {
    await writeFile(join(dir, 'podsec.spec'), forUpstreamRpm(specText));
    await writeFile(join(dir, 'alt.macros'), macrosText);
    // %buildroot is rpm's own (ALT's rpm-build always sets it too); rpmspec refuses an empty one.
    const args = ['-P', '--macros', join(dir, 'alt.macros'), '--define', 'buildroot /BUILDROOT', join(dir, 'podsec.spec')];
    const result = await execa('rpmspec', args, { reject: false, env: { LC_ALL: 'C' } });
    if (result.exitCode !== 0) throw new Error(`rpmspec -P with the ALT macros alone failed:\n${result.stderr}`);
    const left = [...result.stdout.matchAll(/%(?!%)\{?[!?]*([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
    return [...new Set(left.filter((name) => !RPM_SYNTAX.has(name)))].sort();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The rpmbuild command line and environment of the RPM step, for a topdir whose SOURCES/ holds the
 * tarball and a spec already passed through `forUpstreamRpm` (the benchmark runs the same).
 */
export function rpmbuildInvocation(
  topdir: string,
  macrosFile: string,
  specFile: string,
  sourceDateEpoch: number,
): { argv: string[]; env: Record<string, string> } {
  return {
    argv: [rpmbuildCommand(), '-bb', '--nodeps', '--quiet', '--load', macrosFile, ...reproducibleDefines(topdir), specFile],
    // %build's esbuild (BuildRequires: esbuild) is the project's pinned one off-ALT.
    env: { SOURCE_DATE_EPOCH: String(sourceDateEpoch), LC_ALL: 'C', TZ: 'UTC', PATH: `${esbuildBinDir()}:${process.env.PATH ?? '/usr/bin:/bin'}` },
  };
}

export async function buildRpms(input: RpmBuildInput): Promise<string[]> {
  const specText = await readFile(input.specFile, 'utf8');
  const topdir = await mkdtemp(join(tmpdir(), 'podsec-rpmbuild-'));
  try {
    const macros = join(topdir, 'alt.macros');
    const spec = join(topdir, basename(input.specFile));
    const prepare = async () => {
      await mkdir(join(topdir, 'SOURCES'), { recursive: true });
      await copyFile(input.tarball, join(topdir, 'SOURCES', basename(input.tarball)));
      await writeFile(macros, input.macrosText);
      await writeFile(spec, forUpstreamRpm(specText));
    };
    // The check and the topdir's files at once; rpmbuild only once both are done.
    const [lacking] = await allOrFirstError([macrosAltLacks(specText, input.macrosText), prepare()]);
    if (lacking.length > 0) {
      throw new Error(
        `the spec uses ${lacking.map((m) => `%${m}`).join(', ')}, which neither ALT's rpm-build nor rpm-macros-systemd defines (specs/macros/alt.macros)`,
      );
    }
    const { argv, env } = rpmbuildInvocation(topdir, macros, spec, input.sourceDateEpoch);
    const result = await execa(argv[0]!, argv.slice(1), { env, reject: false, all: true });
    if (result.exitCode !== 0) throw new Error(`rpmbuild failed (exit ${result.exitCode}):\n${result.all}`);
    const built = join(topdir, 'RPMS', 'noarch');
    const target = join(input.outDir, 'noarch');
    await rm(target, { recursive: true, force: true });
    await mkdir(target, { recursive: true });
    const rpms = (await readdir(built)).filter((f) => f.endsWith('.rpm')).sort();
    for (const rpm of rpms) await copyFile(join(built, rpm), join(target, rpm));
    return rpms.map((rpm) => join(target, rpm));
  } finally {
    await rm(topdir, { recursive: true, force: true });
  }
}
