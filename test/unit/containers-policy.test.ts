import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type ContainersPolicy,
  type PolicyRequirement,
  dockerScopesFor,
  lookasideFor,
  parsePolicy,
  parseRegistriesD,
  PolicySyntaxError,
  rejectAllPolicy,
  requirementsFor,
  serializePolicy,
  signatureUrl,
} from '../../bin/lib/containers-policy.ts';

const isSyntaxError = (pattern: RegExp) => (e: unknown) => e instanceof PolicySyntaxError && pattern.test(e.message);

test('policy: the master policy round-trips and rejects everything', () => {
  const text = serializePolicy(rejectAllPolicy());
  assert.equal(JSON.parse(text), { default: [{ type: 'reject' }], transports: { docker: {} } });
  assert.equal(parsePolicy(text, 'p.json'), rejectAllPolicy());
});

test('policy: malformed files are refused with file and position', () => {
  assert.throws(
    () => parsePolicy('{\n  "default": [\n    {"type": "reject"},\n  ]\n}', '/etc/containers/policy.json'),
    isSyntaxError(/^\/etc\/containers\/policy\.json:4:\d+: not valid JSON/),
  );
  assert.throws(() => parsePolicy('{"default": []}', 'p'), isSyntaxError(/default: must be a non-empty list/));
  assert.throws(() => parsePolicy('{"default": [{"type": "acceptAll"}]}', 'p'), isSyntaxError(/unknown requirement type "acceptAll"/));
  assert.throws(() => parsePolicy('{"default": [{"type": "reject"}], "extra": 1}', 'p'), isSyntaxError(/unknown top-level field "extra"/));
  assert.throws(() => parsePolicy('{"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}', 'p'), isSyntaxError(/exactly one of keyPath/));
  assert.throws(() => parsePolicy('{"default": [{"type": "reject", "keyPath": "/x"}]}', 'p'), isSyntaxError(/unknown field "keyPath" for reject/));
  // JSON.parse keeps the last of two equal keys; containers/image refuses the whole file.
  assert.throws(
    () => parsePolicy('{"default": [{"type": "insecureAcceptAnything"}],\n "default": [{"type": "reject"}]}', 'p'),
    isSyntaxError(/^p:2:2: duplicate key "default"/),
  );
});

test('scopes: most specific first, as containers-policy.json(5) orders them', () => {
  assert.equal(dockerScopesFor('registry.local/p11/kube/pause:3.9'), [
    'registry.local/p11/kube/pause:3.9',
    'registry.local/p11/kube/pause',
    'registry.local/p11/kube',
    'registry.local/p11',
    'registry.local',
    '*.local',
  ]);
  assert.equal(dockerScopesFor('localhost:5000/a@sha256:ab12').slice(0, 3), ['localhost:5000/a@sha256:ab12', 'localhost:5000/a', 'localhost:5000']);
});

test('requirements: the longest scope wins; then the transport default; then the global default', () => {
  const docker: Record<string, PolicyRequirement[]> = {
    'registry.local': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/b.pgp' }],
    'registry.local/a': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/a.pgp' }],
  };
  const policy: ContainersPolicy = { default: [{ type: 'reject' }], transports: { docker } };
  assert.is(requirementsFor(policy, 'registry.local/a/x:1').scope, 'registry.local/a');
  assert.is(requirementsFor(policy, 'registry.local/ab/x:1').scope, 'registry.local');
  assert.is(requirementsFor(policy, 'docker.io/library/alpine:3').scope, undefined);
  assert.equal(requirementsFor(policy, 'docker.io/library/alpine:3').requirements, [{ type: 'reject' }]);
  const withTransportDefault: ContainersPolicy = { ...policy, transports: { docker: { ...docker, '': [{ type: 'insecureAcceptAnything' }] } } };
  assert.equal(requirementsFor(withTransportDefault, 'docker.io/library/alpine:3'), { scope: '', requirements: [{ type: 'insecureAcceptAnything' }] });
  assert.is(requirementsFor(withTransportDefault, 'registry.local/a/x:1').scope, 'registry.local/a');
});

test('registries.d: strict parse, lookaside by longest scope with default-docker as fallback', () => {
  const config = parseRegistriesD(
    'default-docker:\n  lookaside: http://sigstore.local:81/sigstore/\n  sigstore: ' +
      'http://sigstore.local:81/sigstore/\ndocker:\n  registry.local/x:\n    lookaside: http://other/\n',
    'default.yaml',
  );
  assert.is(lookasideFor(config, 'registry.local/p11/pause:3.9'), 'http://sigstore.local:81/sigstore/');
  assert.is(lookasideFor(config, 'registry.local/x/y:1'), 'http://other/');
  assert.throws(() => parseRegistriesD('default-docker:\n  lookasid: x\n', 'd.yaml'), isSyntaxError(/^d\.yaml: default-docker: unknown key "lookasid"/));
  assert.throws(() => parseRegistriesD('default-docker: [\n', 'd.yaml'), isSyntaxError(/^d\.yaml:\d+:\d+: /));
});

test('signature URL: lookaside layout of containers/image', () => {
  assert.is(
    signatureUrl('http://sigstore.local:81/sigstore/', 'registry.local/p11/pause', 'sha256:abcd'),
    'http://sigstore.local:81/sigstore/p11/pause@sha256=abcd/signature-1',
  );
});

test.run();
