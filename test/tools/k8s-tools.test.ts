// test-runner: k8s-tools — npm test builds the components of npm run k8s-tools first
/**
 * npm run k8s-tools, checked on its cache entry: the binaries report the pinned versions, the ones
 * meant for images are static, kubeadm lists exactly the images we made, the images are
 * byte-identical when the images step runs again, every image copies from the OCI layout into a
 * real docker-registry with skopeo and shows its entrypoint there, the iptables and cp inside the
 * images run, and a second `npm run k8s-tools` builds nothing.
 *
 * The entry is built by `npm test` before the tests (the marker above; as `npm run k8s-tools` does);
 * where it is not built (not root, PODSEC_NO_INSTALL=1, the file run alone) these tests skip (a cold
 * build takes most of an hour), and under CI the file builds it.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureK8sTools, lookupK8sTools, type K8sTools } from '../../scripts/k8s-tools/build.ts';
import { buildImages, imageRef, imageSpecs, KUBEADM_REGISTRY } from '../../scripts/k8s-tools/images.ts';
import { STATIC_BINARIES, type Binary } from '../../scripts/k8s-tools/recipe.ts';
import { bare, CRUN, IMAGE_TAGS, K8S_TOOLS_VERSIONS } from '../../scripts/k8s-tools/versions.ts';
import { run, runTs } from '../support/exec.ts';
import { gated, inCI, missingTools, withTools } from '../support/tools.ts';
import { freePort, startRegistry } from '../support/trust-fixtures.ts';

const TOOLS = ['go', 'gcc', 'file', 'ldd', 'skopeo', 'docker-registry', 'chroot', 'tar'];

async function entry(): Promise<K8sTools | undefined> {
  if (missingTools(['go', 'dpkg-query']).length) return undefined;
  // npm test built it before the tests (a no-op here then); elsewhere only look, but CI builds it.
  return (await lookupK8sTools()) ?? (inCI() ? await ensureK8sTools() : undefined);
}

const tools = await entry();
const test = tools || missingTools(TOOLS).length ? withTools(base, TOOLS) : gated(base, 'the k8s-tools cache is not built for this recipe (npm run k8s-tools)');
const work = mkdtempSync(join(tmpdir(), 'podsec-k8s-tools-'));
base.after(() => rmSync(work, { recursive: true, force: true }));

const v = K8S_TOOLS_VERSIONS;
const bin = (name: Binary) => tools!.bin(name);
async function output(name: Binary, args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await run(bin(name), args, { env: { PATH: process.env.PATH, ...env }, cwd: work, timeoutMs: 60_000 });
  assert.is(r.exitCode, 0, `${name} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout + r.stderr;
}

test('the binaries report the pinned versions', async () => {
  const kube = v.kubernetes.version;
  assert.is((await output('kubeadm', ['version', '-o', 'short'])).trim(), kube);
  for (const name of ['kubelet', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy'] as const) {
    assert.is((await output(name, ['--version'])).trim(), `Kubernetes ${kube}`, name);
  }
  const kubectl = JSON.parse(await output('kubectl', ['version', '--client', '-o', 'json'])) as { clientVersion: { gitVersion: string; gitCommit: string } };
  assert.is(kubectl.clientVersion.gitVersion, kube);
  assert.is(kubectl.clientVersion.gitCommit, v.kubernetes.commit);
  assert.match(await output('crio', ['version']), new RegExp(`^Version:\\s+${bare(v.crio.version).replace(/\./g, '\\.')}$`, 'm'));
  assert.match(await output('etcd', ['--version']), new RegExp(`^etcd Version: ${bare(v.etcd.version)}$`, 'm'));
  assert.match(await output('etcdctl', ['version']), new RegExp(`^etcdctl version: ${bare(v.etcdctl.version)}$`, 'm'));
  assert.match(await output('coredns', ['-version']), new RegExp(`CoreDNS-${bare(v.coredns.version)}\\b`));
  assert.match(await output('crictl', ['--version']), new RegExp(`^crictl version v?${bare(v.criTools.version)}$`, 'm'));
  assert.match(await output('flanneld', ['--version']), new RegExp(`^${v.flannel.version}$`, 'm'));
  assert.match(await output('flannel', []), new RegExp(`^CNI flannel plugin ${v.flannelCni.version}$`, 'm'));
  assert.match(await output('pause', ['-v']), new RegExp(`^pause\\.c v${IMAGE_TAGS.pause}-${kube}$`, 'm'));
  const crun = /^crun version (\d+)\.(\d+)/m.exec(await output('crun', ['--version']));
  assert.ok(crun, 'crun --version');
  const [major, minor] = CRUN.version.split('.').map(Number) as [number, number];
  assert.ok(Number(crun[1]) > major || (Number(crun[1]) === major && Number(crun[2]) >= minor), `crun ${crun[1]}.${crun[2]} >= ${CRUN.version}`);
  // pinns 1.34 has its usage() commented out: -h just exits 1; without arguments it names what is missing.
  const pinnsHelp = await run(bin('pinns'), ['-h'], { cwd: work });
  assert.is(pinnsHelp.exitCode, 1, `pinns -h: ${pinnsHelp.stderr}`);
  const pinns = await run(bin('pinns'), [], { cwd: work });
  assert.match(pinns.stdout + pinns.stderr, /Path for pinning namespaces not specified/, 'pinns runs');
  assert.equal(tools!.versions.components, v);
});

test('the binaries that go into images are statically linked', async () => {
  for (const name of STATIC_BINARIES) {
    const r = await run('file', ['-b', bin(name)]);
    assert.match(r.stdout, /statically linked/, `${name}: ${r.stdout.trim()}`);
  }
});

test('kubeadm config images list names exactly the kubeadm images we made', async () => {
  const listed = (await output('kubeadm', ['config', 'images', 'list', '--kubernetes-version', v.kubernetes.version]))
    .trim()
    .split('\n')
    .filter((l) => l.includes('/'));
  const ours = imageSpecs()
    .filter((s) => s.name.startsWith(`${KUBEADM_REGISTRY}/`))
    .map(imageRef);
  assert.equal([...listed].sort(), [...ours].sort());
  for (const ref of imageSpecs().map(imageRef)) assert.match(tools!.images.list[ref] ?? '', /^sha256:[0-9a-f]{64}$/, ref);
});

/** Every file below `dir`, relative, with its bytes. */
function tree(dir: string, relative = ''): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const e of readdirSync(join(dir, relative), { withFileTypes: true })) {
    const path = relative ? `${relative}/${e.name}` : e.name;
    if (e.isDirectory()) for (const [k, b] of tree(dir, path)) out.set(k, b);
    else out.set(path, readFileSync(join(dir, path)));
  }
  return out;
}

test('the images step gives byte-identical images when run again', async () => {
  const a = await buildImages(join(tools!.dir, 'bin'), join(work, 'images-a'));
  const b = await buildImages(join(tools!.dir, 'bin'), join(work, 'images-b'));
  assert.equal(a.images, b.images);
  assert.equal(a.images, tools!.images.list, 'the same as the cached images');
  const ta = tree(join(work, 'images-a'));
  const tb = tree(join(work, 'images-b'));
  assert.equal([...ta.keys()].sort(), [...tb.keys()].sort());
  for (const [path, bytes] of ta) assert.ok(bytes.equals(tb.get(path)!), `${path} differs`);
  rmSync(join(work, 'images-b'), { recursive: true, force: true });
});

test('every image copies from the OCI layout into a docker-registry with skopeo and has its entrypoint', async () => {
  const policy = join(work, 'policy.json');
  writeFileSync(policy, '{"default":[{"type":"insecureAcceptAnything"}]}\n');
  const addr = `127.0.0.1:${await freePort()}`;
  await mkdir(join(work, 'registry'), { recursive: true });
  const registry = await startRegistry({ addr, storage: join(work, 'registry') });
  try {
    for (const spec of imageSpecs()) {
      const ref = imageRef(spec);
      const dest = `docker://${addr}/${ref.replace(`${KUBEADM_REGISTRY}/`, '')}`;
      // --preserve-digests: pushed as they are (skopeo would otherwise gzip the uncompressed layers, a new manifest).
      const copy = await run(
        'skopeo',
        ['--policy', policy, 'copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${tools!.images.layout}:${ref}`, dest],
        { timeoutMs: 600_000 },
      );
      assert.is(copy.exitCode, 0, `skopeo copy ${ref}: ${copy.stderr}`);
      const inspect = await run('skopeo', ['inspect', '--config', '--tls-verify=false', dest]);
      assert.is(inspect.exitCode, 0, inspect.stderr);
      const config = JSON.parse(inspect.stdout) as { config: { Entrypoint: string[]; Cmd?: string[]; Env: string[]; User?: string } };
      assert.equal(config.config.Entrypoint, spec.entrypoint, ref);
      assert.equal(config.config.Env, spec.env, ref);
      if (spec.cmd) assert.equal(config.config.Cmd, spec.cmd, ref);
      if (spec.user) assert.is(config.config.User, spec.user, ref);
      const manifest = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', dest]);
      const digest = `sha256:${createHash('sha256').update(manifest.stdout).digest('hex')}`;
      assert.is(digest, tools!.images.list[ref], `${ref}: the registry serves the manifest of images.json`);
    }
  } finally {
    await registry.stop();
  }
});

/**
 * Unpacks the layers of an image of the layout into `root` with GNU tar, as root: modes as in the
 * archive (node-tar's extract would apply the umask and refuses paths below the merged-/usr links).
 */
async function unpackImage(layout: string, ref: string, root: string): Promise<void> {
  const blob = (digest: string) => join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations: Record<string, string> }[] };
  const entry = index.manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === ref);
  assert.ok(entry, ref);
  const manifest = JSON.parse(readFileSync(blob(entry.digest), 'utf8')) as { layers: { digest: string }[] };
  await mkdir(root, { recursive: true });
  for (const layer of manifest.layers) {
    const r = await run('tar', ['-xpf', blob(layer.digest), '-C', root, '--numeric-owner']);
    assert.is(r.exitCode, 0, r.stderr);
  }
}

test("the images' iptables (nft and legacy) and cp run, and /tmp is 1777", async () => {
  const layout = tools!.images.layout;
  const proxy = join(work, 'root-kube-proxy');
  await unpackImage(layout, `${KUBEADM_REGISTRY}/kube-proxy:${v.kubernetes.version}`, proxy);
  for (const program of ['iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'iptables-legacy', 'iptables-legacy-save', 'iptables-nft-restore']) {
    const r = await run('chroot', [proxy, program, '--version'], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    assert.is(r.exitCode, 0, `${program}: ${r.stderr}`);
    assert.match(r.stdout, /^\S+ v\d+\.\d+\.\d+ \((nf_tables|legacy)\)/, program);
  }
  assert.is(statSync(join(proxy, 'tmp')).mode & 0o7777, 0o1777);
  const flannel = join(work, 'root-flannel');
  await unpackImage(layout, `flannel/flannel:${IMAGE_TAGS.flannel}`, flannel);
  for (const argv of [
    ['cp', '--version'],
    ['iptables', '--version'],
    ['/opt/bin/flanneld', '--version'],
  ]) {
    const r = await run('chroot', [flannel, ...argv], { env: { PATH: '/opt/bin:/usr/sbin:/usr/bin:/sbin:/bin' } });
    assert.is(r.exitCode, 0, `${argv.join(' ')}: ${r.stderr}`);
  }
});

test('a second npm run k8s-tools builds nothing and ends with the cache directory', async () => {
  const started = performance.now();
  const r = await runTs('scripts/k8s-tools/cli.ts', [], { env: { ...process.env }, timeoutMs: 120_000 });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(`second npm run k8s-tools: ${seconds} s\n`);
  assert.is(r.exitCode, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.is(lines[lines.length - 1], tools!.dir);
  assert.match(r.stdout, /cached, nothing to build/);
  assert.not.match(r.stderr, /building/);
});

test.run();
