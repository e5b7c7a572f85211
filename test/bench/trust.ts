/**
 * Benchmarks of the signed-image path, each a ratio against a baseline measured in the same run,
 * on the same images, interleaved (the machines are shared and noisy):
 *   signedPull  podman pull of a signed image under the policy podsec generates (GPG signature
 *               fetched from the lookaside and verified) ÷ the same pull under insecureAcceptAnything
 *   loadSign    podsec-load-sign-oci of an archive of 10 small images ÷ plain `skopeo copy --sign-by`
 *               of the same 10 images from an unpacked layout, one after the other
 * Both run the real registry, nginx, gpg, skopeo and podman in a master network namespace
 * (test/support/oci-fixtures.ts). Each returns its one printed line.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, imageStore, saveArchive, startMaster, type MasterEnv } from '../support/oci-fixtures.ts';
import { runCommand } from '../support/trust-fixtures.ts';
import { median } from './median.ts';

const line = (name: string, measured: string, baseline: string, a: number[], b: number[]) =>
  `${name}: ${measured} ${median(a).toFixed(1)} ms / ${baseline} ${median(b).toFixed(1)} ms = ${(median(a) / median(b)).toFixed(2)}x (median of ${a.length})`;

/**
 * Times commands as a user, inside one session, so the fixture's per-call overhead (namespaces,
 * runuser) is not measured: a small Node script runs the commands and prints the times as JSON.
 */
async function timedAsUser(
  m: MasterEnv,
  user: string,
  plan: { label: string; before?: string[]; argv: string[] }[],
  runs: number,
  env: Record<string, string> = {},
): Promise<Record<string, number[]>> {
  const script = join(m.work, `bench-${user}.cjs`);
  writeFileSync(
    script,
    `const { spawnSync } = require('child_process');
const plan = ${JSON.stringify(plan)};
const times = {};
for (let i = 0; i < ${runs}; i++) for (const step of plan) {
  if (step.before) spawnSync(step.before[0], step.before.slice(1), { stdio: 'ignore' });
  const t = process.hrtime.bigint();
  const r = spawnSync(step.argv[0], step.argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) { console.error(step.label + ': ' + r.stderr); process.exit(1); }
  (times[step.label] ??= []).push(ms);
}
console.log(JSON.stringify(times));
`,
    { mode: 0o644 },
  );
  const ran = await m.asUser(user, [process.execPath, script], { env, timeoutMs: 600_000 });
  if (ran.exitCode !== 0) throw new Error(`benchmark as ${user} failed: ${ran.stderr}`);
  return JSON.parse(ran.stdout.trim().split('\n').pop()!) as Record<string, number[]>;
}

async function master(label: string, maker: string): Promise<{ m: MasterEnv; fingerprint: string }> {
  const m = await startMaster(label);
  const made = await m.program('podsec-create-imagemakeruser', ['--no-password', '--gpg-generate', '--no-key-passphrase', maker]);
  if (made.exitCode !== 0) {
    await m.stop();
    throw new Error(`create-imagemakeruser: ${made.stderr}`);
  }
  return { m, fingerprint: /GPG key ([0-9A-F]{40})/.exec(made.stdout)![1]! };
}

export async function signedPull(_work: string): Promise<string> {
  const { m, fingerprint } = await master('bench-pull', 'benchmaker@registry.local');
  try {
    const store = imageStore(m.work);
    await buildImage(store, 'p11/busybox:1', 'bench-pull');
    const saved = await saveArchive(store, join(m.work, 'oci'), 'amd64', ['p11/busybox:1']);
    if (saved.exitCode !== 0) throw new Error(saved.stderr);
    await runCommand('chmod', ['-R', 'a+rX', m.work]);
    const loaded = await m.asUser('benchmaker', ['podsec-load-sign-oci', '--root', m.root, join(m.work, 'oci/amd64.tar.xz'), 'amd64', fingerprint], {
      env: { U7S_PLATFORM: 'p11' },
    });
    if (loaded.exitCode !== 0) throw new Error(loaded.stderr);
    const created = await m.program('podsec-create-podmanusers', ['--no-password', 'benchuser']);
    if (created.exitCode !== 0) throw new Error(created.stderr);
    const accept = join(m.work, 'accept.json');
    const image = 'registry.local/p11/busybox:1';
    const rmi = ['podman', 'rmi', '--force', image];
    await m.asUser('benchuser', ['podman', 'pull', '--quiet', image]); // storage set up, not timed
    const runs = 7;
    const times = await timedAsUser(
      m,
      'benchuser',
      [
        { label: 'signed', before: rmi, argv: ['podman', 'pull', '--quiet', image] },
        { label: 'accept', before: rmi, argv: ['podman', 'pull', '--quiet', '--signature-policy', accept, image] },
      ],
      runs,
    );
    return line('signed-pull', 'podman pull, podsec policy (GPG verified)', 'accept-anything policy', times.signed!, times.accept!);
  } finally {
    await m.stopUserProcesses(['benchmaker']);
    await m.stop();
  }
}

export async function loadSign(_work: string): Promise<string> {
  const { m, fingerprint } = await master('bench-load', 'benchmaker@registry.local');
  try {
    const store = imageStore(m.work);
    const images = Array.from({ length: 10 }, (_, i) => `p11/img${i}:1`);
    for (const [i, image] of images.entries()) await buildImage(store, image, `bench-${i}`);
    const saved = await saveArchive(store, join(m.work, 'oci'), 'amd64', images);
    if (saved.exitCode !== 0) throw new Error(saved.stderr);
    const layout = join(m.work, 'layout');
    await runCommand('mkdir', [layout]);
    await runCommand('tar', ['-xJf', join(m.work, 'oci/amd64.tar.xz'), '-C', layout]);
    await runCommand('chmod', ['-R', 'a+rX', m.work]);
    const archive = join(m.work, 'oci/amd64.tar.xz');
    // The loop the baseline stands for: for each image, skopeo copy --sign-by FPR oci:... docker://...
    const loop = join(m.work, 'skopeo-loop.sh');
    writeFileSync(
      loop,
      `#!/bin/sh\nset -e\nfor n in ${images.map((i) => i.slice(4, -2)).join(' ')}; do` +
        `\n  skopeo copy --quiet --dest-tls-verify=false --sign-by ${fingerprint} oci:${layout}/amd64:p11/$n:1` +
        ` docker://registry.local/p11/$n:1\ndone\n`,
      { mode: 0o755 },
    );
    const load = ['podsec-load-sign-oci', '--root', m.root, archive, 'amd64', fingerprint];
    const env = { U7S_PLATFORM: 'p11' };
    const warm = await m.asUser('benchmaker', load, { env }); // blobs in the registry once, not timed
    if (warm.exitCode !== 0) throw new Error(warm.stderr);
    const runs = 5;
    const times = await timedAsUser(
      m,
      'benchmaker',
      [
        { label: 'load', argv: load },
        { label: 'loop', argv: [loop] },
      ],
      runs,
      env,
    );
    return line('load-sign', 'podsec-load-sign-oci, 10 images', 'skopeo copy --sign-by loop', times.load!, times.loop!);
  } finally {
    await m.stopUserProcesses(['benchmaker']);
    await m.stop();
  }
}

// Run directly: npx tsx test/bench/trust.ts [signed-pull|load-sign]
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const which = process.argv[2];
  const benches: [string, (w: string) => Promise<string>][] = [
    ['signed-pull', signedPull],
    ['load-sign', loadSign],
  ];
  for (const [name, bench] of benches) {
    if (which && which !== name) continue;
    process.stdout.write(`${await bench('')}\n`);
  }
}
