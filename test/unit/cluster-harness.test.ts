/** The pure parts of `npm run cluster`: reading kubeadm's join command, naming the upstream images. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseJoinCommand } from '../../scripts/cluster/cluster.ts';
import { baseName } from '../../scripts/cluster/supply.ts';

const INIT_OUTPUT = `Your Kubernetes control-plane has initialized successfully!

You can now join any number of control-plane nodes by copying certificate authorities
and service account keys on each node and then running the following as root:

  kubeadm join 198.51.100.1:6443 --token abcdef.0123456789abcdef \\
	--discovery-token-ca-cert-hash sha256:1111111111111111111111111111111111111111111111111111111111111111 \\
	--control-plane --certificate-key 2222

Then you can join any number of worker nodes by running the following on each as root:

kubeadm join 198.51.100.1:6443 --token abcdef.0123456789abcdef \\
	--discovery-token-ca-cert-hash sha256:1111111111111111111111111111111111111111111111111111111111111111
`;

test("kubeadm init's join commands, their continued lines joined: the worker's, and the control plane's apart", () => {
  assert.equal(parseJoinCommand(INIT_OUTPUT), [
    'join',
    '198.51.100.1:6443',
    '--token',
    'abcdef.0123456789abcdef',
    '--discovery-token-ca-cert-hash',
    `sha256:${'1'.repeat(64)}`,
  ]);
  assert.equal(parseJoinCommand(INIT_OUTPUT, 'control-plane').slice(-3), ['--control-plane', '--certificate-key', '2222']);
  assert.equal(parseJoinCommand(INIT_OUTPUT, 'control-plane').slice(0, 6), parseJoinCommand(INIT_OUTPUT));
  assert.throws(() => parseJoinCommand('kubeadm init failed'), /no worker join command/);
  assert.throws(() => parseJoinCommand(INIT_OUTPUT.slice(INIT_OUTPUT.indexOf('Then')), 'control-plane'), /no control-plane join command/);
});

test('upstream images keep only their last path component under the platform path (as kubeadm lists them for a custom repository)', () => {
  assert.is(baseName('registry.k8s.io/coredns/coredns:v1.12.1'), 'coredns:v1.12.1');
  assert.is(baseName('registry.k8s.io/kube-apiserver:v1.34.12'), 'kube-apiserver:v1.34.12');
  assert.is(baseName('flannel/flannel-cni-plugin:v1.6.2-flannel1'), 'flannel-cni-plugin:v1.6.2-flannel1');
});

test.run();
