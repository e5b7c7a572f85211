/**
 * `npm run k8s-tools` and ensureK8sTools(): the real Kubernetes node components, built once per
 * machine from their Go modules (and three small C programs) into a content-addressed cache
 *
 *   ${PODSEC_K8S_TOOLS_CACHE:-/var/cache/podsec/k8s-tools}/<key>/
 *     bin/<binary>          every name of recipe.ts BINARIES
 *     versions.json         what was built, from which versions, with which Go
 *     build.json            seconds per component
 *     images/oci/           one OCI layout, an index entry per image (ref.name = name:tag)
 *     images/images.json    name:tag -> manifest digest
 *   …/kubeadm/<version>-<key>/bin/kubeadm   kubeadm of the newest Kubernetes minor alone (ensureNewestKubeadm)
 *   …/etcdutl/<version>-<key>/bin/etcdutl   etcdutl of the set's etcd release alone (ensureEtcdutl)
 *   …/ingress/<version>-<key>/bin/traefik   the ingress controller alone (ensureIngressController)
 *   …/upgrade/<version>-<key>/              the release an upgrade goes to (ensureUpgradeTarget):
 *     bin/, images/oci/, images/images.json   its Kubernetes programs, etcd, CoreDNS and their images
 *
 * The key hashes the versions, the wrapper modules' go.mod/go.sum, the Go version, the build
 * recipe (flags, tags, ldflags, recipe version) and the versions of the Debian packages whose files
 * end up in the outputs. The entry is built in a temporary directory beside it under a lock and
 * renamed into place when complete (scripts/image/cache.ts): a concurrent run waits and then finds
 * it; a killed run leaves no half entry. Go's own caches (GOCACHE, GOMODCACHE) stay the defaults,
 * shared with every other Go build of the machine. Nothing is fetched but Go modules (the module
 * proxy, checked against go.sum) and Debian packages and sources (apt).
 */
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { cachedEntry, fileSha256, pruneEntries } from '../image/cache.ts';
import { hostDebianMirror } from '../image/debian-mirror.ts';
import { ensureHostPackages, parseDpkgQuery } from '../host-install.ts';
import { buildImages, upgradeTargetSpecs } from './images.ts';
import {
  BINARIES,
  BUILD_PACKAGES,
  C_BUILDS,
  cacheKey,
  GO_BUILDS,
  GO_FLAGS,
  NEWEST_KUBEADM_BUILD,
  ETCDUTL_BUILD,
  INGRESS_CONTROLLER_BUILD,
  soloRecipeInputs,
  UPGRADE_TARGET_BUILDS,
  recipeInputs,
  type Binary,
  type GoBuild,
  type KeyInputs,
} from './recipe.ts';
import { CRUN, ETCDUTL, IMAGE_TAGS, INGRESS_CONTROLLER, K8S_TOOLS_VERSIONS, NEWEST_KUBEADM, UPGRADE_TARGET, type GoSource } from './versions.ts';

const K8S_TOOLS_DIR = dirname(fileURLToPath(import.meta.url));
export const GO_MODULES_DIR = join(K8S_TOOLS_DIR, 'go');
const DEFAULT_CACHE = '/var/cache/podsec/k8s-tools';
const cacheRoot = () => process.env.PODSEC_K8S_TOOLS_CACHE || DEFAULT_CACHE;

/** Debian packages whose files are copied into the images (their versions are part of the key). */
const IMAGE_PACKAGES = [
  'libc6',
  'iptables',
  'libxtables12',
  'libip4tc2',
  'libip6tc2',
  'libnftnl11',
  'libmnl0',
  'libnetfilter-conntrack3',
  'libnfnetlink0',
  'coreutils',
  'libacl1',
  'libattr1',
  'libselinux1',
  'libpcre2-8-0',
  'libgmp10',
];

/** A whole cold build on 2 shared cores can take hours; a waiting run gives up after this. */
const LOCK_WAIT_MS = 4 * 60 * 60_000;
const KEEP_ENTRIES = 2;
/** The upgrade target's entries, beside the set's (ensureUpgradeTarget). */
const UPGRADE_DIR = 'upgrade';
const GO_BUILD_TIMEOUT_MS = 3 * 60 * 60_000;
const STEP_TIMEOUT_MS = 30 * 60_000;

type Log = (line: string) => void;
const stderrLog: Log = (line) => process.stderr.write(`${line}\n`);

interface VersionsJson {
  key: string;
  recipe: number;
  go: string;
  components: typeof K8S_TOOLS_VERSIONS;
  imageTags: typeof IMAGE_TAGS;
  crun: typeof CRUN & { commit: string };
  debian: Record<string, string>;
  images: Record<string, string>;
}

export interface K8sTools {
  dir: string;
  bin(name: Binary): string;
  images: { layout: string; list: Record<string, string> };
  versions: VersionsJson;
  /** false when this call built the entry. */
  cached: boolean;
}

async function must(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}) {
  const r = await execa(command, args, {
    reject: false,
    stdin: 'ignore',
    all: true,
    timeout: options.timeout ?? STEP_TIMEOUT_MS,
    cwd: options.cwd,
    env: options.env,
    extendEnv: !options.env,
  });
  if (r.exitCode !== 0) {
    throw new Error(
      `${command} ${args.join(' ')}${options.cwd ? ` (in ${options.cwd})` : ''}` +
        ` failed (${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}):\n${(r.all ?? '').slice(-6000)}`,
    );
  }
  return r.stdout;
}

/** The environment of every go command: local toolchain only, go.sum verified, no workspace. */
function goEnv(cgo: boolean): NodeJS.ProcessEnv {
  const path = process.env.PATH ?? '/usr/bin:/bin';
  const withGo = existsSync('/usr/local/go/bin/go') && !path.split(delimiter).includes('/usr/local/go/bin') ? `${path}${delimiter}/usr/local/go/bin` : path;
  return { ...process.env, PATH: withGo, CGO_ENABLED: cgo ? '1' : '0', GOFLAGS: '-mod=readonly', GOTOOLCHAIN: 'local', GOWORK: 'off', LC_ALL: 'C' };
}

/** dpkg's version of each package, or "absent". */
async function debianVersions(packages: readonly string[]): Promise<Record<string, string>> {
  const r = await execa('dpkg-query', ['-W', '-f', '${Package}\t${db:Status-Abbrev}\t${Version}\n', ...packages], { reject: false, stdin: 'ignore' });
  return parseDpkgQuery(r.stdout, packages);
}

/** Installs the Debian packages the build needs that are missing (as root, saying which); refuses to go on without them. */
async function ensureBuildPackages(log: Log): Promise<void> {
  const missing = await ensureHostPackages('k8s-tools', { log });
  if (missing.length > 0) throw new Error(`k8s-tools needs these Debian packages: ${missing.map((n) => n.deb).join(' ')}`);
}

/** go.mod and go.sum of the wrapper modules of `builds`, and the Go version. */
async function goInputs(builds: GoBuild[]): Promise<Pick<KeyInputs, 'modules' | 'goVersion'>> {
  const modules: KeyInputs['modules'] = {};
  for (const name of [...new Set(builds.map((b) => b.module))].sort()) {
    modules[name] = {
      goMod: await fs.readFile(join(GO_MODULES_DIR, name, 'go.mod'), 'utf8'),
      goSum: await fs.readFile(join(GO_MODULES_DIR, name, 'go.sum'), 'utf8'),
    };
  }
  const goVersion = (await must('go', ['env', 'GOVERSION'], { env: goEnv(false) })).trim();
  return { modules, goVersion };
}

/** Everything the key is made of. */
async function keyInputs(): Promise<KeyInputs> {
  const debian = await debianVersions([...new Set([...BUILD_PACKAGES, ...IMAGE_PACKAGES])].sort());
  return { ...recipeInputs(), ...(await goInputs(GO_BUILDS)), debian };
}

/** The default binary name `go build -o dir/` gives a main package (a major-version suffix is skipped). */
export function goBinaryName(pkg: string): string {
  const parts = pkg.split('/');
  const last = parts[parts.length - 1]!;
  return /^v\d+$/.test(last) && parts.length > 1 ? parts[parts.length - 2]! : last;
}

async function goBuild(build: GoBuild, bin: string, work: string): Promise<void> {
  const out = join(work, `go-${build.component}`);
  await fs.mkdir(out, { recursive: true });
  const args = [
    'build',
    ...GO_FLAGS,
    ...(build.tags.length ? ['-tags', build.tags.join(',')] : []),
    `-ldflags=${build.ldflags.join(' ')}`,
    '-o',
    `${out}/`,
    ...Object.keys(build.packages),
  ];
  await must('go', args, { cwd: await buildDirectory(build, work), env: goEnv(build.cgo), timeout: GO_BUILD_TIMEOUT_MS });
  for (const [pkg, name] of Object.entries(build.packages)) await fs.rename(join(out, goBinaryName(pkg)), join(bin, name));
}

/** Where `go build` runs: the wrapper module, or a writable copy of the module built as the main module. */
async function buildDirectory(build: GoBuild, work: string): Promise<string> {
  const wrapper = join(GO_MODULES_DIR, build.module);
  if (!build.inModule) return wrapper;
  const copy = join(work, `src-${build.component}`);
  await fs.cp(await moduleDir(build.module, build.inModule), copy, { recursive: true });
  await must('chmod', ['-R', 'u+w', copy]); // the module cache is read-only
  return copy;
}

/** The directory of a module of a wrapper's build list (downloaded and checked against go.sum if needed). */
async function moduleDir(wrapper: string, module: string): Promise<string> {
  // `go list -m` names no directory for a module not yet in the module cache; `go mod download` fetches it first.
  const downloaded = await must('go', ['mod', 'download', '-json', module], { cwd: join(GO_MODULES_DIR, wrapper), env: goEnv(false) });
  const { Dir: dir } = JSON.parse(downloaded) as { Dir?: string };
  if (!dir) throw new Error(`go mod download ${module}: no directory`);
  return dir;
}

async function buildPinns(bin: string, work: string): Promise<void> {
  const src = join(await moduleDir('crio', K8S_TOOLS_VERSIONS.crio.module), C_BUILDS.pinns.sources);
  const objDir = join(work, 'pinns');
  await fs.mkdir(objDir, { recursive: true });
  const objects: string[] = [];
  for (const file of (await fs.readdir(src)).filter((f) => f.endsWith('.c')).sort()) {
    const obj = join(objDir, file.replace(/\.c$/, '.o'));
    await must('gcc', [...C_BUILDS.pinns.cflags, '-c', '-o', obj, join(src, file)]);
    objects.push(obj);
  }
  await must('gcc', ['-o', join(bin, 'pinns'), ...objects, ...C_BUILDS.pinns.cflags]);
  await must('strip', ['-s', join(bin, 'pinns')]);
}

async function buildPause(bin: string): Promise<void> {
  const src = join(await moduleDir('kubernetes', K8S_TOOLS_VERSIONS.kubernetes.module), C_BUILDS.pause.source);
  await must('gcc', [...C_BUILDS.pause.cflags, '-o', join(bin, 'pause'), src]);
  await must('strip', ['-s', join(bin, 'pause')]);
}

/** Options that give apt a private state under `dir`: the host's apt lists, cache and sources are untouched. */
export function privateAptOptions(dir: string): string[] {
  return [
    '-o',
    `Dir::State::Lists=${dir}/lists`,
    '-o',
    `Dir::Cache=${dir}/cache`,
    '-o',
    `Dir::Etc::SourceList=${dir}/sources.list`,
    '-o',
    'Dir::Etc::SourceParts=/nonexistent',
    '-o',
    'Dir::State::status=/var/lib/dpkg/status',
    '-o',
    'APT::Sandbox::User=root',
  ];
}

/** The `Directory` and sha256 of a file of a source package version, from `apt-cache showsrc` output. */
export function sourceFile(showsrc: string, version: string, file: string): { directory: string; sha256: string } | undefined {
  for (const stanza of showsrc.split(/\n\s*\n/)) {
    if (!new RegExp(`^Version: ${version.replace(/[.+]/g, '\\$&')}$`, 'm').test(stanza)) continue;
    const directory = /^Directory: (\S+)$/m.exec(stanza)?.[1];
    const sums = /^Checksums-Sha256:\n((?: .+\n?)+)/m.exec(stanza)?.[1] ?? '';
    const sha256 = sums
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .find((f) => f[2] === file)?.[0];
    if (directory && sha256) return { directory, sha256 };
  }
  return undefined;
}

/**
 * crun from Debian trixie's source package: its upstream tarball, fetched by apt with a private
 * configuration (a deb-src line for trixie on the host's own mirror), checked against the signed
 * Sources index and the pinned sha256, configured and built against bookworm's libraries.
 */
async function buildCrun(bin: string, work: string, log: Log): Promise<string> {
  const apt = join(work, 'apt');
  for (const d of ['lists/partial', 'cache/archives/partial']) await fs.mkdir(join(apt, d), { recursive: true });
  const mirror = hostDebianMirror();
  await fs.writeFile(join(apt, 'sources.list'), `deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} ${CRUN.suite} main\n`);
  const options = privateAptOptions(apt);
  await must('apt-get', [...options, '-q', 'update']);
  const showsrc = await must('apt-cache', [...options, 'showsrc', CRUN.sourcePackage]);
  const entry = sourceFile(showsrc, CRUN.debianVersion, CRUN.orig);
  if (!entry) throw new Error(`${CRUN.suite} has no ${CRUN.sourcePackage} ${CRUN.debianVersion} with ${CRUN.orig} (apt-cache showsrc)`);
  if (entry.sha256 !== CRUN.origSha256) throw new Error(`${CRUN.orig}: the Sources index says sha256 ${entry.sha256}, versions.ts pins ${CRUN.origSha256}`);
  const tarball = join(work, CRUN.orig);
  log(`k8s-tools: fetching ${CRUN.sourcePackage} ${CRUN.debianVersion} source (${CRUN.orig}) from ${CRUN.suite}`);
  await must('/usr/lib/apt/apt-helper', [...options, 'download-file', `${mirror}/${entry.directory}/${CRUN.orig}`, tarball, `SHA256:${CRUN.origSha256}`]);
  if ((await fileSha256(tarball)) !== CRUN.origSha256) throw new Error(`${tarball}: sha256 mismatch`);
  const srcRoot = join(work, 'crun-src');
  await fs.mkdir(srcRoot, { recursive: true });
  await must('tar', ['-xzf', tarball, '-C', srcRoot, '--no-same-owner']);
  const src = join(srcRoot, `crun-${CRUN.version}`);
  await must('./configure', [...C_BUILDS.crun.configure], { cwd: src });
  await must('make', [`-j${Math.max(1, availableParallelism())}`], { cwd: src });
  await must('strip', ['-s', join(src, 'crun')]);
  await fs.copyFile(join(src, 'crun'), join(bin, 'crun'));
  await fs.chmod(join(bin, 'crun'), 0o755);
  return /^commit: (\S+)/m.exec(await must(join(bin, 'crun'), ['--version']))?.[1] ?? '';
}

async function timed<T>(name: string, times: Record<string, number>, log: Log, step: () => Promise<T>): Promise<T> {
  log(`k8s-tools: building ${name} …`);
  const start = performance.now();
  const result = await step();
  times[name] = Math.round((performance.now() - start) / 100) / 10;
  log(`k8s-tools: ${name} built in ${times[name]} s`);
  return result;
}

/** Builds everything into `tmp` (a fresh path), in the layout of the file comment. */
async function buildAll(tmp: string, inputs: KeyInputs, key: string, log: Log): Promise<void> {
  const bin = join(tmp, 'bin');
  const work = join(tmp, 'work');
  await fs.mkdir(bin, { recursive: true });
  await fs.mkdir(work, { recursive: true });
  const times: Record<string, number> = {};
  const started = performance.now();
  // The small C programs first, Kubernetes (the largest) last: the quick components show their
  // problems, if any, before the long wait.
  await timed('pinns', times, log, () => buildPinns(bin, work));
  await timed('pause', times, log, () => buildPause(bin));
  const crunCommit = await timed(`crun ${CRUN.version}`, times, log, () => buildCrun(bin, work, log));
  for (const build of [...GO_BUILDS].sort((a, b) => Number(a.component === 'kubernetes') - Number(b.component === 'kubernetes'))) {
    await timed(`${build.component} (${Object.values(build.packages).join(', ')})`, times, log, () => goBuild(build, bin, work));
  }
  const missing = BINARIES.filter((b) => !existsSync(join(bin, b)));
  if (missing.length) throw new Error(`not built: ${missing.join(', ')}`);
  const images = await timed('images', times, log, () => buildImages(bin, join(tmp, 'images')));
  times.total = Math.round((performance.now() - started) / 100) / 10;
  const versions: VersionsJson = {
    key,
    recipe: inputs.recipe,
    go: inputs.goVersion,
    components: K8S_TOOLS_VERSIONS,
    imageTags: IMAGE_TAGS,
    crun: { ...CRUN, commit: crunCommit },
    debian: inputs.debian,
    images: images.images,
  };
  await fs.writeFile(join(tmp, 'versions.json'), `${JSON.stringify(versions, null, 2)}\n`);
  await fs.writeFile(join(tmp, 'build.json'), `${JSON.stringify({ seconds: times }, null, 2)}\n`);
  await fs.rm(work, { recursive: true, force: true });
  log(`k8s-tools: total ${times.total} s`);
}

function describe(dir: string, cached: boolean, versions: VersionsJson): K8sTools {
  return {
    dir,
    bin: (name) => join(dir, 'bin', name),
    images: { layout: join(dir, 'images', 'oci'), list: versions.images },
    versions,
    cached,
  };
}

/** The cache entry for the current recipe if it is complete; nothing is built or installed. */
export async function lookupK8sTools(options: { cache?: string } = {}): Promise<K8sTools | undefined> {
  const dir = join(options.cache ?? cacheRoot(), cacheKey(await keyInputs()));
  const versionsFile = join(dir, 'versions.json');
  if (!existsSync(versionsFile)) return undefined;
  return describe(dir, true, JSON.parse(await fs.readFile(versionsFile, 'utf8')) as VersionsJson);
}

/**
 * The cache entry for the current recipe, built first if absent (installing missing Debian
 * build dependencies). `log` gets progress and per-component build times.
 */
export async function ensureK8sTools(options: { cache?: string; log?: Log } = {}): Promise<K8sTools> {
  const log = options.log ?? stderrLog;
  await ensureBuildPackages(log);
  const inputs = await keyInputs();
  const key = cacheKey(inputs);
  const root = options.cache ?? cacheRoot();
  const entry = await cachedEntry(root, key, (tmp) => buildAll(tmp, inputs, key, log), { lockWaitMs: LOCK_WAIT_MS });
  // Entries of older recipes: the two most recently used stay (and any used in the last half hour).
  if (!entry.cached) await pruneEntries(root, '', KEEP_ENTRIES, [key, UPGRADE_DIR, ...SOLO_BUILDS.map((solo) => solo.dir)]);
  const versions = JSON.parse(await fs.readFile(join(entry.path, 'versions.json'), 'utf8')) as VersionsJson;
  return describe(entry.path, entry.cached, versions);
}

/** A Go program built alone into `<cache>/<dir>/<version>-<key>/bin/`, outside the set. */
interface SoloBuild {
  dir: string;
  source: GoSource;
  build: GoBuild;
}

/** kubeadm of the newest Kubernetes minor: the generated kubeadm documents are checked by it too. */
const NEWEST_KUBEADM_SOLO: SoloBuild = { dir: 'kubeadm', source: NEWEST_KUBEADM, build: NEWEST_KUBEADM_BUILD };
/** etcdutl, for the snapshot restore of podsec-u7s-etcd-snapshot on the cluster's nodes and in its tests. */
const ETCDUTL_SOLO: SoloBuild = { dir: 'etcdutl', source: ETCDUTL, build: ETCDUTL_BUILD };
/** The ingress controller the cluster test of the ingress layout runs in a signed image. */
const INGRESS_CONTROLLER_SOLO: SoloBuild = { dir: 'ingress', source: INGRESS_CONTROLLER, build: INGRESS_CONTROLLER_BUILD };

const SOLO_BUILDS = [NEWEST_KUBEADM_SOLO, ETCDUTL_SOLO, INGRESS_CONTROLLER_SOLO];

interface SoloBinary {
  /** The version it was built from. */
  version: string;
  /** The binary's path. */
  path: string;
  /** false when this call built it. */
  cached: boolean;
}

async function soloEntry(solo: SoloBuild, cache: string | undefined): Promise<{ root: string; name: string }> {
  const key = cacheKey({ ...soloRecipeInputs(solo.source, solo.build), ...(await goInputs([solo.build])) });
  return { root: join(cache ?? cacheRoot(), solo.dir), name: `${solo.source.version}-${key}` };
}

const soloBinary = (solo: SoloBuild, dir: string, cached: boolean): SoloBinary => ({
  version: solo.source.version,
  path: join(dir, 'bin', Object.values(solo.build.packages)[0]!),
  cached,
});

async function lookupSolo(solo: SoloBuild, options: { cache?: string }): Promise<SoloBinary | undefined> {
  const { root, name } = await soloEntry(solo, options.cache);
  return existsSync(join(root, name, 'build.json')) ? soloBinary(solo, join(root, name), true) : undefined;
}

/**
 * The cache entry `<root>/<name>/` of `version`, made when absent: `builds` into bin/, then `more`
 * (the upgrade target's images), and build.json with the seconds of each step; older entries of
 * `root` are pruned.
 */
async function ensureBuiltEntry(
  root: string,
  name: string,
  version: string,
  builds: GoBuild[],
  log: Log,
  more: (tmp: string, times: Record<string, number>) => Promise<void> = async () => {},
): Promise<{ path: string; cached: boolean }> {
  const entry = await cachedEntry(
    root,
    name,
    async (tmp) => {
      const times: Record<string, number> = {};
      await fs.mkdir(join(tmp, 'bin'), { recursive: true });
      for (const build of builds) {
        await timed(`${build.component} ${version} (${Object.values(build.packages).join(', ')})`, times, log, () =>
          goBuild(build, join(tmp, 'bin'), join(tmp, 'work')),
        );
      }
      await more(tmp, times);
      await fs.rm(join(tmp, 'work'), { recursive: true, force: true });
      await fs.writeFile(join(tmp, 'build.json'), `${JSON.stringify({ version, seconds: times }, null, 2)}\n`);
    },
    { lockWaitMs: LOCK_WAIT_MS },
  );
  if (!entry.cached) await pruneEntries(root, '', KEEP_ENTRIES, [name]);
  return entry;
}

/** Builds `solo` into its cache entry when absent (needs only Go). */
async function ensureSolo(solo: SoloBuild, options: { cache?: string; log?: Log }): Promise<SoloBinary> {
  const { root, name } = await soloEntry(solo, options.cache);
  const entry = await ensureBuiltEntry(root, name, solo.source.version, [solo.build], options.log ?? stderrLog);
  return soloBinary(solo, entry.path, entry.cached);
}

/** The newest kubeadm's cache entry if it is built; nothing is built. */
export const lookupNewestKubeadm = (options: { cache?: string } = {}) => lookupSolo(NEWEST_KUBEADM_SOLO, options);
/** kubeadm of the newest Kubernetes minor (versions.ts NEWEST_KUBEADM), built alone when absent. */
export const ensureNewestKubeadm = (options: { cache?: string; log?: Log } = {}) => ensureSolo(NEWEST_KUBEADM_SOLO, options);
/** etcdutl's cache entry if it is built; nothing is built. */
export const lookupEtcdutl = (options: { cache?: string } = {}) => lookupSolo(ETCDUTL_SOLO, options);
/** etcdutl (versions.ts ETCDUTL), built alone when absent. */
export const ensureEtcdutl = (options: { cache?: string; log?: Log } = {}) => ensureSolo(ETCDUTL_SOLO, options);
/** The ingress controller's cache entry if it is built; nothing is built. */
export const lookupIngressController = (options: { cache?: string } = {}) => lookupSolo(INGRESS_CONTROLLER_SOLO, options);
/** The ingress controller (versions.ts INGRESS_CONTROLLER), built alone when absent. */
export const ensureIngressController = (options: { cache?: string; log?: Log } = {}) => ensureSolo(INGRESS_CONTROLLER_SOLO, options);

/** The release an upgrade goes to: its programs in `bin/`, its images in an OCI layout, like the set's. */
export interface UpgradeTarget {
  version: string;
  dir: string;
  bin(name: Binary): string;
  images: { layout: string; list: Record<string, string> };
  cached: boolean;
}

async function upgradeEntry(cache: string | undefined): Promise<{ root: string; name: string }> {
  const debian = await debianVersions(IMAGE_PACKAGES);
  const inputs = { ...recipeInputs(), versions: { go: UPGRADE_TARGET }, builds: { go: UPGRADE_TARGET_BUILDS, goFlags: GO_FLAGS }, debian };
  const key = cacheKey({ ...inputs, ...(await goInputs(UPGRADE_TARGET_BUILDS)) });
  return { root: join(cache ?? cacheRoot(), UPGRADE_DIR), name: `${UPGRADE_TARGET.kubernetes.version}-${key}` };
}

async function describeUpgrade(dir: string, cached: boolean): Promise<UpgradeTarget> {
  const list = JSON.parse(await fs.readFile(join(dir, 'images', 'images.json'), 'utf8')) as Record<string, string>;
  return {
    version: UPGRADE_TARGET.kubernetes.version,
    dir,
    bin: (name) => join(dir, 'bin', name),
    images: { layout: join(dir, 'images', 'oci'), list },
    cached,
  };
}

/** The upgrade target's cache entry if it is built; nothing is built. */
export async function lookupUpgradeTarget(options: { cache?: string } = {}): Promise<UpgradeTarget | undefined> {
  const { root, name } = await upgradeEntry(options.cache);
  return existsSync(join(root, name, 'build.json')) ? describeUpgrade(join(root, name), true) : undefined;
}

/** The release of versions.ts UPGRADE_TARGET (the next minor's Kubernetes, its etcd and CoreDNS, their images), built when absent. */
export async function ensureUpgradeTarget(options: { cache?: string; log?: Log } = {}): Promise<UpgradeTarget> {
  const log = options.log ?? stderrLog;
  const { root, name } = await upgradeEntry(options.cache);
  const entry = await ensureBuiltEntry(root, name, UPGRADE_TARGET.kubernetes.version, UPGRADE_TARGET_BUILDS, log, (tmp, times) =>
    timed('images', times, log, () => buildImages(join(tmp, 'bin'), join(tmp, 'images'), upgradeTargetSpecs())).then(() => undefined),
  );
  return describeUpgrade(entry.path, entry.cached);
}

/**
 * What `npm run k8s-tools` does, for it and for `npm test`: the programs built alone (the newest
 * minor's kubeadm, etcdutl, the ingress controller), the upgrade target, then the set; a no-op
 * (about a second) when all are cached. `report` gets the result lines (each build time, what was
 * cached), `log` the progress.
 */
export async function ensureAllK8sTools(options: { cache?: string; log?: Log; report?: Log } = {}): Promise<K8sTools> {
  const report = options.report ?? options.log ?? stderrLog;
  const started = performance.now();
  for (const solo of SOLO_BUILDS) {
    const built = await ensureSolo(solo, options);
    report(`k8s-tools: ${solo.build.component} ${built.version}: ${built.path}${built.cached ? ' (cached)' : ''}`);
  }
  const target = await ensureUpgradeTarget(options);
  report(`k8s-tools: upgrade target ${target.version}: ${target.dir}${target.cached ? ' (cached)' : ''}`);
  const tools = await ensureK8sTools(options);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  report(tools.cached ? `k8s-tools: cached, nothing to build (${seconds} s)` : `k8s-tools: built in ${seconds} s`);
  return tools;
}
