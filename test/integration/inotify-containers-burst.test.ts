/**
 * podsec-inotify-check-containers has no blind spot: deep directory trees are made in bursts, in
 * existing layers and in new ones, while the monitor starts and while it runs. inotifywait -r
 * watches a new tree bottom-up after reporting it, so a subdirectory made meanwhile used to stay
 * unwatched forever. Here, once the monitor says (SIGUSR1 -> "synced") that everything made so far
 * is handled, it must watch exactly the directories that exist (the excluded ones left out), and a
 * file then written in every directory made in the bursts must be reported.
 * No timing in the verdict: the test waits for the monitor's own lines, with generous bounds.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { EXCLUDE } from '../../bin/inotify/containers.ts';
import { podsecTree } from '../support/inotify-tree.ts';
import { Daemon, inotifyProgram } from '../support/inotify-programs.ts';
import { withTools } from '../support/tools.ts';

const test = withTools(base, ['inotifywait']);
let program: string;
base.before(async () => {
  program = await inotifyProgram('podsec-inotify-check-containers');
});

const LAYERS = ['0', '1', '2', '3', '4', '5'].map((c) => c.repeat(64));
/** At most this many probes per layer at once: more than 20 files of a layer in half a second are summarized. */
const PER_ROUND = 12;

/**
 * A separate process that makes trees the way an image extraction does: directory after
 * directory, a file in each, as fast as it can — so directories appear while the monitor is
 * setting up the watches of their parents. Prints the inner paths it made, one per line.
 */
const EXTRACTOR = `
const { mkdirSync, writeFileSync } = require('node:fs');
const [overlay, layers, first, count, depth, width] = [process.argv[1], process.argv[2].split(','), ...process.argv.slice(3).map(Number)];
const made = [];
for (let t = first; t < first + count; t++) {
  const layer = layers[t % layers.length];
  const diff = overlay + '/' + layer + '/diff';
  mkdirSync(overlay + '/' + layer + '/work/work/w' + t, { recursive: true });
  let level = ['/usr/t' + t];
  mkdirSync(diff + '/usr', { recursive: true });
  for (let d = 0; d < depth; d++) {
    const next = [];
    for (const dir of level) {
      mkdirSync(diff + dir);
      writeFileSync(diff + dir + '/f', 'x');
      made.push(layer + ' ' + dir);
      if (next.length < width) for (let w = 0; w < width; w++) next.push(dir + '/s' + w);
    }
    level = next;
  }
}
process.stdout.write(made.join('\\n') + '\\n');
`;

function extract(overlay: string, first: number, count: number): Promise<{ layer: string; inner: string }[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', EXTRACTOR, overlay, LAYERS.join(','), String(first), String(count), '6', '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (err += c));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`extractor: ${err}`));
      resolve(
        out
          .trim()
          .split('\n')
          .map((line) => ({ layer: line.slice(0, 64), inner: line.slice(65) })),
      );
    });
  });
}

/** Every directory below `dir` that the monitor should watch, `dir` included. */
function directories(dir: string, exclude: RegExp): string[] {
  const found = [dir];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && !exclude.test(path)) found.push(...directories(path, exclude));
  }
  return found;
}

test('deep trees made in bursts while the monitor starts and runs: every directory is watched, every later change reported', async () => {
  const tree = podsecTree();
  const overlay = join(tree.root, 'var/lib/containers/storage/overlay');
  for (const layer of LAYERS.slice(0, 2)) mkdirSync(join(overlay, layer, 'diff/usr/bin'), { recursive: true });
  // A big layer already there (about 4000 directories): setting up its watches takes a while,
  // the window in which inotifywait -r lost directories made meanwhile.
  const big = (dir: string, depth: number) => {
    mkdirSync(dir, { recursive: true });
    if (depth > 0) for (let i = 0; i < 5; i++) big(join(dir, `o${i}`), depth - 1);
  };
  big(join(overlay, LAYERS[0]!, 'diff/opt'), 5);
  mkdirSync(join(overlay, LAYERS[0]!, 'work/work'), { recursive: true });
  // Bursts while the monitor starts (how they interleave with its start is up to the machine;
  // the verdict is not), then while it runs: in old layers and in layers made on the way.
  const atStart = extract(overlay, 0, 30);
  const daemon = new Daemon(program, ['--root', tree.root, '-v']);
  try {
    await daemon.waitFor(/^Debug: watching 1 container storage directories/, 120_000);
    const running = await Promise.all([extract(overlay, 30, 12), extract(overlay, 42, 12)]);
    const probes = [...(await atStart), ...running.flat()];

    // Everything made so far is handled: the watched directories are exactly those that exist.
    const since = Date.now();
    daemon.child.kill('SIGUSR1');
    const synced = await daemon.waitFor(/^Debug: synced: watching \d+ directories/, 120_000, since);
    const expected = directories(overlay, new RegExp(EXCLUDE)).length;
    assert.is(Number(/watching (\d+) directories/.exec(synced.text)![1]), expected, synced.text);

    // A file written now in each of those directories is reported (in rounds, so no layer's half
    // second holds more than PER_ROUND files and each is listed by name).
    const byLayer = new Map<string, string[]>();
    for (const p of probes) byLayer.set(p.layer, [...(byLayer.get(p.layer) ?? []), p.inner]);
    const rounds = Math.max(...[...byLayer.values()].map((list) => Math.ceil(list.length / PER_ROUND)));
    for (let round = 0; round < rounds; round++) {
      const waits: Promise<unknown>[] = [];
      for (const [layer, inners] of byLayer) {
        for (const inner of inners.slice(round * PER_ROUND, (round + 1) * PER_ROUND)) {
          writeFileSync(join(overlay, layer, 'diff', inner, 'probe'), 'x');
          const quoted = JSON.stringify(`${inner}/probe`).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          waits.push(daemon.waitFor(new RegExp(`^Critical: An event CREATE(,MODIFY)? occurred in the container ${layer} on the file ${quoted}$`), 60_000));
        }
      }
      await Promise.all(waits);
    }
    assert.not.ok(
      daemon.lines.some((l) => /files changed in the container/.test(l.text) && /probe/.test(l.text)),
      'a round was summarized',
    );
    assert.not.ok(
      daemon.lines.some((l) => /\/w\d+"?$|work/.test(l.text) && /^(Critical|Warning)/.test(l.text)),
      'the work dirs are not reported',
    );
    process.stdout.write(`burst: 54 trees (24 made while the monitor ran), ${expected} directories watched, ${probes.length} probes reported\n`);
  } finally {
    assert.is(await daemon.stop(), 0);
    tree.cleanup();
  }
});

test.run();
