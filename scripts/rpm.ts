/**
 * RPM step: rpmbuild with the ALT macro emulation and reproducible settings
 * -> dist/RPMS/noarch/*.rpm. Byte-identical across rebuilds, build directories and times.
 */
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';

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

export async function buildRpms(input: RpmBuildInput): Promise<string[]> {
  const topdir = await mkdtemp(join(tmpdir(), 'podsec-rpmbuild-'));
  try {
    await mkdir(join(topdir, 'SOURCES'), { recursive: true });
    await copyFile(input.tarball, join(topdir, 'SOURCES', basename(input.tarball)));
    const macros = join(topdir, 'alt.macros');
    await writeFile(macros, input.macrosText);
    const args = ['-bb', '--nodeps', '--quiet', '--load', macros, ...reproducibleDefines(topdir), input.specFile];
    const result = await execa(rpmbuildCommand(), args, {
      env: { SOURCE_DATE_EPOCH: String(input.sourceDateEpoch), LC_ALL: 'C', TZ: 'UTC' },
      reject: false,
      all: true,
    });
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
