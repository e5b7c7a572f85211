/**
 * The u7s runtime's small parts: the environment file as data (canaries), node settings, ports
 * per role, the host's addresses, kubelet configuration patch, admin.conf check, subordinate ids,
 * the CRI-O configuration, preflight with a fake host, load balancer configuration checks.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toToml } from 'smol-toml';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { cgroupMode, type CgroupProbe } from '../../bin/u7s/lib/cgroups.ts';
import { crioConfig } from '../../bin/u7s/lib/crio-config.ts';
import { formatEnvFile, parseEnvFile } from '../../bin/u7s/lib/envfile.ts';
import { crossing, externalAddress, parseAddresses, parseDefaultRoutes } from '../../bin/u7s/lib/host-network.ts';
import { checkedKubeconfig } from '../../bin/u7s/lib/kubeconfig.ts';
import { kubeadmFlags, kubeletMinor, patchKubeletConfig } from '../../bin/u7s/lib/kubelet-config.ts';
import { renderHaproxy, renderKeepalived } from '../../bin/u7s/lib/lb-config.ts';
import { nodeSettings, readNodeSettings } from '../../bin/u7s/lib/node-env.ts';
import { hostServiceRoutes, servicesOn } from '../../bin/u7s/lib/own-services.ts';
import { userLayout } from '../../bin/u7s/lib/paths.ts';
import { rolePorts, portText } from '../../bin/u7s/lib/ports.ts';
import { availableMinors, packagesFor } from '../../bin/u7s/lib/packages.ts';
import { ready, runChecks, type Probe } from '../../bin/u7s/lib/preflight.ts';
import { etcdMemberOf, etcdQuotaBytesOf, processesOf } from '../../bin/u7s/lib/static-pods.ts';
import { ETCD_DEFAULT_QUOTA_BYTES, snapshotMaxBytes } from '../../bin/u7s/lib/etcd-snapshot.ts';
import { DEFAULT_CERT_WARN_DAYS } from '../../bin/u7s/lib/cert-expiry.ts';
import { freeStart, planSubids } from '../../bin/u7s/lib/subid.ts';
import { parseCidr } from '../../bin/u7s/lib/values.ts';
import { HOST_FACTS, removeRoot, renderedRoot } from '../support/u7s-fixtures.ts';

const CANARY_DIR = mkdtempSync(join(tmpdir(), 'podsec-u7s-canary-'));
const CANARY = join(CANARY_DIR, 'canary');
test.after(() => rmSync(CANARY_DIR, { recursive: true, force: true }));

test('environment file: values with shell syntax stay literal strings; unquoted specials are refused', () => {
  const evil = [`$(touch ${CANARY})`, '"; reboot; "', '`id`', 'a b  c', '$HOME'];
  const text = formatEnvFile(evil.map((value, i) => [`V${i}`, value]));
  const parsed = parseEnvFile(text, 'env');
  evil.forEach((value, i) => assert.is(parsed.get(`V${i}`), value));
  assert.not.ok(existsSync(CANARY));
  assert.throws(() => formatEnvFile([['V', "it's"]]), /quote or a line break/);
  assert.throws(() => formatEnvFile([['V', 'a\nB=c']]), /quote or a line break/);
  assert.throws(() => formatEnvFile([['1V', 'x']]), /not a variable name/);
  assert.throws(() => parseEnvFile(`A=$(touch ${CANARY})\n`, 'env'), /unquoted value with special characters/);
  assert.throws(() => parseEnvFile("A='x\n", 'env'), /unterminated quote/);
  assert.throws(() => parseEnvFile('export A=1\n', 'env'), /not a KEY=VALUE line/);
  assert.equal(
    parseEnvFile('# c\nA="x \\"y\\" \\$z"\nB=plain\n', 'env'),
    new Map([
      ['A', 'x "y" $z'],
      ['B', 'plain'],
    ]),
  );
});

test('node settings: every value is validated again when read; a bad one names the file and key', () => {
  const base = new Map([
    ['U7S_EXTIP', '192.0.2.10'],
    ['U7S_CONTROLPLANE', 'initMaster'],
  ]);
  const s = nodeSettings(base, 'env');
  assert.is(s.role, 'control-plane');
  assert.is(s.apiserverBindPort, 6443);
  assert.is(s.slirpCidr, '10.0.2.0/24');
  assert.is(s.mtu, 65520);
  assert.is(nodeSettings(new Map([...base, ['U7S_MTU', '1450']]), 'env').mtu, 1450);
  for (const [key, value] of [
    ['U7S_EXTIP', `$(touch ${CANARY})`],
    ['U7S_CONTROLPLANE', 'root'],
    ['U7S_APISERVER_BIND_PORT', '6443; reboot'],
    ['U7S_ROOTLESSKIT_FLAGS', '--net=host $(reboot)'],
    ['U7S_PUBLISH_ADDRESS', '0.0.0.0 -p'],
    ['U7S_PAUSE_IMAGE', 'pause:3.9 --privileged'],
    ['U7S_SERVICECIDR', '10.96.0.0/12,1.2.3.4/8'],
    ['U7S_MTU', '1500 --net=host'],
    ['U7S_MTU', '65521'],
  ] as [string, string][]) {
    assert.throws(() => nodeSettings(new Map<string, string>([...base, [key, value]]), '/etc/x/env'), new RegExp(`/etc/x/env: ${key}`), key);
  }
  assert.throws(() => nodeSettings(new Map(), 'env'), /U7S_EXTIP is not set/);
  assert.throws(() => readNodeSettings(join(CANARY_DIR, 'missing')), /does not exist: deploy the node/);
  assert.not.ok(existsSync(CANARY));
});

test('ports per role: control plane TCP 2379 2380 6443 10250 10255 10256, worker 10250 10255 10256, always UDP 8472 and 6053->53', () => {
  assert.equal(rolePorts('control-plane').map(portText), [
    '2379/tcp',
    '2380/tcp',
    '6443/tcp',
    '10250/tcp',
    '10255/tcp',
    '10256/tcp',
    '8472/udp',
    '6053->53/udp',
  ]);
  assert.equal(rolePorts('worker').map(portText), ['10250/tcp', '10255/tcp', '10256/tcp', '8472/udp', '6053->53/udp']);
  assert.ok(
    rolePorts('control-plane', { apiserverPort: 7443 }).some((p) => p.parentPort === 7443 && p.childPort === 7443),
    'the bind port is published',
  );
  assert.equal(rolePorts('worker', { cni: 'calico' }).slice(-3).map(portText), ['5473/tcp', '4789/udp', '51820/udp']);
});

test("host addresses from ip -j: the external address is on the gateway's network; labels kept", () => {
  const addresses = parseAddresses(
    JSON.stringify([
      { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, label: 'lo' }] },
      {
        ifname: 'eth0',
        addr_info: [
          { family: 'inet6', local: 'fe80::1', prefixlen: 64 },
          { family: 'inet', local: '198.51.100.5', prefixlen: 24, label: 'eth0' },
          { family: 'inet', local: '192.0.2.10', prefixlen: 24, label: 'eth0:1' },
        ],
      },
    ]),
  );
  const routes = parseDefaultRoutes(JSON.stringify([{ dst: 'default', gateway: '192.0.2.1', dev: 'eth0' }]));
  assert.equal(externalAddress({ addresses, defaultRoutes: routes }), { dev: 'eth0', label: 'eth0:1', address: '192.0.2.10', prefix: 24 });
  assert.is(externalAddress({ addresses, defaultRoutes: [] }), undefined);
  assert.is(externalAddress({ addresses, defaultRoutes: [{ dev: 'eth0' }] })!.address, '198.51.100.5', 'a route without gateway: its device');
  assert.is(crossing(HOST_FACTS.network, [{ name: 'n', cidr: parseCidr('10.96.0.0/12', 'x') }]), undefined);
  assert.match(crossing(HOST_FACTS.network, [{ name: 'n', cidr: parseCidr('192.0.0.0/8', 'x') }])!, /Interface eth0 supports network 192\.0\.2\.10\/24/);
});

test('kubelet configuration: rootless settings merged key by key, other keys kept; a missing file is not replaced', () => {
  const sample = YAML.stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    featureGates: { Foo: true },
    cgroupDriver: 'systemd',
    clusterDNS: ['10.96.0.10'],
  });
  const patched = YAML.parse(patchKubeletConfig(sample, '/var/lib/u7s-admin')!);
  assert.equal(patched.featureGates, { Foo: true, KubeletInUserNamespace: true }, 'upstream dropped the cluster gates');
  assert.is(patched.cgroupDriver, 'cgroupfs');
  assert.equal(patched.clusterDNS, ['10.96.0.10']);
  assert.is(patchKubeletConfig(YAML.stringify(patched), '/var/lib/u7s-admin'), undefined, 'second run changes nothing');
  assert.throws(() => patchKubeletConfig('', '/h'), /not a YAML mapping/);
  assert.equal(kubeadmFlags(parseEnvFile('KUBELET_KUBEADM_ARGS="--node-ip=192.0.2.10 --hostname-override=n1"\n', 'f')), [
    '--node-ip=192.0.2.10',
    '--hostname-override=n1',
  ]);
});

test(
  'kubelet configuration without delegated cgroups: no QoS cgroups, no allocatable enforcement, ' + 'failCgroupV1 off where it exists; back on when delegated',
  () => {
    const sample = YAML.stringify({ kind: 'KubeletConfiguration', cgroupsPerQOS: true, enforceNodeAllocatable: ['pods'] });
    const none = YAML.parse(patchKubeletConfig(sample, '/h', { cgroups: 'none', minor: 34 })!);
    assert.is(none.cgroupsPerQOS, false);
    assert.equal(none.enforceNodeAllocatable, []);
    assert.is(none.failCgroupV1, false);
    assert.not.ok('failCgroupV1' in YAML.parse(patchKubeletConfig(sample, '/h', { cgroups: 'none', minor: 30 })!), 'kubelet 1.30 has no such field');
    const delegated = YAML.parse(patchKubeletConfig(YAML.stringify(none), '/h', { cgroups: 'delegated', minor: 34 })!);
    assert.is(delegated.cgroupsPerQOS, true, 'a host rebooted into cgroup v2 gets QoS cgroups again');
    assert.is(kubeletMinor('Kubernetes v1.34.12'), 34);
    assert.is(kubeletMinor('nonsense'), undefined);
  },
);

test('cgroup mode: delegated only with cgroup v2 and cpu, memory and pids available to the node', () => {
  const probe = (v2: boolean, controllers: string): CgroupProbe => ({ isCgroup2: () => v2, readFile: () => controllers });
  assert.is(cgroupMode(probe(true, 'cpuset cpu io memory pids\n')), 'delegated');
  assert.is(cgroupMode(probe(true, 'cpu pids\n')), 'none', 'memory not delegated');
  assert.is(cgroupMode(probe(false, 'cpu memory pids')), 'none', 'hybrid or v1 host');
});

test('admin.conf for root: inline credentials only; exec, auth providers and file references refused', () => {
  const good = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'k', cluster: { server: 'https://192.0.2.10:6443', 'certificate-authority-data': 'Q0E=' } }],
    contexts: [{ name: 'c', context: { cluster: 'k', user: 'a' } }],
    'current-context': 'c',
    users: [{ name: 'a', user: { 'client-certificate-data': 'Qw==', 'client-key-data': 'Sw==' } }],
  };
  assert.equal(YAML.parse(checkedKubeconfig(YAML.stringify(good))), good);
  const bad = (change: (d: any) => void) => {
    const d = structuredClone(good) as any;
    change(d);
    return YAML.stringify(d);
  };
  assert.throws(() => checkedKubeconfig(bad((d) => (d.users[0].user.exec = { command: `/bin/touch`, args: [CANARY] }))), /exec/);
  assert.throws(() => checkedKubeconfig(bad((d) => (d.users[0].user['auth-provider'] = { name: 'x' }))), /auth-provider/);
  assert.throws(() => checkedKubeconfig(bad((d) => (d.users[0].user['client-key'] = '/root/.ssh/id_rsa'))), /client-key/);
  assert.throws(() => checkedKubeconfig(bad((d) => (d.clusters[0].cluster['proxy-url'] = 'http://evil'))), /proxy-url/);
  assert.throws(() => checkedKubeconfig(bad((d) => (d.kind = 'Other'))), /kind is not Config/);
});

test('subordinate ids: a free range after the taken ones, in both files; an existing range is kept', async () => {
  const root = await renderedRoot();
  try {
    writeFileSync(join(root, 'etc/subuid'), 'alice:100000:65536\nbob:165536:65536\n');
    writeFileSync(join(root, 'etc/subgid'), 'alice:100000:65536\ncarol:300000:65536');
    const account = { name: 'u7s-admin', uid: 995, gid: 995, home: '/var/lib/u7s-admin', shell: '/bin/sh' };
    const plan = planSubids(root, account);
    assert.equal([plan.start, plan.added], [231072, ['subuid', 'subgid']]);
    plan.apply();
    assert.is(readFileSync(join(root, 'etc/subuid'), 'utf8'), 'alice:100000:65536\nbob:165536:65536\nu7s-admin:231072:65536\n');
    assert.is(readFileSync(join(root, 'etc/subgid'), 'utf8'), 'alice:100000:65536\ncarol:300000:65536\nu7s-admin:231072:65536\n');
    assert.equal(planSubids(root, account).added, [], 'second run: nothing to add');
    assert.is(freeStart([{ owner: 'x', start: 100000, count: 10 }], 100000, 200000), 100010);
    assert.is(freeStart([], 100000, 150000), undefined, 'no room below SUB_UID_MAX');
  } finally {
    removeRoot(root);
  }
});

test("CRI-O configuration: rootless paths in the account's directories, cgroupfs, crun, podsec's signature policy", () => {
  const text = crioConfig(userLayout(995, 995, '/var/lib/u7s-admin'), { registry: 'registry.local', pauseImage: 'p11/pause:3.9', cgroups: 'delegated' });
  assert.match(text, /^\[crio\.image\]\nsignature_policy = "\/etc\/containers\/policy\.json"\npause_image = "registry\.local\/p11\/pause:3\.9"$/m);
  assert.match(text, /^root = "\/var\/lib\/u7s-admin\/\.local\/share\/usernetes\/containers\/storage"$/m);
  assert.match(text, /^listen = "\/run\/user\/995\/usernetes\/crio\/crio\.sock"$/m);
  assert.match(text, /^cgroup_manager = "cgroupfs"$/m);
  assert.match(text, /^\[crio\.runtime\.runtimes\.crun\]$/m);
  assert.not.match(text, /insecure_registries/, 'TLS is decided by registries.conf, not switched off here');
  assert.is(toToml({ k: 'a"b\\c\nd\u0001' }), 'k = "a\\"b\\\\c\\nd\\u0001"\n', 'no value can end a string or a line');
});

test('CRI-O configuration: the defects a real CRI-O 1.34 showed stay fixed', () => {
  const layout = userLayout(995, 995, '/var/lib/u7s-admin');
  const text = crioConfig(layout, { registry: 'registry.local', pauseImage: 'p11/pause:3.9', cgroups: 'none' });
  assert.match(text, /^pinns_path = "\/usr\/bin\/pinns"$/m, 'pinns beside crio, not looked up in PATH');
  assert.match(text, /^drop_infra_ctr = false$/m, 'cgroup v1: a dropped infra container needs a pod cgroup');
  assert.match(crioConfig(layout, { registry: '', pauseImage: '', cgroups: 'delegated' }), /^drop_infra_ctr = true$/m);
  assert.match(
    text,
    /^clean_shutdown_file = "\/var\/lib\/u7s-admin\/\.local\/share\/usernetes\/crio\/clean\.shutdown"$/m,
    'persistent, not the namespace tmpfs',
  );
  assert.match(text, /^version_file_persist = "\/var\/lib\/u7s-admin\/\.local\/share\/usernetes\/crio\/version"$/m);
  assert.not.match(text, /conmon_cgroup/, 'deprecated');
  assert.match(text, /^\[crio\.runtime\.runtimes\.crun\]\n(?:.+\n)*monitor_cgroup = "pod"$/m);
  assert.match(
    text,
    /^\[crio\.nri\]\nnri_listen = "\/run\/user\/995\/usernetes\/crio\/nri\.sock"$/m,
    "NRI's socket in the account's runtime directory, not root's /var/run/nri",
  );
});

test('a master that is also a node: its registry and signature server ports on its own address go to the host, nothing else', () => {
  const hosts = '127.0.0.1 localhost\n192.0.2.10 registry.local sigstore.local trivy.local\n';
  assert.equal(servicesOn(hosts, '192.0.2.10'), [80, 81]);
  assert.equal(servicesOn(hosts, '192.0.2.11'), [], 'a node of another master: nothing to route');
  assert.equal(servicesOn('192.0.2.11 registry.local\n192.0.2.10 registry.local\n', '192.0.2.10'), [], 'the resolver uses the first binding');
  const fresh = '0:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n';
  const commands = hostServiceRoutes('192.0.2.10', [80, 81], '10.0.2.2', fresh).map((c) => c.join(' '));
  assert.equal(commands, [
    'route replace 192.0.2.10/32 via 10.0.2.2 dev tap0 onlink table 100',
    'rule add pref 50 to 192.0.2.10/32 ipproto tcp dport 80 table 100',
    'rule add pref 50 to 192.0.2.10/32 ipproto tcp dport 81 table 100',
    'rule add pref 100 lookup local',
    'rule del pref 0 lookup local',
  ]);
  const applied =
    '50:\tfrom all to 192.0.2.10 ipproto tcp dport 80 lookup 100\n50:\tfrom all to 192.0.2.10 ipproto ' +
    'tcp dport 81 lookup 100\n100:\tfrom all lookup local\n32766:\tfrom all lookup main\n';
  assert.equal(
    hostServiceRoutes('192.0.2.10', [80, 81], '10.0.2.2', applied).map((c) => c.join(' ')),
    ['route replace 192.0.2.10/32 via 10.0.2.2 dev tap0 onlink table 100'],
    'a restart adds no rule twice',
  );
  assert.equal(hostServiceRoutes('192.0.2.10', [], '10.0.2.2', fresh), []);
});

function fakeProbe(overrides: Partial<Probe> = {}): Probe {
  const files: Record<string, string> = {
    '/etc/passwd': 'u7s-admin:x:995:995::/var/lib/u7s-admin:/bin/sh\n',
    '/etc/subuid': 'u7s-admin:200000:65536\n',
    '/etc/subgid': 'u7s-admin:200000:65536\n',
    '/proc/sys/user/max_user_namespaces': '1000\n',
    '/sys/fs/cgroup/user.slice/user-995.slice/user@995.service/cgroup.controllers': 'cpuset cpu io memory pids\n',
    '/usr/lib/modules-load.d/u7s.conf': '# x\ntun\nbr_netfilter\n',
    '/proc/net/route': 'Iface\tDestination\tGateway\nlo\t0000007F\t00000000\neth0\t00000000\t0102000A\n',
    '/sys/class/net/eth0/mtu': '1500\n',
    '/sys/class/net/eth1/mtu': '9000\n',
    '/etc/podsec/u7s/config/env': 'U7S_MTU=1500\n',
  };
  const exists = new Set([
    '/var/lib/systemd/linger/u7s-admin',
    ...['rootlesskit', 'rootlessctl', 'slirp4netns', 'crun', 'nsenter', 'setpriv', 'mount', 'ip', 'newuidmap', 'newgidmap'].map((t) => `/usr/bin/${t}`),
  ]);
  return {
    root: '/',
    kernelRelease: () => '6.1.0-alt1',
    readFile: (p) => files[p],
    exists: (p) => exists.has(p),
    stat: (p) => (p === '/dev/net/tun' ? { mode: 0o20666, uid: 0 } : p.endsWith('idmap') ? { mode: 0o104755, uid: 0 } : undefined),
    isCgroup2: () => true,
    moduleLoaded: () => true,
    portFree: async () => true,
    ...overrides,
  };
}

test('preflight: a ready host passes; each problem is named with its fix and makes the host not ready', async () => {
  // The fake reads /etc/passwd through readFile; findAccount reads the real file under root, so point it at a temp root.
  const root = mkdtempSync(join(tmpdir(), 'podsec-u7s-pre-'));
  try {
    writeFileSync(join(root, 'passwd'), '');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc/passwd'), 'u7s-admin:x:995:995::/var/lib/u7s-admin:/bin/sh\n');
    const good = await runChecks({ ...fakeProbe(), root }, { user: 'u7s-admin', role: 'control-plane', ports: true });
    assert.ok(ready(good), JSON.stringify(good.filter((r) => r.status !== 'ok')));
    const cases: [Partial<Probe>, string][] = [
      [{ kernelRelease: () => '5.10.0' }, 'kernel'],
      [{ portFree: async (proto, port) => !(proto === 'tcp' && port === 6443) }, 'port-6443-tcp'],
      [{ stat: () => undefined }, 'dev-net-tun'],
      [{ moduleLoaded: (m) => m !== 'br_netfilter' }, 'kernel-modules'],
      [{ moduleLoaded: (m) => m !== 'vxlan' }, 'vxlan'],
    ];
    for (const [override, id] of cases) {
      const results = await runChecks({ ...fakeProbe(override), root }, { user: 'u7s-admin', role: 'control-plane', ports: true });
      const failed = results.find((r) => r.id === id);
      assert.is(failed?.status, 'fail', id);
      assert.ok(failed!.fix && failed!.fix.length > 10, `${id} has a fix`);
      assert.not.ok(ready(results), id);
    }
    // A cgroup v1 or hybrid host runs, without limits: a warning that says so, not a failure.
    const hybrid = await runChecks({ ...fakeProbe({ isCgroup2: () => false }), root }, { user: 'u7s-admin', role: 'control-plane', ports: true });
    for (const id of ['cgroup-v2', 'delegation']) assert.is(hybrid.find((r) => r.id === id)?.status, 'warn', id);
    assert.match(hybrid.find((r) => r.id === 'cgroup-v2')!.detail, /limits will not be enforced/);
    assert.ok(ready(hybrid));
    // Strict reverse-path filtering on the host: a warning naming the sysctl, not a failure.
    const strict = await runChecks(
      { ...fakeProbe({ readFile: (p) => (p === '/proc/sys/net/ipv4/conf/all/rp_filter' ? '1\n' : fakeProbe().readFile(p)) }), root },
      { user: 'u7s-admin', role: 'worker', ports: false },
    );
    assert.is(strict.find((r) => r.id === 'rp-filter')?.status, 'warn');
    assert.match(strict.find((r) => r.id === 'rp-filter')!.fix!, /net\.ipv4\.conf\.all\.rp_filter=2/);
    assert.is(good.find((r) => r.id === 'rp-filter')?.status, 'ok');
    // The namespace's MTU above the interface's: VXLAN as IP fragments, a warning naming U7S_MTU; the
    // deployed node's device and MTU are the ones checked.
    assert.is(good.find((r) => r.id === 'mtu')?.status, 'ok');
    const mtuWith = async (env: string | undefined) => {
      const probe = fakeProbe({ readFile: (p) => (p === '/etc/podsec/u7s/config/env' ? env : fakeProbe().readFile(p)) });
      return (await runChecks({ ...probe, root }, { user: 'u7s-admin', role: 'worker', ports: false })).find((r) => r.id === 'mtu')!;
    };
    const fragments = await mtuWith(undefined);
    assert.is(fragments.status, 'warn');
    assert.match(fragments.detail, /65520.*eth0.*1500.*fragments/);
    assert.match(fragments.fix!, /U7S_MTU=1500/);
    assert.is((await mtuWith('U7S_EXTDEV=eth1:0\nU7S_MTU=9000\n')).status, 'ok');
    assert.is((await mtuWith('U7S_EXTDEV=eth1\nU7S_MTU=9001\n')).status, 'warn');
    // CRI-O installed without its pinns: named, with the path it must have.
    const withCrio = (pinns: boolean) => fakeProbe({ exists: (p) => p === '/usr/bin/crio' || (pinns && p === '/usr/bin/pinns') || fakeProbe().exists(p) });
    const noPinns = await runChecks({ ...withCrio(false), root }, { user: 'u7s-admin', role: 'worker', ports: false });
    assert.is(noPinns.find((r) => r.id === 'tool-pinns')?.status, 'fail');
    assert.match(noPinns.find((r) => r.id === 'tool-pinns')!.fix!, /\/usr\/bin\/pinns/);
    assert.is(
      (await runChecks({ ...withCrio(true), root }, { user: 'u7s-admin', role: 'worker', ports: false })).find((r) => r.id === 'tool-pinns')?.status,
      'ok',
    );
    const noSubuid = await runChecks(
      { ...fakeProbe({ readFile: (p) => (p === '/etc/subuid' ? '' : fakeProbe().readFile(p)) }), root },
      { user: 'u7s-admin', role: 'worker', ports: false },
    );
    assert.is(noSubuid.find((r) => r.id === 'subuid')?.status, 'fail');
    const delegation = await runChecks(
      { ...fakeProbe({ readFile: (p) => (p.endsWith('cgroup.controllers') ? 'cpuset io\n' : fakeProbe().readFile(p)) }), root },
      { user: 'u7s-admin', role: 'worker', ports: false },
    );
    assert.match(delegation.find((r) => r.id === 'delegation')!.fix!, /missing cpu memory pids/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('load balancer configuration: values are validated before they reach the text', () => {
  const cfg = renderHaproxy({ masters: ['192.0.2.11', '192.0.2.12:7443'], bind: '*:8443', checkIntervalMs: 2000 });
  assert.match(cfg, /^    server master-1 192\.0\.2\.11:6443$/m);
  assert.match(cfg, /^    server master-2 192\.0\.2\.12:7443$/m);
  assert.match(cfg, /^    bind 0\.0\.0\.0:8443$/m);
  assert.match(cfg, /option httpchk GET \/healthz/);
  for (const master of ['192.0.2.1\n    server evil 1.2.3.4:1', '192.0.2.1 check', 'a;b:1']) {
    assert.throws(() => renderHaproxy({ masters: [master], bind: '*:8443', checkIntervalMs: 2000 }), /--master/);
  }
  assert.throws(() => renderHaproxy({ masters: [], bind: '*:8443', checkIntervalMs: 2000 }), /at least one/);
  assert.throws(() => renderHaproxy({ masters: ['192.0.2.1'], bind: '*:8443\nlisten x', checkIntervalMs: 2000 }), /--bind/);
  const ka = renderKeepalived({ vip: '192.0.2.100/24', interface: 'eth0', state: 'MASTER', priority: 101, routerId: 51, process: 'haproxy' });
  assert.match(ka, /virtual_router_id 51/);
  assert.not.match(ka, /authentication/);
  // Checked by pgrep as nobody (process tracking never works in a network namespace of a container).
  assert.match(ka, /^    script "\/usr\/bin\/pgrep -x haproxy"$/m);
  assert.match(ka, /^    script_user nobody$/m);
  assert.not.match(ka, /track_process/);
  for (const process of ['-v', 'ha"proxy', 'a b', 'x'.repeat(16)])
    assert.throws(
      () => renderKeepalived({ vip: '192.0.2.100/24', interface: 'eth0', state: 'MASTER', priority: 101, routerId: 51, process }),
      /--process/,
      process,
    );
  assert.throws(
    () => renderKeepalived({ vip: '192.0.2.100/24', interface: 'eth0\n}', state: 'MASTER', priority: 101, routerId: 51, process: 'haproxy' }),
    /interface/,
  );
  assert.throws(
    () =>
      renderKeepalived({ vip: '192.0.2.100/24', interface: 'eth0', state: 'MASTER', priority: 101, routerId: 51, process: 'haproxy', authPass: 'toolongpass' }),
    /auth-pass/,
  );
  assert.throws(() => renderKeepalived({ vip: '192.0.2.100', interface: 'eth0', state: 'MASTER', priority: 101, routerId: 51, process: 'haproxy' }), /--vip/);
});

test('Kubernetes packages: minors from the apt package names, newest first, compared as numbers', () => {
  assert.equal(
    availableMinors('kubernetes1.9-kubeadm\nkubernetes1.26-kubeadm\nkubernetes1.30-kubelet\nkubernetes1.28-kubeadm\nkubernetes1.100-kubeadm\n'),
    [100, 28, 26, 9],
  );
  assert.equal(packagesFor(30), ['kubernetes1.30-kubeadm', 'kubernetes1.30-kubelet', 'kubernetes1.30-crio', 'cri-tools1.30']);
});

test("static pods: processes found by the kernel's name (15 bytes: kube-controller-manager is kube-controller) and by owner", () => {
  const proc = mkdtempSync(join(tmpdir(), 'podsec-proc-'));
  try {
    const task = (pid: number, name: string, uid: number) => {
      mkdirSync(join(proc, String(pid)));
      writeFileSync(join(proc, String(pid), 'status'), `Name:\t${name}\nUmask:\t0022\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
    };
    task(10, 'kube-controller', 100000);
    task(11, 'kube-apiserver', 999);
    task(12, 'kube-apiserver', 0);
    task(13, 'etcd', 5000);
    mkdirSync(join(proc, 'self'));
    const owned = (uid: number) => uid === 999 || uid >= 100000;
    assert.equal(processesOf(['kube-controller-manager', 'kube-apiserver', 'etcd'], owned, proc).sort(), [10, 11]);
  } finally {
    rmSync(proc, { recursive: true, force: true });
  }
});

test("etcd snapshots: the copy's bound follows the larger of etcd's default quota and the manifest's --quota-backend-bytes", () => {
  const manifest = (...extra: string[]) =>
    YAML.stringify({
      spec: {
        containers: [
          {
            command: [
              'etcd',
              '--data-dir=/var/lib/etcd',
              '--name=n1',
              '--initial-advertise-peer-urls=https://10.0.0.1:2380',
              '--initial-cluster=n1=https://10.0.0.1:2380',
              ...extra,
            ],
          },
        ],
      },
    });
  assert.is(etcdMemberOf(manifest()).dataDir, '/var/lib/etcd');
  assert.is(etcdQuotaBytesOf(manifest()), undefined);
  assert.is(etcdQuotaBytesOf(manifest('--quota-backend-bytes=8589934592')), 8 * 1024 ** 3);
  for (const bad of ['0', '-1', '2G', '', '1e12']) assert.is(etcdQuotaBytesOf(manifest(`--quota-backend-bytes=${bad}`)), undefined, bad);
  assert.is(ETCD_DEFAULT_QUOTA_BYTES, 2 * 1024 ** 3);
  const headroom = snapshotMaxBytes() - ETCD_DEFAULT_QUOTA_BYTES;
  assert.ok(headroom > 0 && headroom <= ETCD_DEFAULT_QUOTA_BYTES / 4, 'some headroom, far less than the quota');
  assert.is(snapshotMaxBytes(1024 ** 3), snapshotMaxBytes(), 'a smaller quota keeps the default bound');
  assert.is(snapshotMaxBytes(8 * 1024 ** 3), 8 * 1024 ** 3 + headroom);
});

test('certificate warning period: one default for podsec-u7s-certs, kubeadm certs through the wrapper and the monitor; their help says it', () => {
  const sources = ['bin/podsec-u7s-certs.ts', 'bin/u7s/lib/certs.ts', 'bin/podsec-inotify-check-certs.ts'].map(
    (file) => [file, readFileSync(file, 'utf8')] as const,
  );
  for (const [file, text] of sources) {
    assert.ok(text.includes('DEFAULT_CERT_WARN_DAYS'), `${file} uses the shared default`);
    const code = text.replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g, "''");
    assert.not.match(code, new RegExp(`\\b${DEFAULT_CERT_WARN_DAYS}\\b`), `${file} has no number of days of its own outside its texts`);
  }
  // Help texts are literal (translated as written): the default they state is the constant's.
  const stated = sources.flatMap(([, text]) => [...text.matchAll(/\(default[^)]*?(\d+)\)/g)].map((m) => Number(m[1])));
  assert.is(stated.length, 3, 'the two --days options and the environment variable state a default');
  for (const days of stated) assert.is(days, DEFAULT_CERT_WARN_DAYS);
});

test.run();
