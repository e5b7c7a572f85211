/** What a cluster upgrade may do, decided before any change: the step, the installed programs, kubeadm's feature gates. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import * as upgrade from '../../bin/u7s/lib/upgrade.ts';
import { parseKubeVersion } from '../../bin/u7s/lib/values.ts';

const v = (text: string) => parseKubeVersion(text)!;

test('versions as kubeadm, kubelet and people write them; anything else is none', () => {
  assert.equal(v('v1.35.4'), { major: 1, minor: 35, patch: 4, text: 'v1.35.4' });
  assert.is(v('1.34.12').text, 'v1.34.12');
  assert.is(v('Kubernetes v1.35.4').text, 'v1.35.4');
  for (const bad of ['v1.35', 'v1.35.4-rc.1', 'latest', 'v1.35.4; rm -rf /', '']) assert.is(parseKubeVersion(bad), undefined, bad);
});

test('one step: a later patch or the next minor; a skipped minor, a downgrade and the same version are refused', () => {
  assert.is(upgrade.stepProblem(v('v1.34.12'), v('v1.35.4')), undefined);
  assert.is(upgrade.stepProblem(v('v1.34.3'), v('v1.34.12')), undefined);
  assert.match(upgrade.stepProblem(v('v1.34.12'), v('v1.36.0'))!, 'skips a minor');
  assert.match(upgrade.stepProblem(v('v1.34.12'), v('v1.36.0'))!, 'v1.34.12 to v1.35 first');
  assert.match(upgrade.stepProblem(v('v1.35.4'), v('v1.34.12'))!, 'does not downgrade');
  assert.match(upgrade.stepProblem(v('v1.34.12'), v('v1.34.3'))!, 'does not downgrade');
  assert.match(upgrade.stepProblem(v('v1.34.12'), v('v2.0.0'))!, 'another major version');
  assert.match(upgrade.stepProblem(v('v1.35.4'), v('v1.35.4'))!, 'already runs v1.35.4');
});

test("kubeadm's feature gates by the target's minor: fixed ones taken out, the opposite value refused, others left", () => {
  const gates = { ControlPlaneKubeletLocalMode: true, NodeLocalCRISocket: true, RootlessControlPlane: false, WaitForAllControlPlaneComponents: true };
  // 1.35 locks ControlPlaneKubeletLocalMode and no longer knows WaitForAllControlPlaneComponents; NodeLocalCRISocket is still beta.
  assert.equal(upgrade.gateChanges(gates, 35), { drop: ['ControlPlaneKubeletLocalMode', 'WaitForAllControlPlaneComponents'], refuse: [] });
  assert.equal(upgrade.gateChanges(gates, 36).drop, ['ControlPlaneKubeletLocalMode', 'NodeLocalCRISocket', 'WaitForAllControlPlaneComponents']);
  assert.equal(upgrade.gateChanges(gates, 34), { drop: ['WaitForAllControlPlaneComponents'], refuse: [] });
  const off = upgrade.gateChanges({ ControlPlaneKubeletLocalMode: false }, 35);
  assert.equal(off.drop, []);
  assert.is(off.refuse.length, 1);
  assert.match(off.refuse[0]!, 'ControlPlaneKubeletLocalMode=false');
  assert.match(off.refuse[0]!, 'kubectl -n kube-system edit configmap kubeadm-config');
  assert.equal(upgrade.gateChanges({ ControlPlaneKubeletLocalMode: false }, 34), { drop: [], refuse: [] });
  assert.equal(upgrade.gateChanges({ PublicKeysECDSA: false }, 37).drop, ['PublicKeysECDSA']);
});

const CLUSTER = `apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.34.12
imageRepository: registry.local/p11
featureGates:
  ControlPlaneKubeletLocalMode: true
  RootlessControlPlane: false
etcd:
  local:
    dataDir: /var/lib/podsec/u7s/etcd
`;

test("the cluster's ClusterConfiguration: its version and gates read, gates taken out, the target's version put in for kubeadm", () => {
  const cluster = upgrade.parseClusterConfiguration(CLUSTER);
  assert.is(upgrade.clusterVersion(cluster).text, 'v1.34.12');
  assert.equal(upgrade.clusterGates(cluster), { ControlPlaneKubeletLocalMode: true, RootlessControlPlane: false });
  const fewer = upgrade.withoutGates(cluster, ['ControlPlaneKubeletLocalMode']);
  assert.equal(fewer.featureGates, { RootlessControlPlane: false });
  assert.not.ok('featureGates' in upgrade.withoutGates(cluster, ['ControlPlaneKubeletLocalMode', 'RootlessControlPlane']));
  const target = YAML.parse(upgrade.atVersion(fewer, v('v1.35.4'))) as Record<string, unknown>;
  assert.is(target.kubernetesVersion, 'v1.35.4');
  assert.equal(target.etcd, { local: { dataDir: '/var/lib/podsec/u7s/etcd' } });
  assert.is(target.imageRepository, 'registry.local/p11');
  assert.throws(() => upgrade.parseClusterConfiguration('kind: InitConfiguration\n'), /no ClusterConfiguration/);
  assert.throws(() => upgrade.parseClusterConfiguration('- a\n'), /no ClusterConfiguration/);
  assert.throws(
    () => upgrade.clusterVersion(upgrade.parseClusterConfiguration('kind: ClusterConfiguration\nkubernetesVersion: stable\n')),
    /no kubernetesVersion/,
  );
});

test("kubeadm and kubelet must both be the target's before the upgrade; each other one is named with what to install", () => {
  assert.equal(upgrade.installedProblems(v('v1.35.4'), { kubeadm: 'v1.35.4', kubelet: 'Kubernetes v1.35.4' }), []);
  const problems = upgrade.installedProblems(v('v1.35.4'), { kubeadm: 'v1.34.12' });
  assert.is(problems.length, 2);
  assert.match(problems[0]!, 'kubeadm v1.34.12 is installed; install the v1.35 packages of kubeadm (v1.35.4) first');
  assert.match(problems[1]!, 'kubelet (none) is installed');
});

test("kubeadm's cgroup v1 check is skipped only where kubelet needs failCgroupV1: false, a v1 host from 1.35 on", () => {
  assert.equal(upgrade.kubeadmUpgradeFlags(v('v1.35.4'), false), ['--ignore-preflight-errors=SystemVerification']);
  assert.equal(upgrade.kubeadmUpgradeFlags(v('v1.35.4'), true), []);
  assert.equal(upgrade.kubeadmUpgradeFlags(v('v1.34.12'), false), []);
});

test.run();
