/** Image names, destinations, archive entries and arguments of the OCI archive commands, as pure functions. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { allowedEntry, unsafeName } from '../../bin/trust/oci/archive.ts';
import { destinationOf, formatName, ImageNameError, parseDestination, parseImageName, parseRegistryImage } from '../../bin/trust/oci/refs.ts';
import { isTransport, parseArchitectures, parseImages } from '../../bin/trust/oci/save.ts';

test('image names: <platform>/<path>:<tag>', () => {
  assert.equal(parseImageName('c10f/kube-apiserver:v1.28.3'), { path: ['c10f', 'kube-apiserver'], tag: 'v1.28.3' });
  assert.equal(parseImageName('alt/alt:c10f2'), { path: ['alt', 'alt'], tag: 'c10f2' });
  assert.equal(parseImageName('c10f/flannel/flannel-cni-plugin:v1.4.0-flannel1'), { path: ['c10f', 'flannel', 'flannel-cni-plugin'], tag: 'v1.4.0-flannel1' });
  assert.is(formatName(parseImageName('p11/a_b.c:1')), 'p11/a_b.c:1');
});

const bad: [string, RegExp][] = [
  ['docker.io/library/busybox:1', /registry host docker\.io/],
  ['localhost/c10f/x:1', /registry host localhost/],
  ['registry.local:5000/c10f/x:1', /registry host|not a platform name/],
  ['c10f/../etc:1', /"\.\." component/],
  ['../x:1', /"\.\." component/],
  ['c10f//x:1', /empty path component/],
  ['c10f/x', /no tag/],
  ['c10f/x:', /tag "" is not valid/],
  ['c10f/x@sha256:' + 'a'.repeat(64), /digest/],
  ['busybox:1', /no platform prefix/],
  ['C10F/x:1', /not a valid repository name/],
  ['k8s-c10f1/x:1', /not a platform name/],
  ['c10f/x:-bad', /tag "-bad"/],
  ['', /empty/],
  ['c10f/' + 'a'.repeat(260) + ':1', /longer than/],
];
for (const [name, reason] of bad) {
  test(`image name ${JSON.stringify(name.slice(0, 40))} is refused`, () => {
    assert.throws(
      () => parseImageName(name),
      (e: unknown) => e instanceof ImageNameError && reason.test((e as Error).message),
    );
  });
}

test('destinations: registry.local/<path> only', () => {
  assert.equal(parseDestination('registry.local/c10f'), ['c10f']);
  assert.equal(parseDestination('registry.local/mirror/c10f'), ['mirror', 'c10f']);
  assert.equal(parseDestination('registry.local'), { problem: 'no-path' });
  assert.equal(parseDestination('docker.io/c10f'), { problem: 'host' });
  assert.equal(parseDestination('registry.local:80/c10f'), { problem: 'host' });
  assert.equal(parseDestination('registry.local/../etc'), { problem: 'path' });
  assert.equal(parseDestination('registry.local/c10f/'), { problem: 'path' });
});

test('push-sign-image destinations: registry.local/<path>[:<tag>], tag latest by default', () => {
  assert.equal(parseRegistryImage('registry.local/p11/app:1'), { path: ['p11', 'app'], tag: '1' });
  assert.equal(parseRegistryImage('registry.local/p11/team/app'), { path: ['p11', 'team', 'app'], tag: 'latest' });
  assert.equal(parseRegistryImage('registry.local'), { problem: 'no-path' });
  assert.equal(parseRegistryImage('registry.local:5000/p11/app:1'), { problem: 'host' });
  assert.equal(parseRegistryImage('docker.io/p11/app:1'), { problem: 'host' });
  assert.equal(parseRegistryImage('registry.local/p11/../app:1'), { problem: 'path' });
  assert.equal(parseRegistryImage('registry.local/p11/App:1'), { problem: 'path' });
  assert.equal(parseRegistryImage('registry.local/p11/app:-x'), { problem: 'tag' });
  assert.equal(parseRegistryImage('registry.local/p11/app@sha256:' + '0'.repeat(64)), { problem: 'digest' });
});

test("the destination prefix replaces the archive's platform prefix", () => {
  assert.is(destinationOf(parseImageName('c10f/pause:3.9'), ['c10f']), 'registry.local/c10f/pause:3.9');
  assert.is(destinationOf(parseImageName('c10f/coredns/coredns:v1.10'), ['k8s-c10f2']), 'registry.local/k8s-c10f2/coredns/coredns:v1.10');
  assert.is(destinationOf(parseImageName('c10f/pause:3.9'), ['mirror', 'c10f']), 'registry.local/mirror/c10f/pause:3.9');
});

test("archive entries: only the layout's own names under <arch>/", () => {
  const hex = 'a'.repeat(64);
  for (const ok of ['amd64', 'amd64/', './amd64/', 'amd64/oci-layout', 'amd64/index.json', 'amd64/blobs', 'amd64/blobs/sha256/', `amd64/blobs/sha256/${hex}`])
    assert.ok(allowedEntry(ok, 'amd64'), ok);
  for (const no of [
    'arm64/index.json',
    'amd64/../index.json',
    'amd64/blobs/sha256/xyz',
    `amd64/blobs/sha512/${hex}`,
    'amd64/extra',
    'amd64/index.json/x',
    'index.json',
  ])
    assert.not.ok(allowedEntry(no, 'amd64'), no);
  assert.ok(unsafeName('amd64/../../etc/passwd'));
  assert.ok(unsafeName('/etc/passwd'));
  assert.ok(unsafeName('..'));
  assert.not.ok(unsafeName('amd64/..x'));
});

test('save-oci arguments: every architecture is checked, all expands, the transport is recognised', () => {
  assert.equal(parseArchitectures('all'), ['amd64', 'arm64', 'arm', 'ppc64le', '386']);
  assert.equal(parseArchitectures('amd64,arm64,amd64'), ['amd64', 'arm64']);
  assert.throws(() => parseArchitectures('amd64,x86_64'), /Unknown architecture "x86_64"/);
  assert.throws(() => parseArchitectures(''), /Unknown architecture ""/);
  for (const transport of ['', 'docker://', 'containers-storage:', 'containers-storage:[/var/lib/x]', 'containers-storage:[vfs@/a+/b]'])
    assert.ok(isTransport(transport), transport);
  for (const image of ['c10f/pause:3.9', 'docker://x', 'oci:/x', 'containers-storage:[a b]', 'sh -c x']) assert.not.ok(isTransport(image), image);
  assert.throws(() => parseImages(['c10f/ok:1', 'evil.com/x:1']), /invalid image name "evil\.com\/x:1"/);
});

test.run();
