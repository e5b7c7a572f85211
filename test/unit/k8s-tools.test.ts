/**
 * npm run k8s-tools, the pure parts: the cache key, the pins of the wrapper Go modules against the
 * versions file, the image list against the manifest template, and the small parsers of the driver.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import kubeFlannel from '../../policies/u7s/manifests/kube-flannel.ts';
import { hostDebianMirror } from '../../scripts/image/debian-mirror.ts';
import { GO_MODULES_DIR, goBinaryName, privateAptOptions, sourceFile } from '../../scripts/k8s-tools/build.ts';
import { imageRef, imageSpecs, KUBEADM_REGISTRY, upgradeTargetSpecs } from '../../scripts/k8s-tools/images.ts';
import {
  BINARIES,
  cacheKey,
  GO_BUILDS,
  ETCDUTL_BUILD,
  INGRESS_CONTROLLER_BUILD,
  NEWEST_KUBEADM_BUILD,
  soloRecipeInputs,
  recipeInputs,
  STATIC_BINARIES,
  UPGRADE_TARGET_BUILDS,
  type KeyInputs,
} from '../../scripts/k8s-tools/recipe.ts';
import { TRAEFIK_VERSION } from '../../bin/u7s/lib/kubeadm-fields.ts';
import { ETCDUTL, IMAGE_TAGS, INGRESS_CONTROLLER, K8S_TOOLS_VERSIONS, NEWEST_KUBEADM, UPGRADE_TARGET } from '../../scripts/k8s-tools/versions.ts';

const inputs = (): KeyInputs => ({
  ...structuredClone(recipeInputs()),
  modules: { kubernetes: { goMod: 'module x\n', goSum: 'a h1:x\n' } },
  goVersion: 'go1.26.8',
  debian: { iptables: '1.8.9-2' },
});

test('the cache key is stable for equal inputs and changes with every input', () => {
  const base = cacheKey(inputs());
  assert.is(cacheKey(inputs()), base);
  assert.match(base, /^[0-9a-f]{32}$/);
  const changed: [string, (i: KeyInputs) => void][] = [
    ['Kubernetes version', (i) => ((i.versions as { go: typeof K8S_TOOLS_VERSIONS }).go.kubernetes.version = 'v1.34.13')],
    ['CRI-O version', (i) => ((i.versions as { go: typeof K8S_TOOLS_VERSIONS }).go.crio.version = 'v1.34.1')],
    ['etcd image tag', (i) => ((i.versions as { images: Record<string, string> }).images.etcd = '3.6.5-1')],
    ['crun version', (i) => ((i.versions as { crun: Record<string, string> }).crun.debianVersion = '1.21-2')],
    ['go.sum', (i) => (i.modules.kubernetes!.goSum += 'b h1:y\n')],
    ['go.mod', (i) => (i.modules.kubernetes!.goMod += 'require y v1.0.0\n')],
    ['Go version', (i) => (i.goVersion = 'go1.26.9')],
    ['build flags', (i) => (i.builds as { go: { ldflags: string[] }[] }).go[0]!.ldflags.push('-X=a.b=c')],
    ['recipe version', (i) => (i.recipe += 1)],
    ['a Debian package', (i) => (i.debian.iptables = '1.8.9-3')],
  ];
  const seen = new Set([base]);
  for (const [what, change] of changed) {
    const i = inputs();
    change(i);
    const key = cacheKey(i);
    assert.is.not(key, base, what);
    assert.not.ok(seen.has(key), `${what}: same key as another change`);
    seen.add(key);
  }
});

/** `require` lines of a go.mod: module -> version. */
function requires(goMod: string): Map<string, string> {
  const out = new Map<string, string>();
  const body = goMod.replace(/^require \(\n([\s\S]*?)^\)/gm, (_, block: string) => block.replace(/^\s*(\S+ \S+)/gm, 'require $1'));
  for (const m of body.matchAll(/^require\s+(\S+)\s+(\S+)/gm)) out.set(m[1]!, m[2]!);
  return out;
}

test('every wrapper go.mod requires the version of versions.ts, and tools.go imports what is built', () => {
  const wrappers = readdirSync(GO_MODULES_DIR).sort();
  const builds = [...GO_BUILDS, ...UPGRADE_TARGET_BUILDS, NEWEST_KUBEADM_BUILD, ETCDUTL_BUILD];
  assert.equal(wrappers, [...new Set([...builds, INGRESS_CONTROLLER_BUILD].map((b) => b.module))].sort());
  for (const build of builds) {
    // The programs built alone pin their own releases.
    const moduleOf =
      build === NEWEST_KUBEADM_BUILD
        ? [NEWEST_KUBEADM]
        : build === ETCDUTL_BUILD
          ? [ETCDUTL]
          : UPGRADE_TARGET_BUILDS.includes(build)
            ? [UPGRADE_TARGET.kubernetes, UPGRADE_TARGET.coredns, UPGRADE_TARGET.etcd, { ...UPGRADE_TARGET.etcd, module: 'go.etcd.io/etcd/etcdctl/v3' }]
            : Object.values(K8S_TOOLS_VERSIONS);
    const dir = join(GO_MODULES_DIR, build.module);
    const goMod = readFileSync(join(dir, 'go.mod'), 'utf8');
    const req = requires(goMod);
    const tools = readFileSync(join(dir, 'tools.go'), 'utf8');
    assert.match(tools, /^\/\/go:build tools$/m, `${build.module}/tools.go has the tools build tag`);
    const imported = [...tools.matchAll(/^\s*_ "([^"]+)"$/gm)].map((m) => m[1]!).sort();
    assert.equal(imported, Object.keys(build.packages).sort(), `${build.module}/tools.go`);
    for (const pkg of Object.keys(build.packages)) {
      const source = moduleOf.filter((s) => pkg === s.module || pkg.startsWith(`${s.module}/`)).sort((a, b) => b.module.length - a.module.length)[0];
      assert.ok(source, `${pkg}: no module in versions.ts`);
      assert.is(req.get(source.module), source.version, `${build.module}/go.mod requires ${source.module} ${source.version}`);
    }
    assert.ok(readFileSync(join(dir, 'go.sum'), 'utf8').length > 0, `${build.module}/go.sum`);
  }
  // Kubernetes' staging modules are replaced by the published ones of the same release.
  for (const [module, release] of [
    ['kubernetes', K8S_TOOLS_VERSIONS.kubernetes.version],
    [NEWEST_KUBEADM_BUILD.module, NEWEST_KUBEADM.version],
    [UPGRADE_TARGET_BUILDS[0]!.module, UPGRADE_TARGET.kubernetes.version],
  ] as const) {
    const kube = readFileSync(join(GO_MODULES_DIR, module, 'go.mod'), 'utf8');
    const staging = `v0.${release.split('.').slice(1).join('.')}`;
    const replaces = [...kube.matchAll(/^\s*(k8s\.io\/\S+) => (\S+) (\S+)$/gm)];
    assert.ok(replaces.length >= 30, `${module}: the staging replaces`);
    for (const [, from, to, version] of replaces) {
      assert.is(to, from);
      assert.is(version, staging, `${module}: ${from}`);
    }
  }
});

test("the newest kubeadm: a newer minor than the set's, its version stamped, its own cache key", () => {
  const minor = (version: string) => Number(version.split('.')[1]);
  assert.ok(minor(NEWEST_KUBEADM.version) > minor(K8S_TOOLS_VERSIONS.kubernetes.version));
  assert.ok(NEWEST_KUBEADM_BUILD.ldflags.includes(`-X=k8s.io/component-base/version.gitVersion=${NEWEST_KUBEADM.version}`));
  assert.ok(GO_BUILDS[0]!.ldflags.includes(`-X=k8s.io/component-base/version.gitVersion=${K8S_TOOLS_VERSIONS.kubernetes.version}`));
  const host = { modules: {}, goVersion: 'go1.26.8', debian: {} };
  assert.is.not(cacheKey({ ...soloRecipeInputs(NEWEST_KUBEADM, NEWEST_KUBEADM_BUILD), ...host }), cacheKey({ ...recipeInputs(), ...host }));
});

test("the ingress controller: the manifest's version, built as its own main module, pinned by its wrapper's go.sum", () => {
  assert.is(INGRESS_CONTROLLER.version, TRAEFIK_VERSION);
  assert.is(INGRESS_CONTROLLER_BUILD.inModule, INGRESS_CONTROLLER.module);
  assert.ok(INGRESS_CONTROLLER_BUILD.ldflags.includes(`-X=github.com/traefik/traefik/v3/pkg/version.Version=${TRAEFIK_VERSION}`));
  const dir = join(GO_MODULES_DIR, INGRESS_CONTROLLER_BUILD.module);
  assert.is(requires(readFileSync(join(dir, 'go.mod'), 'utf8')).get(INGRESS_CONTROLLER.module), TRAEFIK_VERSION);
  const sums = readFileSync(join(dir, 'go.sum'), 'utf8');
  for (const line of [`${INGRESS_CONTROLLER.module} ${TRAEFIK_VERSION} h1:`, `${INGRESS_CONTROLLER.module} ${TRAEFIK_VERSION}/go.mod h1:`])
    assert.ok(sums.includes(line), line);
  const host = { modules: {}, goVersion: 'go1.26.8', debian: {} };
  assert.is.not(
    cacheKey({ ...soloRecipeInputs(INGRESS_CONTROLLER, INGRESS_CONTROLLER_BUILD), ...host }),
    cacheKey({ ...soloRecipeInputs(NEWEST_KUBEADM, NEWEST_KUBEADM_BUILD), ...host }),
  );
});

test('every binary is built by exactly one recipe; images hold only static binaries', () => {
  const built = [...GO_BUILDS.flatMap((b) => Object.values(b.packages)), 'pinns', 'pause', 'crun'].sort();
  assert.equal(built, [...BINARIES].sort());
  for (const spec of imageSpecs()) {
    for (const binary of Object.keys(spec.binaries)) assert.ok(STATIC_BINARIES.includes(binary as never), `${spec.name}: ${binary} is static`);
    assert.ok(spec.entrypoint.length > 0, `${spec.name} has an entrypoint`);
    assert.ok(
      spec.env.some((e) => e.startsWith('PATH=/')),
      `${spec.name} sets PATH`,
    );
  }
  const refs = imageSpecs().map(imageRef);
  assert.is(new Set(refs).size, refs.length);
});

test("flannel's images are the ones the manifest template deploys, running what it runs", () => {
  const daemonSet = (kubeFlannel as { kind?: string }[]).find((d) => d.kind === 'DaemonSet') as unknown as {
    spec: { template: { spec: { initContainers: { image: string; command: string[] }[]; containers: { image: string; command: string[] }[] } } };
  };
  const pod = daemonSet.spec.template.spec;
  const specs = new Map(imageSpecs().map((s) => [`${s.name.split('/').pop()}:${s.tag}`, s]));
  for (const container of [...pod.initContainers, ...pod.containers]) {
    const wanted = container.image.split('/').pop()!;
    const spec = specs.get(wanted);
    assert.ok(spec, `an image for ${container.image}`);
    const command = container.command[0]!;
    if (command.startsWith('/')) assert.ok(Object.values(spec.binaries).includes(command), `${wanted} has ${command}`);
    else assert.ok(spec.host.includes(command as 'cp'), `${wanted} has ${command} on PATH`);
  }
  assert.is(specs.get(`flannel:${IMAGE_TAGS.flannel}`)?.binaries.flanneld, '/opt/bin/flanneld');
});

/** The control-plane and kube-proxy images of one Kubernetes release, in kubeadm's order. */
const kubeImages = (version: string) =>
  ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy'].map((name) => `registry.k8s.io/${name}:${version}`);

test("the upgrade target: the next minor, its kubeadm's etcd and CoreDNS, images of every tag that changes, stamped with its version", () => {
  const minor = (v: string) => Number(v.split('.')[1]);
  assert.is(minor(UPGRADE_TARGET.kubernetes.version), minor(K8S_TOOLS_VERSIONS.kubernetes.version) + 1);
  const to = UPGRADE_TARGET.kubernetes.version;
  assert.equal(upgradeTargetSpecs().map(imageRef), [
    ...kubeImages(to),
    `registry.k8s.io/coredns/coredns:${UPGRADE_TARGET.coredns.version}`,
    `registry.k8s.io/etcd:${UPGRADE_TARGET.etcdTag}`,
  ]);
  assert.ok(UPGRADE_TARGET_BUILDS[0]!.ldflags.includes(`-X=k8s.io/component-base/version.gitVersion=${to}`));
  // The programs an upgrade swaps and the images need, nothing of the set's that stays (kubectl, CRI-O, flannel).
  assert.equal(UPGRADE_TARGET_BUILDS.flatMap((b) => Object.values(b.packages)).sort(), [
    'coredns',
    'etcd',
    'etcdctl',
    'kube-apiserver',
    'kube-controller-manager',
    'kube-proxy',
    'kube-scheduler',
    'kubeadm',
    'kubelet',
  ]);
});

test("kubeadm's images: registry.k8s.io names with the pinned tags", () => {
  const kubeadm = imageSpecs()
    .filter((s) => s.name.startsWith(`${KUBEADM_REGISTRY}/`))
    .map(imageRef);
  const kube = K8S_TOOLS_VERSIONS.kubernetes.version;
  assert.equal(kubeadm, [
    ...kubeImages(kube),
    `registry.k8s.io/coredns/coredns:${K8S_TOOLS_VERSIONS.coredns.version}`,
    `registry.k8s.io/pause:${IMAGE_TAGS.pause}`,
    `registry.k8s.io/etcd:${IMAGE_TAGS.etcd}`,
  ]);
});

test('go build -o dir/ names: the last path element, a major-version suffix skipped', () => {
  assert.is(goBinaryName('k8s.io/kubernetes/cmd/kubeadm'), 'kubeadm');
  assert.is(goBinaryName('go.etcd.io/etcd/server/v3'), 'server');
  assert.is(goBinaryName('go.etcd.io/etcd/etcdctl/v3'), 'etcdctl');
  assert.is(goBinaryName('github.com/coredns/coredns'), 'coredns');
});

test("apt-cache showsrc: a source file's directory and sha256 for one version", () => {
  const showsrc = [
    'Package: crun',
    'Version: 1.20-1',
    'Directory: pool/main/c/crun',
    'Checksums-Sha256:',
    ' 1111111111111111111111111111111111111111111111111111111111111111 100 crun_1.20.orig.tar.gz',
    '',
    'Package: crun',
    'Binary: crun',
    'Version: 1.21-1',
    'Directory: pool/main/c/crun',
    'Files:',
    ' 0123 2425 crun_1.21-1.dsc',
    'Checksums-Sha256:',
    ' f513b39c99ca94d5e054c922c9407bb8aeee461ff8385953848a4bc2ebb6189d 2425 crun_1.21-1.dsc',
    ' 4bfb700e764a4804a4de3ecf07753f4c391005356d60356df65d80ae0914c486 1788933 crun_1.21.orig.tar.gz',
    'Build-Depends: libcap-dev',
    '',
  ].join('\n');
  assert.equal(sourceFile(showsrc, '1.21-1', 'crun_1.21.orig.tar.gz'), {
    directory: 'pool/main/c/crun',
    sha256: '4bfb700e764a4804a4de3ecf07753f4c391005356d60356df65d80ae0914c486',
  });
  assert.is(sourceFile(showsrc, '1.21-2', 'crun_1.21.orig.tar.gz'), undefined);
  assert.is(sourceFile(showsrc, '1.21-1', 'crun_1.22.orig.tar.gz'), undefined);
});

test("the Debian mirror is the host's own main archive (not -security); apt state stays private", () => {
  const dir = mkdtempSync(join(tmpdir(), 'podsec-sources-'));
  try {
    writeFileSync(
      join(dir, 'a.sources'),
      'Types: deb\nURIs: http://security.example/debian-security\nSuites: ' +
        'bookworm-security\nComponents: main\n\nTypes: deb deb-src\nURIs: ' +
        'http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n',
    );
    assert.is(hostDebianMirror(dir), 'http://mirror.example/debian');
    writeFileSync(join(dir, 'a.sources'), 'Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n');
    assert.throws(() => hostDebianMirror(dir), /no Debian archive/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const options = privateAptOptions('/tmp/x');
  for (const key of ['Dir::State::Lists=/tmp/x/', 'Dir::Cache=/tmp/x/', 'Dir::Etc::SourceList=/tmp/x/', 'Dir::Etc::SourceParts=/nonexistent']) {
    assert.ok(
      options.some((o) => o.startsWith(key)),
      key,
    );
  }
});

test.run();
