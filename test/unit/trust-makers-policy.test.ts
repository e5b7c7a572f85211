/** Image makers in the policy model: scopes, conflicts, the makers' own copies, sigstore scopes. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rejectAllPolicy, requirementsFor, type ContainersPolicy } from '../../bin/lib/containers-policy.ts';
import {
  makerPolicy,
  makerRegistriesD,
  makerRequirement,
  ownerOf,
  ScopeConflictError,
  scopesOf,
  sigstoreRegistriesD,
  withMakers,
} from '../../bin/trust/policy/maker-policy.ts';

import { checkLocalImage, requireScopes, scopeRefusal } from '../../bin/trust/makers/push-image.ts';

const gpg = (user: string) => makerRequirement(user, 'gpg');

test('makers get one scope each; the longest prefix decides whose key verifies', () => {
  const policy = withMakers(rejectAllPolicy(), [
    { user: 'a', kind: 'gpg', repoPaths: ['registry.local/c10f'] },
    { user: 'b', kind: 'gpg', repoPaths: ['registry.local'] },
  ]);
  assert.equal(policy.transports!.docker!['registry.local/c10f'], [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/a.pgp' }]);
  assert.equal(requirementsFor(policy, 'registry.local/c10f/pause:3.9').requirements, [gpg('a')]);
  assert.equal(requirementsFor(policy, 'registry.local/c10f2/pause:3.9').requirements, [gpg('b')]);
  assert.equal(requirementsFor(policy, 'docker.io/library/busybox:latest').requirements, [{ type: 'reject' }]);
  assert.equal(policy.default, [{ type: 'reject' }]);
});

test('a scope held by another maker or another requirement is a conflict (exit 2)', () => {
  const policy = withMakers(rejectAllPolicy(), [{ user: 'a', kind: 'gpg', repoPaths: ['registry.local/x'] }]);
  assert.throws(
    () => withMakers(policy, [{ user: 'b', kind: 'gpg', repoPaths: ['registry.local/x'] }]),
    (e: unknown) => e instanceof ScopeConflictError && e.exitCode === 2 && /a\.pgp/.test(e.message),
  );
  const foreign: ContainersPolicy = { default: [{ type: 'reject' }], transports: { docker: { 'registry.local/y': [{ type: 'insecureAcceptAnything' }] } } };
  assert.throws(
    () => withMakers(foreign, [{ user: 'b', kind: 'gpg', repoPaths: ['registry.local/y'] }]),
    (e: unknown) => e instanceof ScopeConflictError,
  );
});

test('the same maker again converges; switching to sigstore rewrites all of its scopes', () => {
  const once = withMakers(rejectAllPolicy(), [{ user: 'a', kind: 'gpg', repoPaths: ['registry.local/x', 'registry.local/y'] }]);
  assert.equal(withMakers(once, [{ user: 'a', kind: 'gpg', repoPaths: ['registry.local/x'] }]), once);
  const switched = withMakers(once, [{ user: 'a', kind: 'sigstore', repoPaths: [] }]);
  assert.equal(scopesOf(switched, 'a'), ['registry.local/x', 'registry.local/y']);
  assert.equal(switched.transports!.docker!['registry.local/y'], [{ type: 'sigstoreSigned', keyPath: '/var/sigstore/keys/a.pub' }]);
  assert.equal(rejectAllPolicy(), { default: [{ type: 'reject' }], transports: { docker: {} } }, 'the input is not modified');
});

test('ownerOf recognises only single maker-key requirements in /var/sigstore/keys', () => {
  assert.equal(ownerOf([gpg('maker-1')]), { user: 'maker-1', kind: 'gpg' });
  assert.equal(ownerOf([makerRequirement('s', 'sigstore')]), { user: 's', kind: 'sigstore' });
  assert.is(ownerOf([{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/etc/pki/x.pgp' }]), undefined);
  assert.is(ownerOf([{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/../x.pgp' }]), undefined);
  assert.is(ownerOf([{ type: 'sigstoreSigned', keyPath: '/var/sigstore/keys/a.pgp' }]), undefined);
  assert.is(ownerOf([gpg('a'), gpg('b')]), undefined);
});

test("a maker's own policy accepts anything else but keeps every signed scope", () => {
  const system = withMakers(rejectAllPolicy(), [{ user: 'a', kind: 'gpg', repoPaths: ['registry.local'] }]);
  const own = makerPolicy(system);
  assert.equal(own.default, [{ type: 'insecureAcceptAnything' }]);
  assert.equal(own.transports, system.transports);
});

test('registries.d: sigstore scopes read attachments; makers write signatures into /var/sigstore/sigstore', () => {
  const policy = withMakers(rejectAllPolicy(), [
    { user: 'g', kind: 'gpg', repoPaths: ['registry.local/g'] },
    { user: 's', kind: 'sigstore', repoPaths: ['registry.local/s'] },
  ]);
  assert.equal(sigstoreRegistriesD(policy), { docker: { 'registry.local/s': { 'use-sigstore-attachments': true } } });
  assert.is(sigstoreRegistriesD(rejectAllPolicy()), undefined);
  assert.equal(makerRegistriesD(policy), {
    'default-docker': {
      lookaside: 'http://sigstore.local:81/sigstore/',
      sigstore: 'http://sigstore.local:81/sigstore/',
      'lookaside-staging': 'file:///var/sigstore/sigstore/',
      'sigstore-staging': 'file:///var/sigstore/sigstore/',
    },
    docker: { 'registry.local/s': { 'use-sigstore-attachments': true } },
  });
});

test('push-sign-image: a maker signs only where the longest matching scope is theirs; refusals name their scopes', () => {
  const policy = withMakers(rejectAllPolicy(), [
    { user: 'maker1', kind: 'gpg', repoPaths: ['registry.local/p11'] },
    { user: 'maker2', kind: 'gpg', repoPaths: ['registry.local/p11/team'] },
  ]);
  assert.is(scopeRefusal(policy, 'maker1', 'registry.local/p11/x:1'), undefined);
  assert.is(scopeRefusal(policy, 'maker2', 'registry.local/p11/team/y:1'), undefined);
  assert.is(
    scopeRefusal(policy, 'maker1', 'registry.local/p11/team/y:1'),
    'registry.local/p11/team/y:1 is outside your signing scope (registry.local/p11): the system policy gives registry.local/p11/team to the image maker maker2',
  );
  assert.is(
    scopeRefusal(policy, 'maker2', 'registry.local/p11/x:1'),
    'registry.local/p11/x:1 is outside your signing scope (registry.local/p11/team): the system policy gives registry.local/p11 to the image maker maker1',
  );
  assert.is(
    scopeRefusal(policy, 'maker1', 'registry.local/other/x:1'),
    'registry.local/other/x:1 is outside your signing scope (registry.local/p11): the system policy gives it to no image maker',
  );
  // A prefix that is not a path component boundary is not the scope: p111 is nobody's.
  assert.match(scopeRefusal(policy, 'maker1', 'registry.local/p111/x:1')!, /gives it to no image maker/);
  assert.equal(requireScopes(policy, 'maker2', '/etc/containers/policy.json'), ['registry.local/p11/team']);
  assert.throws(
    () => requireScopes(policy, 'poduser', '/etc/containers/policy.json'),
    (e: unknown) => e instanceof Error && /^poduser has no signing scope in \/etc\/containers\/policy\.json/.test(e.message),
  );
});

test("push-sign-image: the image is a name or ID of the caller's own storage, never a transport or another storage", () => {
  for (const ok of ['myapp:1', 'localhost/myapp:1', 'p11/app', 'a'.repeat(12), 'app@sha256:' + 'a'.repeat(64)]) checkLocalImage(ok);
  for (const bad of ['containers-storage:[vfs@/home/x]app', '[vfs@/root]app', 'docker://x/y', 'oci:/tmp/x', '-x', '--help', '../x', 'a//b', 'app:1 x', '']) {
    assert.throws(() => checkLocalImage(bad), /is not an image name or ID of your podman storage/, bad);
  }
});

test.run();
