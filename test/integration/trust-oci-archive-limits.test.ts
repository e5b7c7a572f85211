/**
 * The bounds of unpacking an `<arch>.tar.xz` (bin/trust/oci/archive.ts) with the real xz and tar:
 * blobs no image refers to are not written; an archive past the byte or entry limit is refused
 * with the option's name before anything is written (an xz bomb of 64 MiB zeros against a 16 MiB
 * limit); a full disk (a 1 MiB tmpfs in a private mount namespace) is reported as a full disk, not
 * as "not an xz archive".
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { run, runInPrivateMounts } from '../support/exec.ts';
import { withTools } from '../support/tools.ts';

const test = withTools(base, ['xz', 'tar', 'unshare', 'mount']);
const work = mkdtempSync(join(tmpdir(), 'podsec-archive-limits-'));
const EXTRACT = join(import.meta.dirname, '../support/extract-layout.ts');
const MiB = 1024 * 1024;
base.after(() => rmSync(work, { recursive: true, force: true }));

let archives = 0;
/** An amd64/ layout with one image whose layer is `layer`, plus `extra` blobs no image refers to, packed with tar and xz. */
async function archiveWith(layer: Buffer, extra: Buffer[] = []): Promise<{ archive: string; referenced: string[]; unreferenced: string[] }> {
  const dir = join(work, `a${archives++}`);
  const blobs = join(dir, 'amd64/blobs/sha256');
  mkdirSync(blobs, { recursive: true });
  const blob = (data: Buffer | string) => {
    const hex = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(blobs, hex), data);
    return { hex, descriptor: { digest: `sha256:${hex}`, size: Buffer.byteLength(data) } };
  };
  const layerBlob = blob(layer);
  const config = blob(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${layerBlob.hex}`] } }));
  const manifestType = 'application/vnd.oci.image.manifest.v1+json';
  const manifest = blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestType,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config.descriptor },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layerBlob.descriptor }],
    }),
  );
  const unreferenced = extra.map((data) => blob(data).hex);
  writeFileSync(join(dir, 'amd64/oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(dir, 'amd64/index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: manifestType, ...manifest.descriptor, annotations: { 'org.opencontainers.image.ref.name': 'p11/x:1' } }],
    }),
  );
  const archive = `${dir}.tar.xz`;
  const packed = await run('bash', ['-c', 'set -o pipefail; tar -C "$1" -cf - amd64 | xz -1 > "$2"', 'bash', dir, archive]);
  assert.is(packed.exitCode, 0, packed.stderr);
  rmSync(dir, { recursive: true });
  return { archive, referenced: [layerBlob.hex, config.hex, manifest.hex].sort(), unreferenced };
}

async function extract(archive: string, dest: string, limits = { maxBytes: 64 * MiB, maxEntries: 100 }) {
  const ran = await run(process.execPath, ['--import', 'tsx', EXTRACT, archive, 'amd64', dest, String(limits.maxBytes), String(limits.maxEntries)]);
  assert.is(ran.exitCode, 0, ran.stderr);
  return JSON.parse(ran.stdout) as { ok?: true; kind?: string; message?: string };
}

const freshDir = () => mkdtempSync(join(work, 'dest-'));
const written = (dest: string) => readdirSync(dest, { recursive: true }).map(String).sort();

test('blobs no image refers to are not written', async () => {
  const { archive, referenced, unreferenced } = await archiveWith(randomBytes(1000), [randomBytes(2 * MiB), Buffer.from('{"not":"referenced"}')]);
  const dest = freshDir();
  assert.equal(await extract(archive, dest), { ok: true });
  assert.equal(readdirSync(join(dest, 'amd64/blobs/sha256')).sort(), referenced);
  for (const hex of unreferenced) assert.not.ok(referenced.includes(hex));
});

const limitCases: [string, () => Buffer[], { maxBytes: number; maxEntries: number }, RegExp][] = [
  [
    'an xz bomb past --archive-max-bytes',
    () => [Buffer.alloc(64 * MiB)],
    { maxBytes: 16 * MiB, maxEntries: 100 },
    /more than 16777216 bytes \(--archive-max-bytes\)/,
  ],
  [
    'an archive past --archive-max-entries',
    () => Array.from({ length: 30 }, (_, i) => Buffer.from(`extra ${i}`)),
    { maxBytes: 64 * MiB, maxEntries: 20 },
    /more than 20 entries \(--archive-max-entries\)/,
  ],
];
for (const [name, extra, limits, message] of limitCases) {
  test(`${name} is refused before anything is written`, async () => {
    const { archive } = await archiveWith(randomBytes(1000), extra());
    const dest = freshDir();
    const result = await extract(archive, dest, limits);
    assert.is(result.kind, 'limit');
    assert.match(result.message!, message);
    assert.equal(written(dest), []);
  });
}

test('a full disk is reported as a full disk (a 1 MiB tmpfs in a private mount namespace)', async () => {
  const { archive } = await archiveWith(randomBytes(3 * MiB));
  const mountPoint = freshDir();
  const script = 'mount -t tmpfs -o size=1m podsec-test "$1" && shift && exec "$@"';
  const ran = await runInPrivateMounts(script, [
    'sh',
    mountPoint,
    process.execPath,
    '--import',
    'tsx',
    EXTRACT,
    archive,
    'amd64',
    mountPoint,
    String(64 * MiB),
    '100',
  ]);
  assert.is(ran.exitCode, 0, ran.stderr);
  const result = JSON.parse(ran.stdout) as { kind?: string; message?: string };
  assert.is(result.kind, 'disk-full', ran.stdout);
  assert.match(result.message!, /no space left in .* while unpacking/);
  assert.equal(written(mountPoint), [], 'the tmpfs was private to the namespace');
});

test.run();
