/**
 * u7s output checked by the programs that read it: CRI-O's TOML by a TOML parser (python3
 * tomllib), the haproxy file by `haproxy -c`, the keepalived file by running keepalived; and the
 * wrapper's command line: help changes nothing, bad input is one line and leaves no trace.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { crioConfig, crioTables } from '../../bin/u7s/lib/crio-config.ts';
import { userLayout } from '../../bin/u7s/lib/paths.ts';
import { run } from '../support/exec.ts';
import { withTools } from '../support/tools.ts';
import { bundledPrograms, removeRoot, renderedRoot, snapshot } from '../support/u7s-fixtures.ts';

const test = withTools(base, ['python3', 'haproxy', 'keepalived', 'ip', 'unshare']);
const work = mkdtempSync(join(tmpdir(), 'podsec-u7s-tools-'));
let bin: string;
let root: string;
base.before(async () => {
  bin = await bundledPrograms(['podsec-u7s-kubeadm', 'podsec-u7s-loadbalancer']);
  root = await renderedRoot();
});
base.after(() => {
  rmSync(work, { recursive: true, force: true });
  removeRoot(bin);
  removeRoot(root);
});

const node = (program: string, args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [join(bin, program), ...args], { env: { PATH: process.env.PATH, LANG: 'C', ...env }, cwd: work });

test("CRI-O's configuration is TOML that a TOML parser reads back as written", async () => {
  const layout = userLayout(995, 995, '/var/lib/u7s-admin "quoted"\\dir');
  const file = join(work, 'crio.conf');
  writeFileSync(file, crioConfig(layout, { registry: 'registry.local', pauseImage: 'p11/pause:3.9', cgroups: 'none' }));
  const parsed = await run('python3', ['-c', 'import json,sys,tomllib; print(json.dumps(tomllib.load(open(sys.argv[1],"rb"))))', file]);
  assert.is(parsed.exitCode, 0, parsed.stderr);
  const expected: Record<string, any> = {};
  for (const [table, entries] of crioTables(layout, { registry: 'registry.local', pauseImage: 'p11/pause:3.9', cgroups: 'none' })) {
    let node = expected;
    for (const part of table.split('.')) node = node[part] ??= {};
    Object.assign(node, entries);
  }
  assert.equal(JSON.parse(parsed.stdout), expected);
});

/** podsec-u7s-loadbalancer with its arguments in one space-separated string, writing under `work`. */
const loadbalancer = (args: string) => node('podsec-u7s-loadbalancer', ['--root', work, ...args.split(' ')]);

test('haproxy -c accepts the generated file; keepalived runs its file and takes the address while the tracked process runs', async () => {
  const haproxy = join(work, 'haproxy.cfg');
  // --output under --root: the file is written atomically below the root, never through /tmp's links.
  const made = await loadbalancer('haproxy --master 192.0.2.11 --master 192.0.2.12:6443 --bind 127.0.0.1:18443 --output /haproxy.cfg');
  assert.is(made.exitCode, 0, made.stderr);
  const checked = await run('haproxy', ['-c', '-f', haproxy]);
  assert.is(checked.exitCode, 0, checked.stdout + checked.stderr);
  const keepalived = join(work, 'keepalived.conf');
  const ka = await loadbalancer('keepalived --vip 192.0.2.100/24 --interface u7s0 --state MASTER --auth-pass u7s42 --process sleep --output /keepalived.conf');
  assert.is(ka.exitCode, 0, ka.stderr);
  // Debian 12's keepalived 2.2.7 kills its own `-t` when a vrrp_script has a user (fixed in 2.2.8), so
  // the file is run instead: in network and PID namespaces of our own, with a veth for the
  // interface and a `sleep` as the tracked process, the address must come within 20 s.
  const script = [
    'set -e',
    'ip link add u7s0 type veth peer name u7s1; ip link set u7s0 up; ip link set u7s1 up; ip addr add 192.0.2.1/24 dev u7s0',
    'sleep 60 & tracked=$!',
    'keepalived --dont-fork --log-console -f "$1" -p "$2/ka.pid" -r "$2/vrrp.pid" & ka=$!',
    'for i in $(seq 40); do if ip -4 addr show u7s0 | grep -q 192.0.2.100/24; then echo HOLDS; break; fi; sleep 0.5; done',
    'kill $ka $tracked; wait $ka || true',
  ].join('\n');
  const kaRun = await run('unshare', ['--net', '--pid', '--fork', '--kill-child', '--mount-proc', '--', 'sh', '-c', script, 'sh', keepalived, work], {
    timeoutMs: 60_000,
  });
  assert.match(kaRun.stdout, /^HOLDS$/m, kaRun.stdout + kaRun.stderr);
  assert.match(kaRun.stderr + kaRun.stdout, /VRRP_Script\(track_sleep\) succeeded/);
  const bad = await node('podsec-u7s-loadbalancer', ['haproxy', '--master', '192.0.2.11\n    server evil 203.0.113.1:6443']);
  assert.is(bad.exitCode, 1);
  assert.match(bad.stderr, /^podsec-u7s-loadbalancer: --master: .* is not /);
  assert.is(bad.stderr.trim().split('\n').length, 1);
});

test('wrapper: --help and init --help change nothing; --plan prints and changes nothing', async () => {
  const before = snapshot(root);
  for (const args of [['--help'], ['init', '--help'], ['join', '-h'], []]) {
    const r = await node('podsec-u7s-kubeadm', ['--root', root, ...args]);
    assert.is(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /Usage:/);
  }
  const plan = await node('podsec-u7s-kubeadm', ['--root', root, '--plan', 'init', '--apiserver-advertise-address', '192.0.2.10', '--node-name', 'n1'], {
    U7S_PLATFORM: 'p11',
    U7S_KUBEVERSION: 'v1.30.2',
  });
  assert.is(plan.exitCode, 0, plan.stderr);
  assert.match(plan.stdout, /^U7S_EXTIP='192\.0\.2\.10'$/m);
  assert.match(plan.stdout, /^kind: ClusterConfiguration$/m);
  assert.match(plan.stdout, /^\/usr\/bin\/kubeadm init --config=\/etc\/podsec\/u7s\/config\/rendered\/init\.yaml --upload-certs$/m);
  assert.equal(snapshot(root), before);
});

test('wrapper: --plan init names every missing input in one run (account, platform, version, settings)', async () => {
  const bare = mkdtempSync(join(work, 'bare-'));
  const r = await node('podsec-u7s-kubeadm', ['--root', bare, '--plan', 'init'], { U7S_CNI_PLUGIN: 'weave', U7S_SLIRP_CIDR: '10.0.2.0/99' });
  assert.is(r.exitCode, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.is(lines[0], 'podsec-u7s-kubeadm: 5 problems stop the deployment:', r.stderr);
  for (const expected of [/the user u7s-admin does not exist/, /U7S_PLATFORM/, /U7S_KUBEVERSION/, /U7S_CNI_PLUGIN/, /U7S_SLIRP_CIDR/])
    assert.ok(
      lines.slice(1).some((line) => line.startsWith('  - ') && expected.test(line)),
      `${expected} in\n${r.stderr}`,
    );
  assert.is(readdirSync(bare).length, 0, 'nothing written');
});

test('wrapper: init --help and join --help list exactly the flags the parser accepts for them', async () => {
  const { FLAGS } = await import('../../bin/u7s/lib/kubeadm-flags.ts');
  for (const command of ['init', 'join'] as const) {
    const help = await node('podsec-u7s-kubeadm', [command, '--help']);
    assert.is(help.exitCode, 0, help.stderr);
    const listed = [...help.stdout.matchAll(/^\s+(?:-v, )?--([\w-]+)/gm)].map((m) => m[1]);
    const accepted = Object.entries(FLAGS)
      .filter(([, def]) => def.commands.includes(command))
      .map(([name]) => name);
    assert.equal(listed.sort(), accepted.sort(), command);
    for (const name of accepted.filter((n) => FLAGS[n]!.valueName === undefined && n !== 'help')) {
      const other = command === 'init' ? 'join' : 'init';
      if (!FLAGS[name]!.commands.includes(other)) {
        const refused = await node('podsec-u7s-kubeadm', ['--plan', other, `--${name}`]);
        assert.match(refused.stderr, `--${name} is a flag of kubeadm ${command}, not of kubeadm ${other}`);
      }
    }
  }
});

test('wrapper: unknown flags and injection strings are refused with one line; no canary, nothing changed', async () => {
  const canary = join(work, 'canary');
  const before = snapshot(root);
  const env = { U7S_PLATFORM: 'p11', U7S_KUBEVERSION: 'v1.30.2' };
  const cases: [string[], Record<string, string>, RegExp, number][] = [
    [['init', '--bogus'], {}, /unknown flag --bogus for kubeadm init/, 2],
    [['init', '--node-name', `$(touch ${canary})`], {}, /--node-name: .* is not a lower-case DNS name/, 2],
    [['init', '--token', '"; touch ' + canary + '; "'], {}, /--token: .* is not a bootstrap token/, 2],
    [['init', '--pod-network-cidr', '10.244.0.0/33'], {}, /--pod-network-cidr/, 2],
    [['init', '--apiserver-bind-port', '0'], {}, /--apiserver-bind-port/, 2],
    [
      ['join', `$(touch ${canary}):6443`, '--token', 'abcdef.0123456789abcdef', '--discovery-token-ca-cert-hash', `sha256:${'0'.repeat(64)}`],
      {},
      /not an IPv4 address or a host name/,
      1,
    ],
    [['init'], { U7S_REGISTRY: `$(touch ${canary})` }, /U7S_REGISTRY: .* is not a registry/, 1],
    [['init'], { U7S_ROOTLESSKIT_FLAGS: `--foo=x;touch ${canary}` }, /U7S_ROOTLESSKIT_FLAGS/, 1],
    [['init'], { U7S_PLATFORM: '`touch x`' }, /U7S_PLATFORM/, 1],
  ];
  for (const [args, extra, message, code] of cases) {
    const r = await node('podsec-u7s-kubeadm', ['--root', root, '--plan', ...args], { ...env, ...extra });
    assert.is(r.exitCode, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^podsec-u7s-kubeadm: /);
  }
  assert.not.ok(existsSync(canary), 'nothing was executed');
  assert.equal(snapshot(root), before);
  void readFileSync;
});

test('a host network overlapping the service network (a real interface in a test network namespace) stops init before any change', async () => {
  const before = snapshot(root);
  // A namespace of our own: eth-like veth with the external address and default route, and a
  // second interface on 10.96.5.1/24, inside the default service network 10.96.0.0/12.
  const script = [
    'ip link set lo up',
    'ip link add u7s0 type veth peer name u7s1',
    'ip addr add 192.0.2.10/24 dev u7s0 && ip link set u7s0 up',
    'ip route add default via 192.0.2.1 dev u7s0 onlink',
    'ip addr add 10.96.5.1/24 dev u7s1 && ip link set u7s1 up',
    'exec "$@"',
  ].join(' && ');
  const r = await run(
    'unshare',
    ['--net', '--', 'sh', '-c', script, 'sh', process.execPath, join(bin, 'podsec-u7s-kubeadm'), '--root', root, '--plan', 'init'],
    {
      env: { PATH: process.env.PATH, LANG: 'C', U7S_PLATFORM: 'p11', U7S_KUBEVERSION: 'v1.30.2' },
    },
  );
  assert.is(r.exitCode, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /Interface u7s1 supports network 10\.96\.5\.1\/24 intersecting with the internal network 10\.96\.0\.0\/12 of the kubernetes cluster/);
  assert.equal(snapshot(root), before);
});

test.run();
