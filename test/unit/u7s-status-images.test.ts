/**
 * The data behind `u7s-start-stop status --json` (systemctl show parsed, absent units reported
 * as inactive) and the choice of images pulled before kubeadm (per role, the CNI's images read
 * from the rendered flannel manifest).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeStatusWith } from '../support/u7s-fixtures.ts';
import AjvModule from 'ajv';
import schema from '../../policies/schemas/u7s-start-stop-status.schema.ts';
import preflightSchema from '../../policies/schemas/podsec-u7s-preflight.schema.ts';
import { parseShow, unitStatus, utcTimestamp } from '../../bin/u7s/lib/node-status.ts';
import { archImages, imagesForRole, skopeoPullArgs } from '../../bin/u7s/lib/image-pull.ts';
import { manifestImages, renderFlannel } from '../../bin/u7s/lib/flannel.ts';
import manifest from '../../policies/u7s/manifests/kube-flannel.ts';
import YAML from 'yaml';
const Ajv = AjvModule as unknown as typeof AjvModule.default;

const SHOW = `Id=rootlesskit.service
ActiveState=active
SubState=running
Result=success
MainPID=4242
ActiveEnterTimestamp=Fri 2026-11-27 02:10:05 UTC
NRestarts=2

Id=kubelet.service
ActiveState=failed
SubState=failed
Result=exit-code
MainPID=0
ActiveEnterTimestamp=
NRestarts=0
`;

test('systemctl show blocks become unit states; no PID and no timestamp are null', () => {
  const [rk, kl] = parseShow(SHOW);
  assert.equal(unitStatus('rootlesskit.service', rk), {
    unit: 'rootlesskit.service',
    activeState: 'active',
    subState: 'running',
    result: 'success',
    mainPid: 4242,
    activeSince: '2026-11-27T02:10:05.000Z',
    restarts: 2,
  });
  assert.equal(unitStatus('kubelet.service', kl), {
    unit: 'kubelet.service',
    activeState: 'failed',
    subState: 'failed',
    result: 'exit-code',
    mainPid: null,
    activeSince: null,
    restarts: 0,
  });
  assert.equal(unitStatus('kubelet.service', undefined), {
    unit: 'kubelet.service',
    activeState: 'inactive',
    subState: 'dead',
    result: 'success',
    mainPid: null,
    activeSince: null,
    restarts: 0,
  });
  assert.is(utcTimestamp('n/a'), null);
  assert.is(utcTimestamp('Fri 2026-11-27 02:10:05 CET'), null, 'only UTC is read (the command asks for it)');
  assert.equal(parseShow('a=b=c\n\n\n'), [{ a: 'b=c' }], 'a value may hold =');
});

test('the status schema accepts what the parser makes and refuses what it must not', () => {
  const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
  const units = parseShow(SHOW).map((show) => unitStatus(show.Id!, show));
  const status = nodeStatusWith(units);
  assert.ok(validate(status), JSON.stringify(validate.errors));
  assert.not.ok(validate({ ...status, units: [{ ...units[0], mainPid: 0 }, units[1]] }), 'PID 0 is not a process');
  assert.not.ok(validate({ ...status, extra: 1 }));
  assert.not.ok(validate({ ...status, units: [units[0]] }), 'both units are always reported');
});

test('the preflight schema: fix is required for warn and fail, refused for ok', () => {
  const validate = new Ajv({ allErrors: true, strict: true }).compile(preflightSchema);
  assert.ok(
    validate([
      { id: 'kernel', status: 'ok', detail: 'kernel 6.1' },
      { id: 'linger', status: 'warn', detail: 'no', fix: 'loginctl enable-linger u7s-admin' },
    ]),
    JSON.stringify(validate.errors),
  );
  assert.not.ok(validate([{ id: 'kernel', status: 'fail', detail: 'kernel 4.19' }]));
  assert.not.ok(validate([{ id: 'kernel', status: 'ok', detail: 'x', fix: 'y' }]));
  assert.not.ok(validate([]));
});

const KUBEADM = [
  'kube-apiserver:v1.30.2',
  'kube-controller-manager:v1.30.2',
  'kube-scheduler:v1.30.2',
  'kube-proxy:v1.30.2',
  'coredns:v1.11.1',
  'pause:3.9',
  'etcd:3.5.12-0',
].map((i) => `registry.local/p11/${i}`);

test('U7S_ARCHIMAGES: more images under the registry, space-separated; a host, "..", no tag or an injected word are refused', () => {
  assert.equal(archImages(undefined, 'registry.local'), []);
  assert.equal(archImages(' p11/web:1\n p11/tools/busybox:1.36 ', 'registry.local'), ['registry.local/p11/web:1', 'registry.local/p11/tools/busybox:1.36']);
  for (const bad of ['evil.example/p11/web:1', 'localhost:5000/web:1', 'p11/../web:1', 'p11/web', 'p11/web:1;rm', '-p11/web:1', 'p11/Web:1']) {
    assert.throws(() => archImages(bad, 'registry.local'), /U7S_ARCHIMAGES/, bad);
  }
});

test("images per role: a control plane pulls all of kubeadm's, a worker what runs on every node; CNI images once", () => {
  const cni = ['registry.local/p11/flannel-cni-plugin:v1.4.0-flannel1', 'registry.local/p11/flannel:v0.25.1'];
  assert.equal(imagesForRole('control-plane', KUBEADM, cni), [...KUBEADM, ...cni]);
  assert.equal(imagesForRole('worker', KUBEADM, [...cni, cni[0]!]), [
    'registry.local/p11/kube-proxy:v1.30.2',
    'registry.local/p11/coredns:v1.11.1',
    'registry.local/p11/pause:3.9',
    ...cni,
  ]);
  assert.equal(
    imagesForRole('worker', ['registry.local:5000/p11/pause@sha256:' + 'a'.repeat(64)], []),
    ['registry.local:5000/p11/pause@sha256:' + 'a'.repeat(64)],
    'a port or digest does not hide the name',
  );
});

test("the flannel manifest's images are read from the rendered manifest, in the chosen repository", () => {
  const rendered = renderFlannel(manifest.map((doc) => YAML.stringify(doc)).join('---\n'), { podCidr: '10.244.0.0/16', repository: 'registry.example/p11' });
  const images = manifestImages(rendered);
  assert.ok(images.length >= 2, images.join(' '));
  for (const image of images) assert.match(image, /^registry\.example\/p11\/flannel(-cni-plugin)?:v[\d.]+/);
  assert.ok(images.some((i) => i.includes('/flannel-cni-plugin:')) && images.some((i) => /\/flannel:/.test(i)));
});

test('the pull is checked against the given policy and lands in the given store', () => {
  const argv = skopeoPullArgs('/usr/bin/skopeo', 'registry.local/p11/pause:3.9', {
    policy: '/etc/containers/policy.json',
    store: { driver: 'overlay', root: '/r', runroot: '/rr' },
  });
  assert.equal(argv, [
    '/usr/bin/skopeo',
    '--policy',
    '/etc/containers/policy.json',
    'copy',
    '--quiet',
    '--retry-times',
    '2',
    'docker://registry.local/p11/pause:3.9',
    'containers-storage:[overlay@/r+/rr]registry.local/p11/pause:3.9',
  ]);
});

test.run();
