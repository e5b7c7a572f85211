/**
 * Benchmarks, printed as ratios against a baseline measured in the same run (the machines are
 * shared and noisy; absolute times mean little). Runs of a measurement and its baseline are
 * interleaved so that load changes hit both.
 *   npm run bench [-- NAME ...]      runs the named benchmarks (default: all; see BENCHES)
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { REPO_ROOT } from '../../scripts/paths.ts';
import { loadChangelog, sourceDateEpoch } from '../../scripts/changelog.ts';
import { forUpstreamRpm, rpmbuildInvocation } from '../../scripts/rpm.ts';
import { unpackRpms } from '../support/build.ts';
import { benchmarks as clusterBenchmarks } from './cluster.ts';
import { benchmarks as clusterNetworkBenchmarks } from './cluster-network.ts';
import { boot, imageCache } from './image.ts';
import { benchmarks as inotifyBenchmarks } from './inotify.ts';
import { repoIndexBench } from './repo-index.ts';
import { loadSign, signedPull } from './trust.ts';
import { benchmarks as u7sBenchmarks } from './u7s.ts';
import { median } from './median.ts';

interface Command {
  argv: string[];
  env?: Record<string, string>;
}

function timeOnce(command: Command): number {
  const started = performance.now();
  const result = spawnSync(command.argv[0]!, command.argv.slice(1), {
    cwd: REPO_ROOT,
    env: { ...process.env, ...command.env },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 10 * 60 * 1000,
  });
  const elapsed = performance.now() - started;
  if (result.status !== 0) throw new Error(`${command.argv.join(' ')} failed: ${result.stderr?.toString()}`);
  return elapsed;
}

/** Interleaved runs of the measured command and its baseline; returns both medians in ms. */
function compare(measured: Command, baseline: Command, runs: number, before?: () => void): [number, number] {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    before?.();
    a.push(timeOnce(measured));
    b.push(timeOnce(baseline));
  }
  return [median(a), median(b)];
}

function report(name: string, measuredLabel: string, baselineLabel: string, [measured, baseline]: [number, number], runs: number): string {
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  return `${name}: ${measuredLabel} ${ms(measured)} / ${baselineLabel} ${ms(baseline)} = ${(measured / baseline).toFixed(2)}x (median of ${runs})`;
}

/** What `npm run build -- ARGS` runs (package.json's build script). */
const npmRunBuild = (args: string[]): Command => ({ argv: [process.execPath, 'scripts/cli-bundled.mjs', 'build', ...args] });

async function buildOverhead(work: string): Promise<string> {
  const out = join(work, 'dist');
  const runs = 5;
  const fullBuild = npmRunBuild(['--force', '--out', out]);
  timeOnce(fullBuild); // produces the spec and tarball the bare rpmbuild uses
  const topdir = join(work, 'rpmbuild');
  await mkdir(join(topdir, 'SOURCES'), { recursive: true });
  const tarball = (await readdir(out)).find((f) => f.endsWith('.tar'))!;
  await copyFile(join(out, tarball), join(topdir, 'SOURCES', basename(tarball)));
  // The spec as the RPM step hands it to rpmbuild, with the same arguments and environment.
  const spec = join(topdir, 'podsec.spec');
  await writeFile(spec, forUpstreamRpm(await readFile(join(out, 'podsec.spec'), 'utf8')));
  const bareRpmbuild: Command = rpmbuildInvocation(topdir, join(out, 'macros', 'p11.macros'), spec, sourceDateEpoch(loadChangelog()));
  return report('build-overhead', 'npm run build (full)', 'bare rpmbuild -bb', compare(fullBuild, bareRpmbuild, runs), runs);
}

async function noopRebuild(work: string): Promise<string> {
  const out = join(work, 'dist-noop');
  const runs = 5;
  const noop = npmRunBuild(['--out', out]);
  const full = npmRunBuild(['--force', '--out', join(work, 'dist-full')]);
  timeOnce(noop); // first build fills `out`; later runs with the same inputs are no-ops
  return report('noop-rebuild', 'npm run build (nothing changed)', 'full build', compare(noop, full, runs), runs);
}

async function startup(work: string): Promise<string> {
  const out = join(work, 'dist-startup');
  timeOnce(npmRunBuild(['--out', out]));
  // The program as %build made it, from the built package.
  const rpms = join(out, 'RPMS', 'noarch');
  const podsecRpm = (await readdir(rpms)).find((f) => /^podsec-\d/.test(f))!;
  const unpacked = await unpackRpms([join(rpms, podsecRpm)]);
  const entry = join(unpacked, 'usr', 'bin', 'podsec-get-platform');
  const runs = 25;
  return report(
    'startup',
    'podsec-get-platform --version',
    'node -e 0',
    compare({ argv: [process.execPath, entry, '--version'] }, { argv: [process.execPath, '-e', '0'] }, runs),
    runs,
  );
}

/** Each benchmark returns its one printed line. */
const BENCHES: Record<string, (work: string) => Promise<string>> = {
  'build-overhead': buildOverhead,
  'noop-rebuild': noopRebuild,
  startup,
  'repo-index': repoIndexBench,
  ...inotifyBenchmarks,
  ...u7sBenchmarks,
  'signed-pull': signedPull,
  'load-sign': loadSign,
  'image-cache': imageCache,
  boot,
  ...clusterBenchmarks,
  ...clusterNetworkBenchmarks,
};

async function main() {
  const names = process.argv.slice(2).filter((a) => a !== '--');
  const selected = names.length ? names : Object.keys(BENCHES);
  const work = await mkdtemp(join(tmpdir(), 'podsec-bench-'));
  await writeFile(join(work, 'README'), 'podsec benchmark scratch space\n');
  try {
    for (const name of selected) {
      const bench = BENCHES[name];
      if (!bench) throw new Error(`unknown benchmark ${name}; known: ${Object.keys(BENCHES).join(', ')}`);
      process.stdout.write((await bench(work)) + '\n');
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
