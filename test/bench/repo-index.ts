/**
 * repo-index: indexing 500 RPMs (scripts/repo/index.ts, in-process: read, check, hash, copy,
 * pkglist, xz + bzip2, release) against the floor any indexer pays, `b2sum` + `md5sum` over the
 * same files. The 500 packages are variants of the project's own RPMs (renamed with our header
 * writer, digests recomputed), so sizes are realistic. Two parts of the indexer's work are also
 * timed apart, where the time goes: the two digests of every package, as the indexer makes them,
 * and the compression of the finished list (xz and bzip2 at once, as the indexer runs them).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { bzip2, xz } from '../../scripts/compress.ts';
import { indexRepository } from '../../scripts/repo/index.ts';
import { Tag } from '../../scripts/repo/pkglist.ts';
import { encodeEntry, getString, RpmType } from '../../scripts/repo/rpm-header.ts';
import { ensureBuild } from '../support/build.ts';
import { rewriteRpm } from '../support/rpm-rewrite.ts';
import { median } from './median.ts';

const PACKAGES = 500;
const RUNS = 5;

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

/** The digests alone, over packages already in memory. */
function timeDigests(packages: Buffer[]): number {
  const started = performance.now();
  for (const data of packages) {
    createHash('md5').update(data).digest('hex');
    createHash('blake2b512').update(data).digest('hex');
  }
  return performance.now() - started;
}

async function timeCompression(list: Buffer): Promise<number> {
  const started = performance.now();
  await Promise.all([xz(list), bzip2(list)]);
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
  const digests: number[] = [];
  const compression: number[] = [];
  const list = await readFile(join(topDir, 'noarch', 'base', 'pkglist.podsec'));
  const contents = files.map((file) => readFileSync(file));
  for (let i = 0; i < RUNS; i++) {
    measured.push(await timeIndex(rpmDir, topDir));
    baseline.push(hashBaseline(files));
    digests.push(timeDigests(contents));
    compression.push(await timeCompression(list));
  }
  const [m, b, d, c] = [median(measured), median(baseline), median(digests), median(compression)];
  const part = (label: string, value: number) => `${label} ${value.toFixed(1)} ms (${(value / b).toFixed(2)}x)`;
  return (
    `repo-index: indexRepository (${PACKAGES} RPMs) ${m.toFixed(1)} ms` +
    ` / b2sum + md5sum (same files) ${b.toFixed(1)} ms = ${(m / b).toFixed(2)}x (median of ${RUNS});` +
    ` timed apart: ${part('MD5 + BLAKE2b of each package', d)}, ${part(`xz + bzip2 of the ${(list.length / 1024).toFixed(0)} KiB list`, c)},` +
    ` ${part('the rest (reading, checks, list, publishing, release)', m - d - c)}`
  );
}
