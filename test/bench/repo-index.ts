/**
 * repo-index: indexing 500 RPMs (scripts/repo/index.ts, in-process: read, check, hash, copy,
 * pkglist, xz + bzip2, release) against the floor any indexer pays, `b2sum` + `md5sum` over the
 * same files. The 500 packages are variants of the project's own RPMs (renamed with our header
 * writer, digests recomputed), so sizes are realistic.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { indexRepository } from '../../scripts/repo/index.ts';
import { Tag } from '../../scripts/repo/pkglist.ts';
import { encodeEntry, getString, RpmType } from '../../scripts/repo/rpm-header.ts';
import { ensureBuild } from '../support/build.ts';
import { rewriteRpm } from '../support/rpm-rewrite.ts';

const PACKAGES = 500;
const RUNS = 3;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function makeVariants(templates: string[], dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < PACKAGES; i++) {
    const template = templates[i % templates.length]!;
    let file = '';
    const variant = rewriteRpm(await readFile(template), (entries) => {
      const name = `${getString(entries, Tag.NAME)}-bench${i}`;
      file = join(dir, `${name}-${getString(entries, Tag.VERSION)}-${getString(entries, Tag.RELEASE)}.noarch.rpm`);
      return entries.map((e) => (e.tag === Tag.NAME ? encodeEntry(Tag.NAME, RpmType.STRING, name) : e));
    });
    await writeFile(file, variant);
    files.push(file);
  }
  return files;
}

function hashBaseline(files: string[]): number {
  const started = performance.now();
  for (const tool of ['b2sum', 'md5sum']) {
    const result = spawnSync(tool, files, { stdio: ['ignore', 'ignore', 'pipe'] });
    if (result.status !== 0) throw new Error(`${tool} failed: ${result.stderr?.toString()}`);
  }
  return performance.now() - started;
}

async function timeIndex(rpmDir: string, topDir: string): Promise<number> {
  await rm(topDir, { recursive: true, force: true });
  const started = performance.now();
  await indexRepository({ topDir, rpmDir });
  return performance.now() - started;
}

export async function repoIndexBench(work: string): Promise<string> {
  const { rpms } = await ensureBuild();
  const rpmDir = join(work, 'repo-index-rpms');
  const files = await makeVariants(rpms, rpmDir);
  const topDir = join(work, 'repo-index-out');
  // Warm-up: both sides then read from the page cache.
  await timeIndex(rpmDir, topDir);
  hashBaseline(files);
  const measured: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    measured.push(await timeIndex(rpmDir, topDir));
    baseline.push(hashBaseline(files));
  }
  const [m, b] = [median(measured), median(baseline)];
  return (
    `repo-index: indexRepository (${PACKAGES} RPMs) ${m.toFixed(1)} ms` +
    ` / b2sum + md5sum (same files) ${b.toFixed(1)} ms = ${(m / b).toFixed(2)}x (median of ${RUNS})`
  );
}
