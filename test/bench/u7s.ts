/**
 * u7s benchmarks, each a ratio against a baseline measured in the same run (interleaved runs,
 * medians). Registered by test/bench/run.ts:
 *   u7s-namespace    launcher start until every port of the control-plane role is published
 *                    / bare `rootlesskit --net=slirp4netns ... true` + as many `rootlessctl add-ports`
 *   wrapper-startup  `podsec-u7s-kubeadm --help` / `node -e 0` (the program as the package has it:
 *                    bundled with the package's modules, scripts/bundle.ts)
 * u7s-namespace needs root (it makes a user with subordinate ids, removed afterwards), rootlesskit,
 * rootlessctl, slirp4netns and newuidmap.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { bundlePackage, bundleProgram, programInBundle } from '../../scripts/bundle.ts';
import model from '../../scripts/model/index.ts';
import { rolePorts } from '../../bin/u7s/lib/ports.ts';
import { median } from './median.ts';

const ms = (v: number) => `${v.toFixed(1)} ms`;
const line = (name: string, a: string, b: string, measured: number, baseline: number, runs: number) =>
  `${name}: ${a} ${ms(measured)} / ${b} ${ms(baseline)} = ${(measured / baseline).toFixed(2)}x (median of ${runs})`;

function timed(argv: string[], env?: NodeJS.ProcessEnv): number {
  const started = performance.now();
  const r = spawnSync(argv[0]!, argv.slice(1), { env: env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
  const elapsed = performance.now() - started;
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr?.toString()}`);
  return elapsed;
}

async function bundle(work: string, program: string, name: string): Promise<string> {
  const file = join(work, name);
  writeFileSync(file, await bundleProgram(program, 'bench'));
  chmodSync(file, 0o755);
  return file;
}

async function wrapperStartup(work: string): Promise<string> {
  const dir = join(work, 'u7s-startup');
  mkdirSync(dir, { recursive: true });
  const k8s = model.packages.find((p) => p.name === 'podsec-k8s')!;
  await bundlePackage(k8s, 'bench', dir);
  const wrapper = join(dir, programInBundle('%_bindir/podsec-u7s-kubeadm'));
  const runs = 25;
  const a: number[] = [];
  const b: number[] = [];
  timed([process.execPath, wrapper, '--help']);
  for (let i = 0; i < runs; i++) {
    a.push(timed([process.execPath, wrapper, '--help']));
    b.push(timed([process.execPath, '-e', '0']));
  }
  return line('wrapper-startup', 'podsec-u7s-kubeadm --help', 'node -e 0', median(a), median(b), runs);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function u7sNamespace(work: string): Promise<string> {
  const dir = join('/var/tmp', `podsec-u7s-bench-${process.pid}`);
  const home = join(dir, 'home');
  const user = `u7sb${process.pid % 100000}`;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const useradd = spawnSync('useradd', ['-m', '-d', home, '-s', '/bin/sh', user], { encoding: 'utf8' });
  if (useradd.status !== 0) throw new Error(`useradd: ${useradd.stderr}`);
  const uid = Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout.trim());
  const runtime = `/run/user/${uid}`;
  try {
    mkdirSync(runtime, { recursive: true, mode: 0o700 });
    spawnSync('chown', [`${uid}:${gid}`, runtime]);
    const launcher = await bundle(dir, 'u7s/u7s-rootlesskit', 'u7s-rootlesskit');
    const env = join(dir, 'env');
    writeFileSync(env, `U7S_CONTROLPLANE='initMaster'\nU7S_EXTIP='198.51.100.7'\nU7S_PUBLISH_ADDRESS='127.0.0.1'\n`);
    chmodSync(env, 0o644);
    const userEnv = { HOME: home, USER: user, PATH: '/usr/sbin:/usr/bin:/sbin:/bin', XDG_RUNTIME_DIR: runtime };
    const as = (argv: string[]) => ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--', ...argv];
    const ports = rolePorts('control-plane');
    const ready = join(runtime, 'usernetes/rootlesskit/_child_pid.u7s-ready');

    /** Launcher start until its readiness marker (written after the last port is published). */
    const launch = async () => {
      const started = performance.now();
      const child = spawn(as([process.execPath, launcher, '--env-file', env])[0]!, as([process.execPath, launcher, '--env-file', env]).slice(1), {
        env: userEnv,
        cwd: home,
        stdio: 'ignore',
      });
      for (let i = 0; i < 6000 && !existsSync(ready); i++) await sleep(2);
      const elapsed = performance.now() - started;
      if (!existsSync(ready)) throw new Error('the launcher did not become ready in 12 s');
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      return elapsed;
    };

    /** rootlesskit ... true, then (with a namespace that waits) the same number of rootlessctl add-ports. */
    const bare = async () => {
      const state = join(runtime, 'bench-state');
      const flags = ['--net=slirp4netns', '--mtu=65520', '--disable-host-loopback', '--copy-up=/etc', '--copy-up=/run', '--pidns'];
      // `true` without the port driver: with it, rootlesskit 1.1 fails when the child exits before the driver is up.
      const once = timed(as(['rootlesskit', `--state-dir=${state}`, ...flags, 'true']), userEnv);
      flags.push('--port-driver=builtin');
      const holder = spawn(
        as(['rootlesskit', `--state-dir=${state}`, ...flags, 'sleep', '60'])[0]!,
        as(['rootlesskit', `--state-dir=${state}`, ...flags, 'sleep', '60']).slice(1),
        { env: userEnv, stdio: 'ignore' },
      );
      for (let i = 0; i < 3000 && !existsSync(join(state, 'api.sock')); i++) await sleep(2);
      let adds = 0;
      for (const p of ports) {
        adds += timed(as(['rootlessctl', '--socket', join(state, 'api.sock'), 'add-ports', `127.0.0.1:${p.parentPort}:${p.childPort}/${p.proto}`]), userEnv);
      }
      const exited = new Promise((r) => holder.once('exit', r));
      holder.kill('SIGTERM');
      await exited;
      return once + adds;
    };

    const runs = 7;
    const a: number[] = [];
    const b: number[] = [];
    await launch();
    for (let i = 0; i < runs; i++) {
      a.push(await launch());
      b.push(await bare());
    }
    return line(
      'u7s-namespace',
      `launcher start to ${ports.length} ports published`,
      `rootlesskit ... true + ${ports.length} rootlessctl add-ports`,
      median(a),
      median(b),
      runs,
    );
  } finally {
    spawnSync('userdel', ['-f', '-r', user]);
    rmSync(runtime, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

export const benchmarks: Record<string, (work: string) => Promise<string>> = { 'u7s-namespace': u7sNamespace, 'wrapper-startup': wrapperStartup };
