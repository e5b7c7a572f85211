/**
 * The kubeadm wrapper's decisions, as pure functions: flags, defaults, documents (golden files),
 * node settings, networks that overlap, registry and version choice, and bad input refused
 * before anything is written.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { nodeAccount } from '../../bin/u7s/lib/accounts.ts';
import { planDeploy, planText, chooseVersion, type HostFacts } from '../../bin/u7s/lib/deploy-plan.ts';
import { parseDeployArgs, passedFlags } from '../../bin/u7s/lib/kubeadm-flags.ts';
import { formatNodeEnv } from '../../bin/u7s/lib/node-env.ts';
import { renderFlannel } from '../../bin/u7s/lib/flannel.ts';
import { chooseRegistry, compareTags, newestPatch, registryScheme } from '../../bin/u7s/lib/registry.ts';
import { kubeVersion } from '../../bin/u7s/lib/values.ts';
import { controlPlaneJoin, golden, HASH, HOST_FACTS, KEY, removeRoot, renderedRoot, TOKEN } from '../support/u7s-fixtures.ts';

let root: string;
test.before(async () => {
  root = await renderedRoot();
});
test.after(() => removeRoot(root));

function plan(command: 'init' | 'join', args: string[], env: NodeJS.ProcessEnv = {}, facts: HostFacts = HOST_FACTS) {
  return planDeploy({ parsed: parseDeployArgs(command, args), env, root, account: nodeAccount(root), facts });
}

function goldenPlan(name: string, command: 'init' | 'join', args: string[], env: NodeJS.ProcessEnv = {}) {
  const p = plan(command, args, env);
  golden(`${name}.yaml`, planText(p));
  golden(`${name}.env`, formatNodeEnv(p.settings));
  golden(`${name}.argv`, JSON.stringify(p.kubeadmArgs, null, 1) + '\n');
  return p;
}

test('init with defaults: documents, settings and kubeadm arguments are as documented (golden)', () => {
  const p = goldenPlan('init', 'init', []);
  const docs = p.documents;
  assert.equal(
    docs.map((d) => d.kind),
    ['InitConfiguration', 'ClusterConfiguration', 'KubeletConfiguration', 'KubeProxyConfiguration'],
  );
  const [init, cluster] = docs as any[];
  assert.is(init.localAPIEndpoint.advertiseAddress, '192.0.2.10', 'the address on the gateway network');
  assert.is(init.localAPIEndpoint.bindPort, 6443);
  assert.is(init.nodeRegistration.name, 'u7s-node1', 'the host name, lower-cased');
  assert.is(cluster.controlPlaneEndpoint, '192.0.2.10:6443', 'address and port (upstream: "<ip>:")');
  assert.is(cluster.kubernetesVersion, '1.30.2');
  assert.is(cluster.imageRepository, 'registry.altlinux.org/p11');
  assert.is(cluster.networking.podSubnet, '10.244.0.0/16');
  assert.is(cluster.networking.serviceSubnet, '10.96.0.0/12');
  assert.is(cluster.apiServer.extraArgs['audit-policy-file'], '/etc/podsec/u7s/audit/policy.yaml');
  assert.equal(p.kubeadmArgs, ['init', '--config=/etc/podsec/u7s/config/rendered/init.yaml', '--upload-certs']);
  assert.is(p.settings.controlPlane, 'initMaster');
  assert.is(p.settings.pauseImage, 'p11/pause:3.9');
  assert.is(p.settings.registry, 'registry.altlinux.org');
  assert.is(p.secret, false);
});

test('init: every flag reaches its field (upstream ignored --service-cidr, --kubernetes-version, --image-repository, --node-name, ...)', () => {
  const p = goldenPlan('init-flags', 'init', [
    '--apiserver-advertise-address=198.51.100.5',
    '--apiserver-bind-port',
    '7443',
    '--pod-network-cidr',
    '10.200.0.0/16',
    '--service-cidr=10.100.0.0/16',
    '--service-dns-domain',
    'cluster.example',
    '--kubernetes-version',
    'v1.30.1',
    '--image-repository',
    'registry.local/p11',
    '--node-name',
    'master-1',
    '--cert-dir',
    '/etc/kubernetes/pki2',
    '--feature-gates',
    'EtcdLearnerMode=true',
    '--token',
    TOKEN,
    '--token-ttl',
    '2h0m0s',
    '--certificate-key',
    KEY,
    '--skip-phases',
    'addon/kube-proxy',
    '--ignore-preflight-errors',
    'NumCPU,Mem',
    '--dry-run',
    '-v',
    '5',
    '--skip-token-print',
  ]);
  const [init, cluster] = p.documents as any[];
  assert.is(init.localAPIEndpoint.bindPort, 7443);
  assert.is(init.nodeRegistration.name, 'master-1');
  assert.is(init.certificateKey, KEY);
  assert.equal(init.skipPhases, ['addon/kube-proxy']);
  assert.equal(init.bootstrapTokens[0].token, TOKEN);
  assert.is(init.bootstrapTokens[0].ttl, '2h0m0s');
  assert.is(cluster.networking.serviceSubnet, '10.100.0.0/16');
  assert.is(cluster.networking.dnsDomain, 'cluster.example');
  assert.is(cluster.controllerManager.extraArgs['service-cluster-ip-range'], '10.100.0.0/16');
  assert.is(cluster.kubernetesVersion, '1.30.1');
  assert.is(cluster.imageRepository, 'registry.local/p11');
  assert.is(cluster.etcd.local.imageRepository, 'registry.local/p11');
  assert.is(cluster.certificatesDir, '/etc/kubernetes/pki2');
  assert.equal(cluster.featureGates, { EtcdLearnerMode: true });
  assert.is(cluster.controlPlaneEndpoint, '198.51.100.5:7443');
  assert.equal(p.kubeadmArgs.slice(3), ['--v=5', '--dry-run', '--ignore-preflight-errors=NumCPU,Mem', '--skip-token-print']);
  assert.is(p.settings.apiserverBindPort, 7443, 'the bind port is the one published');
  assert.is(p.settings.extIp, '198.51.100.5');
  assert.is(p.secret, true, 'a given token makes the document secret');
});

test('init behind a load balancer: --control-plane-endpoint of the haproxy variant (golden)', () => {
  const p = goldenPlan('init-haproxy', 'init', ['--apiserver-advertise-address', '192.0.2.10', '--control-plane-endpoint', '192.0.2.100:8443']);
  assert.is((p.documents[1] as any).controlPlaneEndpoint, '192.0.2.100:8443');
  assert.is(p.settings.apiserverEndpoint, '192.0.2.100:8443');
});

test('worker join: JoinConfiguration with token, CA hashes, endpoint, node name; no ClusterConfiguration (golden)', () => {
  const p = goldenPlan('join-worker', 'join', ['192.0.2.10:6443', '--token', TOKEN, '--discovery-token-ca-cert-hash', HASH, '-v', '5']);
  assert.equal(
    p.documents.map((d) => d.kind),
    ['JoinConfiguration', 'KubeletConfiguration', 'KubeProxyConfiguration'],
  );
  const join = p.documents[0] as any;
  assert.equal(join.discovery.bootstrapToken, { apiServerEndpoint: '192.0.2.10:6443', token: TOKEN, caCertHashes: [HASH] });
  assert.is(join.discovery.tlsBootstrapToken, TOKEN);
  assert.is(join.controlPlane, undefined);
  assert.is(p.settings.controlPlane, '', 'worker: empty role, as upstream');
  assert.is(p.settings.role, 'worker');
  assert.equal(p.kubeadmArgs, ['join', '--config=/etc/podsec/u7s/config/rendered/join.yaml', '--v=5'], 'no --upload-certs on join');
  assert.is(p.secret, true);
});

test('control-plane join with --certificate-key (golden)', () => {
  const p = goldenPlan('join-control-plane', 'join', [...controlPlaneJoin('192.0.2.100:8443'), '--apiserver-advertise-address', '192.0.2.11']);
  assert.equal(
    p.documents.map((d) => d.kind),
    ['JoinConfiguration', 'ClusterConfiguration', 'KubeletConfiguration', 'KubeProxyConfiguration'],
  );
  const join = p.documents[0] as any;
  assert.equal(join.controlPlane, { localAPIEndpoint: { advertiseAddress: '192.0.2.11', bindPort: 6443 }, certificateKey: KEY });
  assert.is(p.settings.controlPlane, 'master');
  assert.is(p.settings.apiserverEndpoint, '192.0.2.100:8443');
});

test('join with --discovery-file or an unsafe discovery: no half-filled bootstrapToken', () => {
  const file = plan('join', ['--discovery-file', '/etc/kubernetes/discovery.conf', '--tls-bootstrap-token', TOKEN]).documents[0] as any;
  assert.equal(file.discovery.file, { kubeConfigPath: '/etc/kubernetes/discovery.conf' });
  assert.is(file.discovery.bootstrapToken, undefined);
  const unsafe = plan('join', ['192.0.2.10:6443', '--token', TOKEN, '--discovery-token-unsafe-skip-ca-verification']).documents[0] as any;
  assert.is(unsafe.discovery.bootstrapToken.unsafeSkipCAVerification, true);
  assert.is(unsafe.discovery.bootstrapToken.caCertHashes, undefined);
});

test('calico: default pod network 192.168.0.0/16 and the calico ports in the settings', () => {
  const p = plan('init', [], { U7S_CNI_PLUGIN: 'calico' });
  assert.is(p.settings.podNetworkCidr, '192.168.0.0/16');
  assert.is(p.settings.cniPlugin, 'calico');
});

test('--config documents are merged over the generated ones, and the node settings follow them', () => {
  const file = join(root, 'tmp-config.yaml');
  writeFileSync(
    file,
    'apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nnetworking:\n  podSubnet: ' +
      '10.50.0.0/16\n---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: ' +
      'KubeletConfiguration\nmaxPods: 50\n',
  );
  const p = plan('init', ['--config', '/tmp-config.yaml']);
  assert.is((p.documents[1] as any).networking.podSubnet, '10.50.0.0/16');
  assert.is((p.documents[2] as any).maxPods, 50);
  assert.is((p.documents[2] as any).featureGates.KubeletInUserNamespace, true, 'deep merge keeps the rootless settings');
  assert.is(p.settings.podNetworkCidr, '10.50.0.0/16');
  writeFileSync(file, 'kind: InitConfiguration\nnodeRegistration:\n  criSocket: unix:///run/containerd/containerd.sock\n');
  assert.throws(() => plan('init', ['--config', '/tmp-config.yaml']), /criSocket cannot be changed/);
  writeFileSync(file, 'kind: Deployment\n');
  assert.throws(() => plan('init', ['--config', '/tmp-config.yaml']), /does not belong/);
});

test('values with quotes and YAML syntax cannot change the documents: they are refused, never spliced', () => {
  for (const [flagName, value] of [
    ['--node-name', 'a"\nkind: Evil'],
    ['--node-name', 'x: y'],
    ['--service-dns-domain', "cluster.local'"],
    ['--kubernetes-version', 'v1.30.2"; reboot; "'],
    ['--image-repository', 'registry.local/$(touch /tmp/x)'],
    ['--token', '$(touch /tmp/x)'],
    ['--certificate-key', '`id`'],
    ['--skip-phases', 'a b'],
    ['--feature-gates', 'A=yes'],
    ['--apiserver-advertise-address', '1.2.3.4; reboot'],
    ['--pod-network-cidr', '10.244.0.0/16 --foo'],
    ['--apiserver-bind-port', '70000'],
    ['--token-ttl', '1d'],
  ] as const) {
    assert.throws(() => parseDeployArgs('init', [flagName, value]), /is not|not a/, `${flagName} ${JSON.stringify(value)}`);
  }
  assert.throws(() => parseDeployArgs('join', ['h:1', '--discovery-token-ca-cert-hash', 'sha256:zz']), /sha256/);
  assert.throws(() => plan('join', ['$(touch /tmp/x):6443', '--token', TOKEN, '--discovery-token-ca-cert-hash', HASH]), /not an IPv4 address or a host name/);
  assert.throws(() => plan('init', [], { U7S_REGISTRY: '"; reboot; "' }), /U7S_REGISTRY/);
  assert.throws(() => plan('init', [], { U7S_KUBEVERSION: '$(reboot)' }), /U7S_KUBEVERSION/);
  assert.throws(() => plan('init', [], { U7S_ROOTLESSKIT_FLAGS: '--net=host $(reboot)' }), /rootlesskit option/);
  assert.throws(() => plan('init', [], { U7S_MTU: '100' }), /U7S_MTU: "100" is not an MTU/);
  assert.is(plan('init', [], { U7S_MTU: '1500' }).settings.mtu, 1500);
});

test('unknown, misplaced, refused and repeated flags: one clear line each', () => {
  assert.throws(() => parseDeployArgs('init', ['--bogus']), /unknown flag --bogus for kubeadm init/);
  assert.throws(() => parseDeployArgs('init', ['-x']), /unknown flag -x/);
  assert.throws(() => parseDeployArgs('init', ['--control-plane']), /is a flag of kubeadm join, not of kubeadm init/);
  assert.throws(() => parseDeployArgs('join', ['--pod-network-cidr', '10.0.0.0/16']), /is a flag of kubeadm init/);
  assert.throws(() => parseDeployArgs('init', ['--cri-socket', 'unix:///x']), /not supported by the u7s wrapper/);
  assert.throws(() => parseDeployArgs('init', ['--node-name', 'a', '--node-name', 'b']), /given twice/);
  assert.throws(() => parseDeployArgs('init', ['--node-name']), /needs a value/);
  assert.throws(() => parseDeployArgs('init', ['--dry-run=maybe']), /takes no value/);
  assert.throws(() => plan('init', ['extra']), /takes no arguments/);
  assert.throws(() => plan('join', []), /exactly one argument/);
  assert.throws(() => plan('join', ['192.0.2.10:6443']), /needs --token/);
  assert.throws(() => plan('join', ['192.0.2.10:6443', '--token', TOKEN]), /ca-cert-hash/);
  assert.throws(
    () => plan('join', ['192.0.2.10:6443', '--token', TOKEN, '--discovery-token-ca-cert-hash', HASH, '--control-plane']),
    /needs --certificate-key/,
  );
  const parsed = parseDeployArgs('join', [...controlPlaneJoin('10.0.0.1:6443'), '-v', '5']);
  assert.equal(parsed.positionals, ['10.0.0.1:6443']);
  assert.equal(passedFlags(parsed), ['--v=5']);
});

test('networks overlapping the host or each other are refused before anything is written', () => {
  const facts: HostFacts = {
    ...HOST_FACTS,
    network: { ...HOST_FACTS.network, addresses: [...HOST_FACTS.network.addresses, { dev: 'dummy0', label: 'dummy0', address: '10.96.5.1', prefix: 24 }] },
  };
  assert.throws(
    () => plan('init', [], {}, facts),
    /Interface dummy0 supports network 10\.96\.5\.1\/24 intersecting with the internal network 10\.96\.0\.0\/12/,
  );
  assert.throws(
    () => plan('init', ['--pod-network-cidr', '198.51.100.0/25']),
    /eth1 .* 10?198\.51\.100\.0\/25|intersecting with the internal network 198\.51\.100\.0\/25/,
  );
  assert.throws(() => plan('init', ['--pod-network-cidr', '10.96.0.0/16']), /overlaps/);
  assert.throws(() => plan('init', [], { U7S_SLIRP_CIDR: '10.244.1.0/24' }), /slirp4netns/);
  assert.throws(() => plan('init', ['--pod-network-cidr', '10.244.1.0/16']), /host bits set; the network is 10\.244\.0\.0\/16/);
  const noRoute: HostFacts = { ...HOST_FACTS, network: { ...HOST_FACTS.network, defaultRoutes: [] } };
  assert.throws(() => plan('init', [], {}, noRoute), /external address/);
});

test('registry: explicit values are honoured; http only for registry.local; platform k8s-c10f* -> c10f', () => {
  assert.equal(chooseRegistry({ U7S_REGISTRY: '' }, 'p11', root), {
    registry: 'registry.k8s.io',
    platform: '',
    repository: 'registry.k8s.io',
    flannelRepository: 'docker.io/flannel',
  });
  assert.is(
    chooseRegistry({ U7S_REGISTRY: 'mirror.example:5000' }, 'p11', root).repository,
    'mirror.example:5000/p11',
    'upstream ignored a non-empty U7S_REGISTRY',
  );
  assert.is(chooseRegistry({}, 'k8s-c10f2', root).repository, 'registry.altlinux.org/c10f');
  writeFileSync(join(root, 'etc/hosts'), '127.0.0.1 localhost\n# 10.0.0.9 registry.local\n10.0.0.8 registry.locality\n');
  assert.is(chooseRegistry({}, 'p10', root).registry, 'registry.altlinux.org', 'names match whole, comments ignored');
  writeFileSync(join(root, 'etc/hosts'), '127.0.0.1 localhost\n10.0.0.9 sigstore.local registry.local\n');
  assert.is(chooseRegistry({}, 'p10', root).repository, 'registry.local/p10');
  writeFileSync(join(root, 'etc/hosts'), '127.0.0.1 localhost\n');
  assert.is(registryScheme('registry.local'), 'http');
  assert.is(registryScheme('registry.local:5000/p11'), 'http');
  assert.is(registryScheme('registry.altlinux.org'), 'https');
  assert.is(registryScheme('registry.local.example.com'), 'https');
});

test('versions compare as numbers: v1.26.10 > v1.26.9; 1.25 refused; the installed minor must match', () => {
  assert.ok(compareTags('v1.26.10', 'v1.26.9') > 0);
  assert.ok(compareTags('3.10', '3.9') > 0);
  assert.is(newestPatch(['v1.26.9', 'v1.26.10', 'v1.27.1', 'latest', 'v1.26.11-rc.0'], kubeVersion('v1.26.0', 'x')), 'v1.26.10');
  const none = parseDeployArgs('init', []);
  assert.is(chooseVersion(none, {}, 'v1.30.2', true)!.text, 'v1.30.2');
  assert.throws(() => chooseVersion(none, { U7S_KUBEVERSION: 'v1.25.3' }, undefined, true), /1\.26 or newer/);
  assert.throws(() => chooseVersion(none, { U7S_KUBEVERSION: 'v1.29.1' }, 'v1.30.2', true), /installed kubeadm is v1\.30\.2/);
  assert.throws(() => chooseVersion(none, {}, undefined, true), /U7S_KUBEVERSION/);
  assert.is(
    chooseVersion(parseDeployArgs('init', ['--kubernetes-version', '1.30.1']), { U7S_KUBEVERSION: 'v1.30.5' }, 'v1.30.2', true)!.text,
    'v1.30.1',
    'the flag wins',
  );
});

test('flannel manifest: images on the chosen registry, Network = pod CIDR, every other document unchanged', () => {
  const text = readFileSync(join(root, 'etc/podsec/u7s/manifests/kube-flannel.yml'), 'utf8');
  const out = renderFlannel(text, { podCidr: '10.200.0.0/16', repository: 'registry.local/c10f', flannelTag: 'v0.25.1' });
  const before = YAML.parseAllDocuments(text).map((d) => d.toJS());
  const after = YAML.parseAllDocuments(out).map((d) => d.toJS());
  const ds = after.find((d) => d.kind === 'DaemonSet');
  assert.match(ds.spec.template.spec.initContainers[0].image, /^registry\.local\/c10f\/flannel-cni-plugin:v/);
  assert.is(ds.spec.template.spec.initContainers[1].image, 'registry.local/c10f/flannel:v0.25.1');
  assert.is(ds.spec.template.spec.containers[0].image, 'registry.local/c10f/flannel:v0.25.1');
  const cm = after.find((d) => d.kind === 'ConfigMap');
  assert.is(JSON.parse(cm.data['net-conf.json']).Network, '10.200.0.0/16');
  for (const i of [0, 1, 2, 3]) assert.equal(after[i], before[i]);
  const upstream = renderFlannel(text, { podCidr: '10.244.0.0/16', repository: 'docker.io/flannel' });
  assert.match(upstream, /image: docker\.io\/flannel\/flannel:v/);
  assert.not.match(upstream, /flannel\/\/flannel/);
});

test.run();
