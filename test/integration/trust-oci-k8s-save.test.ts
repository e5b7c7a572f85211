/**
 * podsec-k8s-save-oci with the real skopeo and docker-registry. There is no kubeadm binary for
 * this machine, so a clearly named test double answers `kubeadm version -o short` and
 * `kubeadm config images list --kubernetes-version V --image-repository R` (the only two calls
 * the command makes); the images it lists are served by a local registry on a free 127.0.0.1 port.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildImage, imageStore, seedAccounts, type ImageStore } from '../support/oci-fixtures.ts';
import { asRoot, hasTool, withTools } from '../support/tools.ts';
import { freePort, makeTree, runCommand, runProgram, startRegistry, type Service } from '../support/trust-fixtures.ts';

const base = suite('trust oci: podsec-k8s-save-oci');
const TOOLS = ['podman', 'skopeo', 'docker-registry', 'xz', 'tar'];
const test = withTools(base, TOOLS);

let work = '';
let root = '';
let store: ImageStore;
let registry: Service | undefined;
let address = '';
let env: NodeJS.ProcessEnv = {};

const KUBE = ['kube-apiserver:v1.28.3', 'pause:3.9', 'etcd:3.5.9-0', 'coredns/coredns:v1.10.1'];
const FLANNEL = ['flannel:v0.25.1', 'flannel-cni-plugin:v1.4.0-flannel1'];

base.before(async () => {
  if (TOOLS.some((tool) => !hasTool(tool))) return;
  work = mkdtempSync(join(tmpdir(), 'podsec-k8ssave-'));
  root = makeTree('k8ssave');
  seedAccounts(root);
  store = imageStore(work);
  address = `127.0.0.1:${await freePort()}`;
  mkdirSync(join(work, 'registry'));
  mkdirSync(join(work, 'registry-config'));
  registry = await startRegistry({ addr: address, storage: join(work, 'registry'), configDir: join(work, 'registry-config') });
  for (const [i, image] of [...KUBE, ...FLANNEL].entries()) {
    await buildImage(store, `c10f/${image}`, `k8s-${i}`);
    const pushed = await runCommand('skopeo', [
      '--policy',
      store.policy,
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `${store.transport}localhost/c10f/${image}`,
      `docker://${address}/c10f/${image}`,
    ]);
    assert.is(pushed.exitCode, 0, pushed.stderr);
  }
  // The test double of kubeadm, first on PATH.
  const bin = join(work, 'bin');
  mkdirSync(bin);
  writeFileSync(
    join(bin, 'kubeadm'),
    `#!/bin/sh
# kubeadm test double for podsec-k8s-save-oci: records its arguments, answers the two calls it makes.
echo "$*" >> "${work}/kubeadm-calls"
case "$1 $2" in
  "version -o") echo v1.28.3 ;;
  "config images")
    repo=""; while [ $# -gt 0 ]; do [ "$1" = --image-repository ] && repo="$2"; shift; done
    for i in ${KUBE.join(' ')}; do echo "$repo/$i"; done ;;
  *) echo "kubeadm double: unexpected call: $*" >&2; exit 3 ;;
esac
`,
  );
  chmodSync(join(bin, 'kubeadm'), 0o755);
  env = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
    U7S_FLANNEL_TAG: 'v0.25.1',
    U7S_FLANNELCNIPLUGIN_TAG: 'v1.4.0-flannel1',
    LANG: 'C',
  };
});

base.after(async () => {
  await registry?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  if (root) rmSync(root, { recursive: true, force: true });
});

const save = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
  runProgram('podsec-k8s-save-oci', ['--root', root, '--registry', address, '--no-tls-verify', '--signature-policy', store.policy, ...args], {
    env: { ...env, ...extraEnv },
    timeoutMs: 300_000,
  });

test('saves the kubeadm image set plus flannel for one architecture, named <platform>/...', async () => {
  const out = join(work, 'oci');
  const ran = await save([out, 'amd64']);
  assert.is(ran.exitCode, 0, ran.stderr);
  assert.match(ran.stdout, /^Saving images: 1\/6 amd64 c10f\/kube-apiserver:v1\.28\.3$/m);
  const layout = join(work, 'unpacked');
  mkdirSync(layout);
  assert.is((await runCommand('tar', ['-xJf', join(out, 'amd64.tar.xz'), '-C', layout])).exitCode, 0);
  const index = JSON.parse(readFileSync(join(layout, 'amd64/index.json'), 'utf8'));
  assert.equal(
    index.manifests.map((e: { annotations: Record<string, string> }) => e.annotations['org.opencontainers.image.ref.name']),
    [...KUBE, ...FLANNEL].map((i) => `c10f/${i}`),
  );
  assert.match(
    readFileSync(join(work, 'kubeadm-calls'), 'utf8'),
    new RegExp(`config images list --kubernetes-version v1\\.28\\.3 --image-repository ${address}/c10f`),
  );
});

test('--compression-level 0 gives the same layout in a larger archive than the default level 9', async () => {
  const indexes: unknown[] = [];
  const sizes: number[] = [];
  for (const [dir, extra] of [
    ['level-default', []],
    ['level-0', ['--compression-level', '0']],
  ] as const) {
    const ran = await save([join(work, dir), 'amd64', ...extra]);
    assert.is(ran.exitCode, 0, ran.stderr);
    const archive = join(work, dir, 'amd64.tar.xz');
    sizes.push(statSync(archive).size);
    const index = await runCommand('tar', ['-xJOf', archive, 'amd64/index.json']);
    assert.is(index.exitCode, 0, index.stderr);
    indexes.push(JSON.parse(index.stdout));
  }
  assert.equal(indexes[1], indexes[0]);
  assert.ok(sizes[1]! > sizes[0]!, `level 0: ${sizes[1]} bytes, level 9: ${sizes[0]} bytes`);
});

test('U7S_KUBEVERSION is passed to kubeadm', async () => {
  const ran = await save([join(work, 'oci-dry'), 'amd64', '--dry-run'], { U7S_KUBEVERSION: 'v1.28.3' });
  assert.is(ran.exitCode, 0, ran.stderr);
  assert.match(ran.stdout, new RegExp(`${address}/c10f/flannel-cni-plugin:v1\\.4\\.0-flannel1`));
});

const refused = async (args: string[], exitCode: number, message: RegExp, extraEnv: NodeJS.ProcessEnv = {}) => {
  const out = join(work, `refused-${Math.random().toString(16).slice(2)}`);
  const ran = await save([out, ...args], extraEnv);
  assert.is(ran.exitCode, exitCode, ran.stderr);
  assert.match(ran.stderr, message);
  assert.throws(() => readFileSync(join(out, 'amd64.tar.xz')));
};

for (const level of ['10', '-1', '9; reboot', '']) {
  test(`--compression-level ${JSON.stringify(level)} is refused (exit 1)`, () =>
    refused(['amd64', `--compression-level=${level}`], 1, /--compression-level: expected a number from 0 to 9/));
}
test('more than one architecture is refused (exit 2)', () => refused(['amd64,arm64'], 2, /Unknown architecture "amd64,arm64": give exactly one/));
test('a k8s- platform prefix is refused (exit 1)', () => refused(['amd64', 'k8s-c10f1'], 1, /k8s-c10f1 \(k8s-\.\.\.\) is not supported since 11\.11\.2024/));
test('missing flannel tags are refused (exit 1)', () => refused(['amd64'], 1, /set U7S_FLANNEL_TAG and U7S_FLANNELCNIPLUGIN_TAG/, { U7S_FLANNEL_TAG: '' }));
test('a bad Kubernetes version is refused (exit 1)', () => refused(['amd64'], 1, /must look like v1\.28\.3/, { U7S_KUBEVERSION: '1.28; reboot' }));
test('an extra image naming another registry is refused (exit 3)', async () => {
  await refused(['amd64'], 3, /invalid image name "docker\.io\/evil:1": it names the registry host docker\.io/, { U7S_ARCHIMAGES: 'docker.io/evil:1' });
});
asRoot(withTools(base, [...TOOLS, 'setpriv']))('not root: refused (exit 1)', async () => {
  const ran = await runCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', 'process.exit(0)']);
  assert.is(ran.exitCode, 0, `node must run as nobody for this test: ${ran.stderr}`);
  const { bundledProgram } = await import('../support/trust-fixtures.ts');
  const result = await runCommand(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, await bundledProgram('podsec-k8s-save-oci'), join(work, 'x'), 'amd64'],
    { env },
  );
  assert.is(result.exitCode, 1);
  assert.match(result.stderr, /must be run as root user/);
});

test.run();
