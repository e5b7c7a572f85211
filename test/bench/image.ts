/**
 * Image benchmarks, each a ratio against a baseline measured in the same run:
 *   imageCache  second `npm run image -- --kind rootfs` with nothing changed ÷ the first build
 *               (into a fresh cache in `work`: the first one runs mmdebstrap)
 *   boot        nspawn boot to `running` with every package installed ÷ the bare rootfs
 *               (the same system without our packages), interleaved, medians
 * Both need root and the e2e tools. Each returns its one printed line.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { REPO_ROOT } from '../../scripts/paths.ts';
import { ensureBareImage, ensureNodeImage } from '../support/image-env.ts';
import { bootNode } from '../support/nspawn.ts';
import { withOverlay } from '../support/rootfs.ts';
import { median } from './median.ts';

const ms = (v: number) => `${v.toFixed(0)} ms`;

function timeImage(args: string[]): number {
  const started = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/image/cli.ts', ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 30 * 60_000,
  });
  const elapsed = performance.now() - started;
  if (r.status !== 0) throw new Error(`npm run image ${args.join(' ')} failed: ${r.stderr?.toString()}`);
  return elapsed;
}

export async function imageCache(work: string): Promise<string> {
  // Fixed RPMs, built once into `work` before timing, so "nothing changed" holds even while the
  // sources change under a developer's feet.
  const { build } = await import('../../scripts/build.ts');
  const model = (await import('../../scripts/model/index.ts')).default;
  const built = await build({ branch: 'p11', outDir: join(work, 'dist'), model, log: () => {} });
  const rpms = built.rpms.flatMap((r) => ['--rpms', r]);
  const args = ['--kind', 'rootfs', '--out', join(work, 'image-out'), '--cache', join(work, 'image-cache'), ...rpms];
  const first = timeImage(args);
  const second = timeImage(args);
  const line = `image-cache: second npm run image --kind rootfs ${ms(second)} / first build ${ms(first)} = ${(second / first).toFixed(3)}x`;
  return line;
}

export async function boot(_work: string): Promise<string> {
  const runs = 3;
  const all = (await ensureNodeImage()).path;
  const bare = await ensureBareImage();
  const timeBoot = (lower: string, i: number) =>
    withOverlay(lower, async (root) => {
      const node = await bootNode(root, { name: `podsec-bench-${process.pid}-${i}` });
      const t = node.bootMs;
      await node.stop();
      return t;
    });
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    a.push(await timeBoot(all, 2 * i));
    b.push(await timeBoot(bare, 2 * i + 1));
  }
  const line =
    `boot: nspawn to running, all packages ${ms(median(a))}` + ` / bare rootfs ${ms(median(b))} = ${(median(a) / median(b)).toFixed(2)}x (median of ${runs})`;
  return line;
}
