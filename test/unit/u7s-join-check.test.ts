/**
 * The decisions of the join check (join-check.ts), as pure functions: what a rootless node needs
 * (read from the node's own documents), which cluster settings stop it, the refusal and its
 * commands, the JoinConfiguration's discovery read back (flags and --config alike), Go durations.
 * The check against a served cluster, with the real sed and kubeadm's own text, is in the tools
 * tier (u7s-join-check.test.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { httpGet } from '../../bin/lib/http.ts';
import { nodeAccount } from '../../bin/u7s/lib/accounts.ts';
import { planDeploy } from '../../bin/u7s/lib/deploy-plan.ts';
import { clusterMismatches, configMapValue, durationSeconds, fixCommands, joinTargetOf, refusalText, requirementsOf } from '../../bin/u7s/lib/join-check.ts';
import { parseDeployArgs } from '../../bin/u7s/lib/kubeadm-flags.ts';
import { U7S_ETCD_DIR } from '../../bin/u7s/lib/paths.ts';
import { controlPlaneJoin, HASH, HOST_FACTS, removeRoot, renderedRoot, TOKEN } from '../support/u7s-fixtures.ts';

let root: string;
test.before(async () => {
  root = await renderedRoot();
});
test.after(() => removeRoot(root));

const plan = (args: string[]) => planDeploy({ parsed: parseDeployArgs('join', args), env: {}, root, account: nodeAccount(root), facts: HOST_FACTS });
const WORKER = ['192.0.2.10:6443', '--token', TOKEN, '--discovery-token-ca-cert-hash', HASH];

/** The conntrack part of kubeadm's default kube-proxy config.conf (kubeadm 1.37), and the rest of what the check reads. */
const proxyText = (conntrack: string) => `apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\nconntrack:\n${conntrack}`;
const DEFAULTS = '  maxPerCore: null\n  min: null\n  tcpBeLiberal: false\n  tcpCloseWaitTimeout: null\n  tcpEstablishedTimeout: null\n  udpTimeout: 0s\n';
const ZEROS = '  maxPerCore: 0\n  min: null\n  tcpCloseWaitTimeout: 0s\n  tcpEstablishedTimeout: 0s\n';
const clusterText = (dataDir: string) => `apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\netcd:\n  local:\n    dataDir: ${dataDir}\n`;

test("the requirements are the node's own documents: conntrack zeros; etcd's directory only for a control-plane join", () => {
  const worker = requirementsOf(plan(WORKER).documents, false);
  assert.equal(worker, { conntrack: { maxPerCore: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' } });
  const controlPlane = requirementsOf(plan(controlPlaneJoin('192.0.2.100:8443')).documents, true);
  assert.is(controlPlane.etcdDataDir, U7S_ETCD_DIR);
});

test('the join target is read from the merged JoinConfiguration: endpoint, token, every CA hash, control plane', () => {
  const other = `sha256:${'b2'.repeat(32)}`;
  const target = joinTargetOf(plan([...WORKER, '--discovery-token-ca-cert-hash', other]).documents, root);
  assert.is(target.endpoint, '192.0.2.10:6443');
  assert.is(target.token, TOKEN);
  assert.equal(target.caCertHashes, [HASH, other]);
  assert.is(target.unsafeSkipCaVerification, false);
  assert.is(target.required.etcdDataDir, undefined);
  const cp = joinTargetOf(plan(controlPlaneJoin('192.0.2.100:8443')).documents, root);
  assert.is(cp.endpoint, '192.0.2.100:8443');
  assert.is(cp.required.etcdDataDir, U7S_ETCD_DIR);
  const unsafe = joinTargetOf(plan(['192.0.2.10:6443', '--token', TOKEN, '--discovery-token-unsafe-skip-ca-verification']).documents, root);
  assert.is(unsafe.unsafeSkipCaVerification, true);
  assert.equal(unsafe.caCertHashes, []);
});

test("kubeadm's defaults stop a rootless node, field by field; zeros pass; durations compare by value", () => {
  const required = { conntrack: { maxPerCore: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' } };
  const found = clusterMismatches(proxyText(DEFAULTS), undefined, required);
  assert.equal(
    found.map((m) => [m.field, m.have, m.absent]),
    [
      ['conntrack.maxPerCore', null, false],
      ['conntrack.tcpEstablishedTimeout', null, false],
      ['conntrack.tcpCloseWaitTimeout', null, false],
    ],
  );
  assert.equal(clusterMismatches(proxyText(ZEROS), undefined, required), []);
  assert.equal(clusterMismatches(proxyText(ZEROS.replaceAll('0s', '0m0s')), undefined, required), [], '0m0s is 0s');
  const someSet = clusterMismatches(proxyText('  maxPerCore: 32768\n  tcpEstablishedTimeout: 24h0m0s\n  tcpCloseWaitTimeout: 0s\n'), undefined, required);
  assert.equal(
    someSet.map((m) => m.field),
    ['conntrack.maxPerCore', 'conntrack.tcpEstablishedTimeout'],
  );
  const absent = clusterMismatches(proxyText('  min: null\n'), undefined, required);
  assert.ok(absent.every((m) => m.absent && m.have === undefined));
});

test("a control-plane join needs etcd's directory; kubeadm's default (set or unset) stops it, an external etcd does not", () => {
  const required = { conntrack: {}, etcdDataDir: U7S_ETCD_DIR };
  const [wrong] = clusterMismatches(proxyText(ZEROS), clusterText('/var/lib/etcd'), required);
  assert.equal([wrong!.configMap, wrong!.field, wrong!.have, wrong!.want], ['kubeadm-config', 'etcd.local.dataDir', '/var/lib/etcd', U7S_ETCD_DIR]);
  assert.equal(clusterMismatches(proxyText(ZEROS), clusterText(U7S_ETCD_DIR), required), []);
  const unset = clusterMismatches(proxyText(ZEROS), 'kind: ClusterConfiguration\netcd:\n  local: {}\n', required);
  assert.is(unset[0]?.have, '/var/lib/etcd', "kubeadm's default");
  assert.equal(clusterMismatches(proxyText(ZEROS), 'kind: ClusterConfiguration\netcd:\n  external:\n    endpoints: [https://192.0.2.5:2379]\n', required), []);
});

test('malformed settings are errors, not passes', () => {
  const required = { conntrack: { maxPerCore: 0 } };
  assert.throws(() => clusterMismatches('conntrack: [', undefined, required), /not YAML/);
  assert.throws(() => clusterMismatches('kind: Something\n', undefined, required), /not a KubeProxyConfiguration/);
  assert.throws(() => clusterMismatches(proxyText(ZEROS), undefined, { ...required, etcdDataDir: U7S_ETCD_DIR }), /no ClusterConfiguration/);
  assert.throws(() => configMapValue('{"kind":"Status"}', 'config.conf'), /not a ConfigMap/);
  assert.throws(() => configMapValue('<html>', 'config.conf'), /not JSON/);
  assert.is(configMapValue('{"kind":"ConfigMap","data":{"config.conf":"x"}}', 'config.conf'), 'x');
});

test('the refusal names each setting and prints kubectl | sed | kubectl replace, the restart, and the etcd edit', () => {
  const required = { conntrack: { maxPerCore: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' }, etcdDataDir: U7S_ETCD_DIR };
  const found = clusterMismatches(proxyText(DEFAULTS), clusterText('/var/lib/etcd'), required);
  const text = refusalText('192.0.2.10:6443', found);
  assert.match(text, /^the cluster at 192\.0\.2\.10:6443 is not ready for a rootless node:$/m);
  assert.match(text, /ConfigMap kube-system\/kube-proxy: conntrack\.maxPerCore is null \(kube-proxy then uses its default\), a rootless node needs 0$/m);
  assert.match(
    text,
    /ConfigMap kube-system\/kubeadm-config: etcd\.local\.dataDir is "\/var\/lib\/etcd", a rootless node needs "\/var\/lib\/podsec\/u7s\/etcd"/,
  );
  assert.match(text, /nf_conntrack_max: permission denied/);
  const commands = fixCommands(found);
  assert.equal(commands, [
    "kubectl -n kube-system get configmap kube-proxy -o yaml | sed -e 's|^\\( *maxPerCore:\\).*|\\1 0|' -e 's|^\\( *tcpEstablishedTimeout:\\).*|\\1 0s|' " +
      "-e 's|^\\( *tcpCloseWaitTimeout:\\).*|\\1 0s|' | kubectl replace -f -",
    'kubectl -n kube-system rollout restart daemonset kube-proxy',
    "kubectl -n kube-system get configmap kubeadm-config -o yaml | sed -e 's|^\\( *dataDir:\\).*|\\1 /var/lib/podsec/u7s/etcd|' | kubectl replace -f -",
  ]);
  for (const command of commands) assert.ok(text.includes(`\n  ${command}`), command);
  const onlyEtcd = fixCommands(found.filter((m) => m.configMap === 'kubeadm-config'));
  assert.is(onlyEtcd.length, 1, 'no kube-proxy commands when kube-proxy is fine');
});

test('httpGet sends a bearer token only over verified HTTPS (refused before any connection)', async () => {
  const options = { timeoutMs: 1000, maxBytes: 100, bearer: 'abcdef.0123456789abcdef' };
  for (const [url, extra] of [
    ['http://127.0.0.1:9/x', {}],
    ['https://127.0.0.1:9/x', { insecure: true }],
  ] as const) {
    try {
      await httpGet(url, { ...options, ...extra });
      assert.unreachable('sent');
    } catch (error) {
      assert.match((error as Error).message, /a bearer token is sent only over HTTPS with a verified certificate/);
    }
  }
});

test('Go durations', () => {
  assert.is(durationSeconds('0s'), 0);
  assert.is(durationSeconds('0'), 0);
  assert.is(durationSeconds('24h0m0s'), 86400);
  assert.is(durationSeconds('1m30.5s'), 90.5);
  assert.is(durationSeconds('250ms'), 0.25);
  assert.is(durationSeconds('1x'), undefined);
  assert.is(durationSeconds(null), undefined);
  assert.is(durationSeconds(0), undefined);
});

test.run();
