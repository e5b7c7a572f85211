// test-runner: exclusive — publishes fixed host ports (6443, 10250, 8472, …) on 127.0.0.1 through rootlesskit
/**
 * The node namespace with the real rootlesskit and slirp4netns, run by a non-root test user with
 * subordinate ids (made here, removed afterwards): uid 0 inside, the host address on tap0 as /32,
 * the private directories bound, /run/crio/crio.sock, exactly the role's ports published (on
 * 127.0.0.1 for the test), a listener on 6443 inside reachable from the host, nsenter_u7s exit
 * codes, stop removing namespace and ports, start again; and an environment file with shell
 * syntax refused without executing anything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { PRIVATE_DIRS } from '../../bin/u7s/lib/paths.ts';
import { run } from '../support/exec.ts';
import { withTools } from '../support/tools.ts';
import { bundledPrograms, removeRoot } from '../support/u7s-fixtures.ts';

const test = withTools(base, ['rootlesskit', 'rootlessctl', 'slirp4netns', 'newuidmap', 'nsenter', 'setpriv', 'useradd', 'userdel', 'ip', 'mount']);

const user = `u7st${process.pid % 100000}`;
const work = mkdtempSync('/var/tmp/podsec-u7s-ns-');
const home = join(work, 'home');
const canary = join(work, 'canary');
const EXTIP = '198.51.100.7';
let uid = 0;
let gid = 0;
let bin = '';
const started: ChildProcess[] = [];

const userEnv = () => ({ HOME: home, USER: user, LOGNAME: user, PATH: '/usr/sbin:/usr/bin:/sbin:/bin', XDG_RUNTIME_DIR: `/run/user/${uid}`, LANG: 'C' });
const asUser = (argv: string[], timeoutMs = 60_000) =>
  run('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--', ...argv], { env: userEnv(), cwd: home, timeoutMs });
const program = (name: string) => [process.execPath, join(bin, name)];

function envFile(name: string, lines: Record<string, string>): string {
  const file = join(work, name);
  writeFileSync(
    file,
    Object.entries(lines)
      .map(([k, v]) => `${k}='${v}'\n`)
      .join(''),
  );
  chmodSync(file, 0o644);
  return file;
}

const controlPlaneEnv = () => envFile('cp.env', { U7S_CONTROLPLANE: 'initMaster', U7S_EXTIP: EXTIP, U7S_PUBLISH_ADDRESS: '127.0.0.1', U7S_UID: String(uid) });
const workerEnv = () => envFile('worker.env', { U7S_CONTROLPLANE: '', U7S_EXTIP: EXTIP, U7S_PUBLISH_ADDRESS: '127.0.0.1', U7S_UID: String(uid) });

base.before(async () => {
  if (!(await run('sh', ['-c', 'command -v rootlesskit']).then((r) => r.exitCode === 0))) return;
  bin = await bundledPrograms(['u7s-rootlesskit', 'nsenter_u7s', 'rootlessctl']);
  chmodSync(work, 0o755);
  const made = await run('useradd', ['-m', '-d', home, '-s', '/bin/sh', '-K', 'UMASK=022', user]);
  if (made.exitCode !== 0) throw new Error(`useradd: ${made.stderr}`);
  uid = Number((await run('id', ['-u', user])).stdout.trim());
  gid = Number((await run('id', ['-g', user])).stdout.trim());
  if (
    !readFileSync('/etc/subuid', 'utf8')
      .split('\n')
      .some((l) => l.startsWith(`${user}:`))
  ) {
    await run('usermod', ['--add-subuids', '300000-365535', '--add-subgids', '300000-365535', user]);
  }
  mkdirSync(`/run/user/${uid}`, { recursive: true, mode: 0o700 });
  await run('chown', [`${uid}:${gid}`, `/run/user/${uid}`]);
});

base.after(async () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  if (uid) {
    await run('userdel', ['-f', '-r', user]); // -f: a process another test left under a reused uid must not keep our account
    rmSync(`/run/user/${uid}`, { recursive: true, force: true });
  }
  rmSync(work, { recursive: true, force: true });
  if (bin) removeRoot(bin);
});

/** Starts the launcher as the test user; resolves when --wait-ready says the namespace is ready. */
async function startNamespace(env: string, command: string[] = []): Promise<ChildProcess> {
  const child = spawn('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--', ...program('u7s-rootlesskit'), '--env-file', env, ...command], {
    env: userEnv(),
    cwd: home,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d));
  child.stderr!.on('data', (d: Buffer) => (output += d));
  const ready = await asUser([...program('u7s-rootlesskit'), '--wait-ready', '--timeout', '30'], 40_000);
  assert.is(ready.exitCode, 0, `${ready.stderr}\n--- launcher ---\n${output}`);
  return child;
}

async function stopNamespace(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000));
  const result = await Promise.race([exited, timer]);
  if (result === 'timeout') {
    child.kill('SIGKILL');
    throw new Error('the launcher did not stop within 20 s of SIGTERM');
  }
  return result;
}

async function listPorts(): Promise<string[]> {
  const r = await asUser([...program('rootlessctl'), 'list-ports', '--json']);
  assert.is(r.exitCode, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line).spec)
    .map((s: { proto: string; parentIP: string; parentPort: number; childPort: number }) => `${s.parentIP}:${s.parentPort}->${s.childPort}/${s.proto}`)
    .sort();
}

const expectedPorts = (tcp: number[]) => [...tcp.map((p) => `127.0.0.1:${p}->${p}/tcp`), '127.0.0.1:8472->8472/udp', '127.0.0.1:6053->53/udp'].sort();

const tcpAnswer = (port: number) =>
  new Promise<string>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (d) => (data += d));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });

test('control-plane namespace: uid 0, tap0 with the host address /32, private mounts, crio.sock link, role ports, 6443 reachable', async () => {
  const launcher = await startNamespace(controlPlaneEnv());
  try {
    assert.equal(await listPorts(), expectedPorts([2379, 2380, 6443, 10250, 10255, 10256]));

    const id = await asUser([...program('nsenter_u7s'), 'id', '-u']);
    assert.equal([id.exitCode, id.stdout.trim()], [0, '0'], id.stderr);
    const status = await asUser([...program('nsenter_u7s'), 'sh', '-c', 'exit 7']);
    assert.is(status.exitCode, 7, 'exit codes propagate');

    const tap = await asUser([...program('nsenter_u7s'), 'ip', '-4', '-o', 'addr', 'show', 'dev', 'tap0']);
    assert.match(tap.stdout, new RegExp(` ${EXTIP.replaceAll('.', '\\.')}/32 `));
    assert.not.match(tap.stdout, /10\.0\.2\.100/, "slirp4netns' own address is gone");
    const route = await asUser([...program('nsenter_u7s'), 'ip', '-4', 'route', 'show', 'default']);
    assert.match(route.stdout, /default via 10\.0\.2\.2 dev tap0/);

    for (const target of PRIVATE_DIRS) {
      const mount = await asUser([...program('nsenter_u7s'), 'findmnt', '-n', '-o', 'SOURCE', target]);
      assert.match(mount.stdout, new RegExp(`${home}/\\.local/share/usernetes/${target.replaceAll('/', '_').replaceAll('.', '\\.')}\\]`), target);
    }
    const link = await asUser([...program('nsenter_u7s'), 'readlink', '/run/crio/crio.sock']);
    assert.is(link.stdout.trim(), `/run/user/${uid}/usernetes/crio/crio.sock`);
    const sysctls = await asUser([...program('nsenter_u7s'), 'cat', '/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv4/ping_group_range']);
    assert.match(sysctls.stdout, /^1\n0\t65536\n$/, 'set in the namespace only');
    assert.is(readFileSync(`/run/user/${uid}/usernetes/parent_ip`, 'utf8'), `${EXTIP}\n`);

    // A TCP listener on 6443 inside answers from the host through the published port.
    const script = "require('net').createServer((c)=>{c.end('u7s-inside\\n');process.exit(0)}).listen(6443,'0.0.0.0',()=>console.log('listening'))";
    const listener = spawn('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--', ...program('nsenter_u7s'), process.execPath, '-e', script], {
      env: userEnv(),
      cwd: home,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.push(listener);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the listener inside did not start')), 20_000);
      listener.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && (clearTimeout(timer), resolve()));
    });
    assert.is(await tcpAnswer(6443), 'u7s-inside\n');
  } finally {
    const code = await stopNamespace(launcher);
    assert.is(code, 0, 'the launcher exits cleanly on SIGTERM');
  }
  assert.not.ok(existsSync(`/run/user/${uid}/usernetes/rootlesskit/api.sock`), 'the state is gone');
  const gone = await tcpAnswer(6443).then(
    () => 'answered',
    (e: NodeJS.ErrnoException) => e.code,
  );
  assert.is(gone, 'ECONNREFUSED', 'the published port is closed');
});

test('starting again works; a worker publishes only 10250 10255 10256 and the UDP ports', async () => {
  const launcher = await startNamespace(workerEnv());
  try {
    assert.equal(await listPorts(), expectedPorts([10250, 10255, 10256]));
  } finally {
    await stopNamespace(launcher);
  }
});

test("the launcher's exit status is its command's", async () => {
  const r = await asUser([...program('u7s-rootlesskit'), '--env-file', workerEnv(), 'sh', '-c', 'exit 5'], 60_000);
  assert.is(r.exitCode, 5, r.stderr);
});

test('nsenter_u7s without a namespace: a clear error after its bounded wait (10 s)', async () => {
  const started = Date.now();
  const r = await asUser([...program('nsenter_u7s'), 'id', '-u'], 30_000);
  assert.is(r.exitCode, 1);
  assert.match(r.stderr, /is not ready after 10 s .*is rootlesskit\.service running\?/);
  assert.ok(Date.now() - started < 20_000);
});

test('an environment file with shell syntax is data: refused with the key named, nothing executed, no namespace', async () => {
  const env = envFile('evil.env', { U7S_CONTROLPLANE: 'initMaster', U7S_EXTIP: `$(touch ${canary})`, U7S_PUBLISH_ADDRESS: '127.0.0.1' });
  const r = await asUser([...program('u7s-rootlesskit'), '--env-file', env]);
  assert.is(r.exitCode, 1);
  assert.match(r.stderr, /U7S_EXTIP: .* is not an IPv4 address/);
  const flags = join(work, 'evil2.env');
  writeFileSync(flags, `U7S_EXTIP='${EXTIP}'\nU7S_ROOTLESSKIT_FLAGS="--foo=bar\\"; touch ${canary}; \\""\n`);
  chmodSync(flags, 0o644);
  const r2 = await asUser([...program('u7s-rootlesskit'), '--env-file', flags]);
  assert.is(r2.exitCode, 1, r2.stderr);
  assert.match(r2.stderr, /U7S_ROOTLESSKIT_FLAGS/);
  assert.not.ok(existsSync(canary), 'the canary was not created');
  assert.not.ok(existsSync(`/run/user/${uid}/usernetes/rootlesskit/api.sock`));
});

test.run();
