/**
 * Fixtures for the signed-image trust tests. Everything a test starts is stopped by its PID
 * (process group); every wait is bounded.
 *
 * Programs
 *   programCommand(name)            bin/<name>.ts bundled once per test process (esbuild, as the
 *                                   package ships it) -> [node, [bundle]]; runProgram() runs it
 * Trees
 *   makeTree()                      a --root tree: /etc/group with podman + podman_dev, /etc/passwd,
 *                                   /etc/hosts; world-searchable so nginx workers can read it
 *   treeHashes(root)                every path's type, mode, owner and content hash, to compare a
 *                                   tree byte for byte before and after a refused command
 * Services (on 127.0.0.1 free ports, or inside a namespace from netns.ts)
 *   startRegistry({addr, storage})  docker-registry with podsec's generated config
 *   startSigstoreServer({listen, documentRoot})  nginx with podsec's generated config
 *   startUnit(unit, {root, binds})  a shipped unit's ExecStartPre/ExecStart lines, run with parts
 *                                   of a --root tree mounted at their real paths (root-view.mjs)
 *   httpGet(url, {netns, host})     GET from the host or from inside a namespace
 * GPG
 *   gnupgHome()                     a short temp GNUPGHOME; cleanup() stops its agent
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registryConfig, sigstoreNginxConfig } from '../../bin/trust/services/service-configs.ts';
import { bundleProgram } from '../../scripts/bundle.ts';
import type { Ran } from './exec.ts';
import type { Netns } from './netns.ts';

const ROOT_VIEW = fileURLToPath(new URL('./root-view.mjs', import.meta.url));
/** unshare's arguments that run COMMAND in a private mount namespace where root-view.mjs has laid VIEW_ARGS over the host. */
export const rootViewArgs = (scratch: string, viewArgs: string[], command: string[]) => [
  '--mount',
  '--propagation',
  'private',
  '--',
  process.execPath,
  ROOT_VIEW,
  '--scratch',
  scratch,
  ...viewArgs,
  '--',
  ...command,
];
const HTTP_GET = fileURLToPath(new URL('./http-get.mjs', import.meta.url));

// ------------------------------------------------------------------------------------------------
// Programs

let bundleDir: string | undefined;
const bundles = new Map<string, Promise<string>>();

process.on('exit', () => {
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
});

/** bin/<name>.ts as one Node file (what the package installs), built once per test process. */
export function bundledProgram(name: string): Promise<string> {
  if (!bundles.has(name)) {
    bundleDir ??= mkdtempSync(join(tmpdir(), 'podsec-bin-'));
    chmodSync(bundleDir, 0o755);
    const outfile = join(bundleDir, `${name}.cjs`);
    bundles.set(
      name,
      bundleProgram(name, 'test').then((text) => {
        writeFileSync(outfile, text);
        return outfile;
      }),
    );
  }
  return bundles.get(name)!;
}

async function programCommand(name: string): Promise<[string, string[]]> {
  return [process.execPath, [await bundledProgram(name)]];
}

export interface RunOptions {
  netns?: Netns;
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
  /** Working directory; commands run as a test user need one that user may enter. */
  cwd?: string;
}

/**
 * Runs a command (in a namespace, if given) and collects its output; killed after timeoutMs. A
 * child that exits without reading its stdin is not an error (EPIPE on the stdin pipe is ignored).
 */
export function runCommand(command: string, args: string[], options: RunOptions = {}): Promise<Ran> {
  const [cmd, argv] = options.netns ? options.netns.argv(command, args) : [command, args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env: options.env ?? { ...process.env, LANG: 'C', LC_ALL: 'C' }, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')}: no exit within ${(options.timeoutMs ?? 60_000) / 1000} s`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, exitCode: code ?? (signal ? 128 : -1) });
    });
    child.stdin.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') return;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Runs a podsec program (bundled) with `args`. */
export async function runProgram(name: string, args: string[], options: RunOptions = {}): Promise<Ran> {
  const [node, prefix] = await programCommand(name);
  return runCommand(node, [...prefix, ...args], options);
}

// ------------------------------------------------------------------------------------------------
// Trees

export const PODMAN_GID = 5990;
export const PODMAN_DEV_GID = 5991;

/** A --root tree with the accounts podsec's %pre would have created. */
export function makeTree(label = 'tree'): string {
  const root = mkdtempSync(join(tmpdir(), `podsec-${label}-`));
  chmodSync(root, 0o755);
  mkdirSync(join(root, 'etc'), { mode: 0o755 });
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(root, 'etc/group'), `root:x:0:\npodman:x:${PODMAN_GID}:\npodman_dev:x:${PODMAN_DEV_GID}:\n`);
  writeFileSync(join(root, 'etc/hosts'), '127.0.0.1 localhost\n::1 localhost ip6-localhost\n');
  return root;
}

/** path -> "type mode uid:gid sha256|target" for every entry below root (root itself included). */
export function treeHashes(root: string): Map<string, string> {
  const result = new Map<string, string>();
  const visit = (relative: string) => {
    const full = join(root, relative);
    const st = lstatSync(full);
    const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (st.isSymbolicLink()) result.set(relative, `link ${meta} ${readlinkSync(full)}`);
    else if (st.isFile()) result.set(relative, `file ${meta} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`);
    else if (st.isDirectory()) {
      result.set(relative, `dir ${meta}`);
      for (const name of readdirSync(full).sort()) visit(join(relative, name));
    } else result.set(relative, `other ${meta}`);
  };
  visit('.');
  return result;
}

/** The differences between two treeHashes results, one line each (empty when identical). */
export function treeDiff(before: Map<string, string>, after: Map<string, string>): string[] {
  const lines: string[] = [];
  for (const [path, value] of before) if (after.get(path) !== value) lines.push(`${path}: ${value} -> ${after.get(path) ?? 'missing'}`);
  for (const [path, value] of after) if (!before.has(path)) lines.push(`${path}: new ${value}`);
  return lines;
}

// ------------------------------------------------------------------------------------------------
// Services

export interface Service {
  name: string;
  pid: number;
  /** stdout and stderr so far. */
  output(): string;
  /** SIGTERM to the process group, SIGKILL after 5 s; resolves once it is gone. */
  stop(): Promise<void>;
}

const started = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of started) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Starts a long-running command in its own process group. */
function spawnService(name: string, command: string, args: string[], options: { netns?: Netns; env?: NodeJS.ProcessEnv } = {}): Service {
  const [cmd, argv] = options.netns ? options.netns.argv(command, args) : [command, args];
  const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
  started.add(child);
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c));
  child.stderr!.on('data', (c: Buffer) => (output += c));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  child.on('error', (error) => (output += `spawn error: ${error.message}\n`));
  return {
    name,
    pid: child.pid!,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        started.delete(child);
        return;
      }
      const group = (signal: NodeJS.Signals) => {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          // gone
        }
      };
      group('SIGTERM');
      const timer = setTimeout(() => group('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      group('SIGKILL'); // workers that outlived their master
      started.delete(child);
    },
  };
}

interface HttpResult {
  status: number;
  body: Buffer;
}

/** GET `url` from the host, or from inside `netns`; `host` sets the Host header. Rejects on connection errors. */
export async function httpGet(url: string, options: { netns?: Netns; host?: string; timeoutMs?: number } = {}): Promise<HttpResult> {
  if (options.netns) {
    const ran = await runCommand(process.execPath, [HTTP_GET, url, ...(options.host ? [options.host] : [])], {
      netns: options.netns,
      timeoutMs: options.timeoutMs ?? 10_000,
    });
    const data = JSON.parse(ran.stdout || '{"error":"no output"}') as { status?: number; body?: string; error?: string };
    if (data.error !== undefined) throw new Error(`${url}: ${data.error}`);
    return { status: data.status!, body: Buffer.from(data.body ?? '', 'base64') };
  }
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: options.host ? { Host: options.host } : {}, agent: false, timeout: options.timeoutMs ?? 5000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Polls `url` until it answers `status` (default 200); throws with the service's output after timeoutMs. */
export async function waitForHttp(
  url: string,
  options: { netns?: Netns; host?: string; status?: number; timeoutMs?: number; service?: Service } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let last = '';
  while (Date.now() < deadline) {
    try {
      const result = await httpGet(url, { netns: options.netns, host: options.host, timeoutMs: 10_000 });
      if (result.status === (options.status ?? 200)) return;
      last = `HTTP ${result.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, options.netns ? 100 : 30));
  }
  throw new Error(`${url} not ready: ${last}${options.service ? `\n${options.service.name} output:\n${options.service.output()}` : ''}`);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** The service, whose stop() also removes the temp directory the fixture made for it. */
function removingOnStop(service: Service, dir: string | undefined): Service {
  if (!dir) return service;
  return {
    ...service,
    stop: async () => {
      await service.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits for readiness; a service that never gets ready is stopped before the error is thrown. */
async function startedOrStopped(service: Service, ready: () => Promise<void>): Promise<void> {
  try {
    await ready();
  } catch (error) {
    await service.stop();
    throw error;
  }
}

/** docker-registry with podsec's config for `addr` (host:port) storing in `storage`; ready when /v2/ answers. */
export async function startRegistry(options: { addr: string; storage: string; netns?: Netns; configDir?: string }): Promise<Service & { config: string }> {
  const dir = options.configDir ?? mkdtempSync(join(tmpdir(), 'podsec-registry-'));
  const config = join(dir, 'config.yml');
  writeFileSync(config, registryConfig({ addr: options.addr, rootDirectory: options.storage }));
  const service = removingOnStop(
    spawnService('docker-registry', 'docker-registry', ['serve', config], { netns: options.netns }),
    options.configDir ? undefined : dir,
  );
  await startedOrStopped(service, () => waitForHttp(`http://${options.addr}/v2/`, { netns: options.netns, service }));
  return { ...service, config };
}

/**
 * nginx with podsec's signature server config, listening on `listen` (host:port) and serving
 * `documentRoot` (which must be readable by nginx's unprivileged workers).
 */
export async function startSigstoreServer(options: {
  listen: string;
  documentRoot: string;
  netns?: Netns;
  prefix?: string;
}): Promise<Service & { prefix: string }> {
  const prefix = options.prefix ?? mkdtempSync(join(tmpdir(), 'podsec-nginx-'));
  const config = join(prefix, 'nginx.conf');
  writeFileSync(config, sigstoreNginxConfig({ listen: options.listen, documentRoot: options.documentRoot }));
  const service = removingOnStop(
    spawnService('nginx', 'nginx', ['-p', `${prefix}/`, '-c', config, '-e', 'stderr'], { netns: options.netns }),
    options.prefix ? undefined : prefix,
  );
  await startedOrStopped(service, () => waitForHttp(`http://${options.listen}/`, { netns: options.netns, service }));
  return { ...service, prefix };
}

interface UnitCommands {
  execStartPre: string[][];
  execStart: string[];
  runtimeDirectories: string[];
}

/** Splits an Exec*= value as systemd does for the simple cases our units use (words, "quoted words"). */
function splitExec(value: string): string[] {
  const words: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const match of value.matchAll(pattern)) words.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : (match[2] ?? match[3]!));
  if (words[0]) words[0] = words[0].replace(/^[-@:+!|]+/, '');
  return words;
}

export function parseUnit(text: string): UnitCommands {
  const result: UnitCommands = { execStartPre: [], execStart: [], runtimeDirectories: [] };
  for (const line of text.split('\n')) {
    const match = /^\s*(ExecStartPre|ExecStart|RuntimeDirectory)=(.*)$/.exec(line);
    if (!match) continue;
    const value = match[2]!.trim();
    if (match[1] === 'ExecStartPre') result.execStartPre.push(splitExec(value));
    else if (match[1] === 'ExecStart') result.execStart = splitExec(value);
    else
      result.runtimeDirectories.push(
        ...value
          .split(/\s+/)
          .filter(Boolean)
          .map((d) => `/run/${d}`),
      );
  }
  if (result.execStart.length === 0) throw new Error('unit without ExecStart=');
  return result;
}

/**
 * Runs a unit's ExecStartPre lines (each must exit 0), then starts its ExecStart, in a private
 * mount namespace where each path in `binds` (e.g. /etc/podsec, /var/sigstore) is `root`'s copy
 * and each RuntimeDirectory= is a fresh tmpfs — what systemd would give the service on a node
 * installed from `root`. `scratch` holds the overlay layers; the caller removes it after stop().
 */
export async function startUnit(unitText: string, options: { name: string; root: string; binds: string[]; scratch: string; netns?: Netns }): Promise<Service> {
  const unit = parseUnit(unitText);
  const view = (command: string[]) =>
    [
      'unshare',
      rootViewArgs(
        options.scratch,
        [...options.binds.flatMap((b) => ['--bind', `${join(options.root, b)}:${b}`]), ...unit.runtimeDirectories.flatMap((d) => ['--dir', d])],
        command,
      ),
    ] as const;
  for (const pre of unit.execStartPre) {
    const [cmd, args] = view(pre);
    const ran = await runCommand(cmd, [...args], { netns: options.netns, timeoutMs: 30_000 });
    if (ran.exitCode !== 0) throw new Error(`${options.name}: ExecStartPre ${pre.join(' ')} exited ${ran.exitCode}: ${ran.stderr}`);
  }
  const [cmd, args] = view(unit.execStart);
  return spawnService(options.name, cmd, [...args], { netns: options.netns });
}

// ------------------------------------------------------------------------------------------------
// GPG

/** A temp GNUPGHOME with a short path (gpg-agent's socket path is limited); cleanup() stops the agent. */
export function gnupgHome(): { home: string; env: NodeJS.ProcessEnv; cleanup(): void } {
  const home = mkdtempSync('/tmp/pgp-');
  chmodSync(home, 0o700);
  return {
    home,
    env: { ...process.env, GNUPGHOME: home },
    cleanup: () => {
      spawnSync('gpgconf', ['--homedir', home, '--kill', 'all'], { stdio: 'ignore', timeout: 10_000 });
      rmSync(home, { recursive: true, force: true });
    },
  };
}
