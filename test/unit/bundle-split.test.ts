/**
 * The packaged programs as scripts/bundle.ts splits them (bundlePackage, the same as %build):
 * a program's --help loads only its own code and the modules it requires at start, not what its
 * commands import when they run (yaml for podsec-u7s-kubeadm); the same sources give the same
 * module names and bytes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bundlePackage, programInBundle } from '../../scripts/bundle.ts';
import model from '../../scripts/model/index.ts';

const k8s = model.packages.find((p) => p.name === 'podsec-k8s')!;
/** How esbuild names a file of the yaml package that it wraps (CommonJS in the bundle). */
const YAML_CODE = '"node_modules/yaml/dist/';

/** The files Node loaded (require.cache at exit) when it ran `program` with `args`. */
function loadedFiles(work: string, program: string, args: string[]): { status: number | null; files: string[] } {
  const report = join(work, 'loaded.json');
  const preload = join(work, 'report-loaded.cjs');
  writeFileSync(
    preload,
    `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(report)}, JSON.stringify(Object.keys(require.cache))));\n`,
  );
  const ran = spawnSync(process.execPath, ['--require', preload, program, ...args], { stdio: 'ignore', timeout: 60_000 });
  const files = (JSON.parse(readFileSync(report, 'utf8')) as string[]).filter((file) => file !== preload);
  return { status: ran.status, files };
}

test('podsec-u7s-kubeadm --help and --version load neither yaml nor the modules of its commands', async () => {
  const work = mkdtempSync(join(tmpdir(), 'podsec-split-'));
  try {
    const dir = join(work, 'podsec-k8s');
    const files = await bundlePackage(k8s, 'test', dir);
    const withYaml = files.filter((file) => readFileSync(join(dir, file), 'utf8').includes(YAML_CODE));
    assert.is(withYaml.length, 1, `yaml's code is in one module: ${withYaml.join(' ')}`);
    const program = join(dir, programInBundle('%_bindir/podsec-u7s-kubeadm'));
    for (const args of [['--help'], ['--version']]) {
      const { status, files: loaded } = loadedFiles(work, program, args);
      assert.is(status, 0, args.join(' '));
      assert.ok(loaded.includes(program), loaded.join(' '));
      assert.ok(loaded.length > 1, 'the program requires modules of its package');
      assert.not.ok(loaded.includes(join(dir, withYaml[0]!)), `${args.join(' ')} loaded yaml`);
      const size = loaded.reduce((sum, file) => sum + readFileSync(file).length, 0);
      const all = files.reduce((sum, file) => sum + readFileSync(join(dir, file)).length, 0);
      assert.ok(size < all / 5, `${args.join(' ')} loaded ${size} of the package's ${all} bytes`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('the same sources give the same programs and modules, byte for byte', async () => {
  const work = mkdtempSync(join(tmpdir(), 'podsec-split-'));
  try {
    const a = await bundlePackage(k8s, 'test', join(work, 'a'));
    const b = await bundlePackage(k8s, 'test', join(work, 'b'));
    assert.equal(a, b);
    assert.ok(a.some((file) => /\/chunk-[A-Z0-9]+\.js$/.test(file)));
    for (const file of a) assert.ok(readFileSync(join(work, 'a', file)).equals(readFileSync(join(work, 'b', file))), file);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test.run();
