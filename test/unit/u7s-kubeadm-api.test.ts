/**
 * The kubeadm API of the wrapper's documents: v1beta3 for a kubeadm before 1.31, v1beta4 from
 * 1.31 on (1.37 reads no v1beta3), each field kubeadm's conversion moves, --config documents of
 * either version, and the refusals. The real kubeadm 1.34 and 1.37 check the output in
 * test/tools/u7s-kubeadm-validate.test.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { nodeAccount } from '../../bin/u7s/lib/accounts.ts';
import { chooseKubeadmApi, planDeploy, planText, type HostFacts } from '../../bin/u7s/lib/deploy-plan.ts';
import { getPath, kubeadmApiFor, setPath, toKubeadmApi, type Doc } from '../../bin/u7s/lib/kubeadm-documents.ts';
import { parseDeployArgs } from '../../bin/u7s/lib/kubeadm-flags.ts';
import { U7S_KUBEADM_CONFIG_DIR } from '../../bin/u7s/lib/paths.ts';
import { kubeVersion } from '../../bin/u7s/lib/values.ts';
import { controlPlaneJoin, HASH, HOST_FACTS, removeRoot, renderedRoot, TOKEN } from '../support/u7s-fixtures.ts';

const V3 = 'kubeadm.k8s.io/v1beta3';
const V4 = 'kubeadm.k8s.io/v1beta4';
const K34: HostFacts = { ...HOST_FACTS, installedVersion: 'v1.34.12' };

let root: string;
test.before(async () => {
  root = await renderedRoot();
});
test.after(() => removeRoot(root));

const plan = (command: 'init' | 'join', args: string[], facts: HostFacts = K34, planRoot = root) =>
  planDeploy({ parsed: parseDeployArgs(command, args), env: {}, root: planRoot, account: nodeAccount(planRoot), facts });
const kinds = (docs: Doc[]) => Object.fromEntries(docs.map((d) => [d.kind, d as any]));
const workerJoin = ['192.0.2.10:6443', '--token', TOKEN, '--discovery-token-ca-cert-hash', HASH];

test('the API follows the kubeadm minor: v1beta3 up to 1.30, v1beta4 from 1.31; the installed kubeadm decides', () => {
  assert.is(kubeadmApiFor(26), V3);
  assert.is(kubeadmApiFor(30), V3);
  assert.is(kubeadmApiFor(31), V4);
  assert.is(kubeadmApiFor(37), V4);
  assert.equal(chooseKubeadmApi('v1.30.2\n', kubeVersion('v1.30.9', 'x')), { version: V3, reader: 'v1.30.2' });
  assert.equal(chooseKubeadmApi('v1.37.2', undefined), { version: V4, reader: 'v1.37.2' });
  assert.equal(chooseKubeadmApi(undefined, kubeVersion('v1.29.1', 'x')), { version: V3, reader: 'v1.29.1' }, 'the version that gets installed');
  assert.equal(chooseKubeadmApi(undefined, undefined), { version: V4 });
});

test('init for kubeadm 1.34: v1beta4, flag maps become {name, value} lists, timeoutForControlPlane moves to InitConfiguration', () => {
  const p = plan('init', ['--pod-network-cidr', '10.50.0.0/16']);
  const { InitConfiguration: init, ClusterConfiguration: cluster, KubeletConfiguration: kubelet, KubeProxyConfiguration: proxy } = kinds(p.documents);
  assert.is(init.apiVersion, V4);
  assert.is(cluster.apiVersion, V4);
  assert.is(kubelet.apiVersion, 'kubelet.config.k8s.io/v1beta1', 'component configurations are not kubeadm documents');
  assert.is(proxy.apiVersion, 'kubeproxy.config.k8s.io/v1alpha1');
  assert.equal(cluster.apiServer.extraArgs, [
    { name: 'etcd-servers', value: 'https://127.0.0.1:2379' },
    { name: 'audit-policy-file', value: '/etc/podsec/u7s/audit/policy.yaml' },
    { name: 'audit-log-path', value: '/etc/kubernetes/audit/audit.log' },
    { name: 'audit-log-maxsize', value: '500' },
    { name: 'audit-log-maxbackup', value: '3' },
  ]);
  assert.equal(
    cluster.controllerManager.extraArgs.find((a: Doc) => a.name === 'cluster-cidr'),
    { name: 'cluster-cidr', value: '10.50.0.0/16' },
    'the templated flag filled, then converted',
  );
  assert.equal(cluster.etcd.local.extraArgs, [{ name: 'listen-peer-urls', value: 'https://0.0.0.0:2380' }]);
  assert.is(cluster.apiServer.timeoutForControlPlane, undefined);
  assert.equal(init.timeouts, { controlPlaneComponentHealthCheck: '4m0s' });
  assert.is(p.api.version, V4);
  assert.match(planText(p), /^# kubeadm API kubeadm\.k8s\.io\/v1beta4, for kubeadm v1\.34\.12\.$/m);
});

test('joins for kubeadm 1.34: discovery.timeout moves to timeouts.discovery; a control plane also gets the health-check timeout', () => {
  const worker = kinds(plan('join', workerJoin).documents).JoinConfiguration;
  assert.is(worker.apiVersion, V4);
  assert.is(worker.discovery.timeout, undefined);
  assert.equal(worker.timeouts, { discovery: '5m0s' });
  const cp = kinds(plan('join', controlPlaneJoin('192.0.2.100:8443')).documents);
  assert.equal(cp.JoinConfiguration.timeouts, { discovery: '5m0s', controlPlaneComponentHealthCheck: '4m0s' });
  assert.is(cp.ClusterConfiguration.apiServer.timeoutForControlPlane, undefined);
  assert.is(cp.InitConfiguration, undefined, 'no init document is added to a join');
});

test('a 1.30 kubeadm keeps v1beta3: maps and the old timeout fields', () => {
  const init = kinds(plan('init', [], HOST_FACTS).documents);
  assert.is(init.InitConfiguration.apiVersion, V3);
  assert.is(init.ClusterConfiguration.apiServer.extraArgs['audit-log-maxsize'], '500');
  assert.is(init.ClusterConfiguration.apiServer.timeoutForControlPlane, '4m0s');
  assert.is(init.InitConfiguration.timeouts, undefined);
  const join = kinds(plan('join', workerJoin, HOST_FACTS).documents).JoinConfiguration;
  assert.is(join.apiVersion, V3);
  assert.is(join.discovery.timeout, '5m0s');
});

/** Plans with a --config file that holds these documents. */
function withConfig(documents: Doc[], command: 'init' | 'join', args: string[], facts = K34) {
  writeFileSync(join(root, 'user.yaml'), documents.map((d) => YAML.stringify(d)).join('---\n'));
  return kinds(plan(command, [...args, '--config', '/user.yaml'], facts).documents);
}

test('--config in v1beta3 for kubeadm 1.34: converted, then merged flag by flag; its timeouts move too', () => {
  const docs = withConfig(
    [
      {
        apiVersion: V3,
        kind: 'ClusterConfiguration',
        apiServer: { timeoutForControlPlane: '7m0s', extraArgs: { 'audit-log-maxsize': '100', 'audit-log-maxage': '30' } },
        scheduler: { extraArgs: { 'bind-address': '0.0.0.0' } },
      },
      { apiVersion: V3, kind: 'InitConfiguration', nodeRegistration: { kubeletExtraArgs: { 'max-pods': '50' } } },
    ],
    'init',
    [],
  );
  const args = docs.ClusterConfiguration.apiServer.extraArgs as Doc[];
  assert.equal(
    args.map((a) => `${a.name}=${a.value}`),
    [
      'etcd-servers=https://127.0.0.1:2379',
      'audit-policy-file=/etc/podsec/u7s/audit/policy.yaml',
      'audit-log-path=/etc/kubernetes/audit/audit.log',
      'audit-log-maxbackup=3',
      'audit-log-maxsize=100',
      'audit-log-maxage=30',
    ],
    'ours kept, theirs replace by name',
  );
  assert.equal(docs.ClusterConfiguration.scheduler.extraArgs, [{ name: 'bind-address', value: '0.0.0.0' }]);
  assert.equal(docs.InitConfiguration.nodeRegistration.kubeletExtraArgs, [{ name: 'max-pods', value: '50' }]);
  assert.equal(docs.InitConfiguration.timeouts, { controlPlaneComponentHealthCheck: '7m0s' });
  assert.is(docs.InitConfiguration.apiVersion, V4);
  assert.is(docs.ClusterConfiguration.apiServer.timeoutForControlPlane, undefined);
  // A v1beta3 ClusterConfiguration alone: its timeout still reaches the init document.
  const alone = withConfig([{ apiVersion: V3, kind: 'ClusterConfiguration', apiServer: { timeoutForControlPlane: '9m0s' } }], 'init', []);
  assert.equal(alone.InitConfiguration.timeouts, { controlPlaneComponentHealthCheck: '9m0s' });
  const join = withConfig([{ apiVersion: V3, kind: 'JoinConfiguration', discovery: { timeout: '1m0s' } }], 'join', workerJoin);
  assert.equal(join.JoinConfiguration.timeouts, { discovery: '1m0s' });
  assert.is(join.JoinConfiguration.discovery.timeout, undefined);
});

test('--config in v1beta4 for kubeadm 1.34 merges by flag name and keeps duplicates it gives; a mixed file is converted document by document', () => {
  const docs = withConfig(
    [
      {
        apiVersion: V4,
        kind: 'ClusterConfiguration',
        apiServer: {
          extraArgs: [
            { name: 'audit-log-maxsize', value: '200' },
            { name: 'tls-cipher-suites', value: 'A' },
            { name: 'tls-cipher-suites', value: 'B' },
          ],
        },
      },
      { apiVersion: V3, kind: 'InitConfiguration', nodeRegistration: { kubeletExtraArgs: { v: '2' } } },
      { apiVersion: V4, kind: 'InitConfiguration', timeouts: { kubeletHealthCheck: '2m0s' } },
    ],
    'init',
    [],
  );
  const args = (docs.ClusterConfiguration.apiServer.extraArgs as Doc[]).map((a) => `${a.name}=${a.value}`);
  assert.equal(args.slice(-3), ['audit-log-maxsize=200', 'tls-cipher-suites=A', 'tls-cipher-suites=B']);
  assert.is(args.filter((a) => a.startsWith('audit-log-maxsize=')).length, 1);
  assert.equal(docs.InitConfiguration.timeouts, { controlPlaneComponentHealthCheck: '4m0s', kubeletHealthCheck: '2m0s' });
});

test('refused with one line: v1beta4 for a kubeadm that reads only v1beta3, and API versions kubeadm no longer reads', () => {
  const cases: [string, HostFacts, RegExp][] = [
    [
      `apiVersion: ${V4}\nkind: InitConfiguration\n`,
      HOST_FACTS,
      /user\.yaml: InitConfiguration is kubeadm\.k8s\.io\/v1beta4, which kubeadm v1\.30\.2 does not read: write it as kubeadm\.k8s\.io\/v1beta3/,
    ],
    [
      'apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n',
      K34,
      /ClusterConfiguration is kubeadm\.k8s\.io\/v1beta2, which kubeadm v1\.34\.12 does not read/,
    ],
  ];
  for (const [text, facts, message] of cases) {
    writeFileSync(join(root, 'user.yaml'), text);
    try {
      plan('init', ['--config', '/user.yaml'], facts);
      assert.unreachable('refused');
    } catch (error) {
      assert.match((error as Error).message, message);
      assert.is((error as Error).message.split('\n').length, 1);
    }
  }
});

test('templates an admin rewrote in v1beta4 are filled by flag name, and refused for a 1.30 kubeadm', async () => {
  const tuned = await renderedRoot();
  try {
    const file = join(tuned, U7S_KUBEADM_CONFIG_DIR, 'InitClusterConfiguration.yaml');
    const [v4] = toKubeadmApi([YAML.parse(readFileSync(file, 'utf8')) as Doc], V4, 'InitConfiguration', 'v1.34.12', file);
    writeFileSync(file, YAML.stringify(v4));
    const cluster = kinds(plan('init', ['--service-cidr', '10.100.0.0/16'], K34, tuned).documents).ClusterConfiguration;
    assert.is(getPath(cluster, 'controllerManager.extraArgs.service-cluster-ip-range'), '10.100.0.0/16');
    assert.is((cluster.controllerManager.extraArgs as Doc[]).filter((a) => a.name === 'service-cluster-ip-range').length, 1);
    assert.throws(() => plan('init', [], HOST_FACTS, tuned), /ClusterConfiguration is kubeadm\.k8s\.io\/v1beta4, which kubeadm v1\.30\.2 does not read/);
  } finally {
    removeRoot(tuned);
  }
});

test('setPath and getPath address a v1beta4 flag list by flag name', () => {
  const doc: Doc = {
    a: {
      extraArgs: [
        { name: 'x', value: '1' },
        { name: 'y', value: '2' },
        { name: 'x', value: '3' },
      ],
    },
  };
  assert.is(getPath(doc, 'a.extraArgs.y'), '2');
  assert.is(getPath(doc, 'a.extraArgs[1].name'), 'y', 'indexes still work');
  setPath(doc, 'a.extraArgs.x', '9');
  assert.equal(getPath(doc, 'a.extraArgs'), [
    { name: 'x', value: '9' },
    { name: 'y', value: '2' },
  ]);
  setPath(doc, 'a.extraArgs.z', '5');
  setPath(doc, 'a.extraArgs.y', undefined);
  setPath(doc, 'a.extraArgs.absent', undefined);
  assert.equal(getPath(doc, 'a.extraArgs'), [
    { name: 'x', value: '9' },
    { name: 'z', value: '5' },
  ]);
});

test.run();
