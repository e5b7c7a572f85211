/**
 * The pure parts of the trust commands: IPv4 validation, /etc/hosts as data, user names and
 * repository paths, registries.conf scanning, the master's policy merge and the trust bundle's
 * signature checks.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommandError } from '../../bin/lib/command.ts';
import type { ContainersPolicy } from '../../bin/lib/containers-policy.ts';
import { BundleRefusedError, verifyEnvelope } from '../../bin/trust/bundle/verify.ts';
import { envelopeText } from '../../bin/trust/bundle/publish.ts';
import { fingerprintOf, manifestText, normalizeHash, referencedKeys } from '../../bin/trust/bundle/format.ts';
import { masterPolicy } from '../../bin/trust/policy/create-policy.ts';
import { bindingsOf, parseHosts } from '../../bin/lib/hosts.ts';
import { HostsConflictError, planHostsBinding, sigstoreServerBinding } from '../../bin/trust/hosts.ts';
import { ipv4ExitCode, parseIPv4 } from '../../bin/trust/ipv4.ts';
import { planRegistriesConf, RegistriesConfError, scanRegistriesConf } from '../../bin/trust/policy/registries-conf.ts';
import { checkRepoPath, checkUserName, parseMakerSpecs, repoPathProblem, userNameProblem } from '../../bin/trust/validate.ts';

test("IPv4: host addresses pass, everything else gets upstream's exit code", () => {
  for (const ok of ['10.0.0.1', '192.168.10.1', '1.2.3.4', '255.1.1.1'.replace('255', '223'), '169.254.1.1']) assert.ok(parseIPv4(ok).ok, ok);
  const code = (text: string) => {
    const r = parseIPv4(text);
    return r.ok ? 0 : ipv4ExitCode(r.problem);
  };
  const byCode: [number, string[]][] = [
    [1, ['127.0.0.1', '127.0.0.2', '127.255.255.255']],
    [2, ['', '1.2.3', '1.2.3.4.5', '10.0.0']],
    // 01.2.3.4: a leading zero is octal to inet_aton.
    [3, ['999.1.1.1', '999.abc.1.1', '1.2.3.256', '01.2.3.4', '1.2.3.-4', '1.2.3. 4', '1.2.3.4 ', '0.0.0.0', '224.0.0.1', '255.255.255.255']],
  ];
  for (const [exit, texts] of byCode) for (const text of texts) assert.is(code(text), exit, JSON.stringify(text));
});

test('hosts: exact tokens, comments ignored, case-insensitive like the resolver', () => {
  const lines = parseHosts(
    '127.0.0.1 localhost\n# 10.0.0.9 registry.local\n10.0.0.10 xregistry.local ' + 'registry.localhost\n10.0.0.1 Registry.Local sigstore.local # trivy.local\n',
  );
  assert.equal(bindingsOf(lines, 'registry.local'), [{ address: '10.0.0.1', line: 4 }]);
  assert.equal(bindingsOf(lines, 'trivy.local'), []);
  assert.equal(sigstoreServerBinding(lines), { address: '10.0.0.1', line: 4 });
});

test('hosts: binding is appended once, re-running converges, a partial binding is completed', () => {
  const first = planHostsBinding('127.0.0.1 localhost', '10.0.0.1');
  assert.is(first.text, '127.0.0.1 localhost\n10.0.0.1 registry.local sigstore.local trivy.local\n');
  assert.equal(planHostsBinding(first.text, '10.0.0.1'), { text: first.text, changed: false, added: [] });
  // 10.0.0.1 must not be taken for 10.0.0.10 (upstream's substring grep).
  const other = planHostsBinding('10.0.0.10 myhost\n', '10.0.0.1');
  assert.is(other.text, '10.0.0.10 myhost\n10.0.0.1 registry.local sigstore.local trivy.local\n');
  const partial = planHostsBinding('10.0.0.1 registry.local   # the master\n', '10.0.0.1');
  assert.is(partial.text, '10.0.0.1 registry.local sigstore.local trivy.local   # the master\n');
  assert.equal(partial.added, ['sigstore.local', 'trivy.local']);
});

test('hosts: a binding to another address is a conflict naming the line', () => {
  assert.throws(
    () => planHostsBinding('127.0.0.1 localhost\n10.0.0.2 registry.local sigstore.local trivy.local\n', '10.0.0.1'),
    (e: unknown) =>
      e instanceof HostsConflictError && /registry\.local is already bound to 10\.0\.0\.2 in \/etc\/hosts \(line 2\)/.test(e.message) && e.exitCode === 1,
  );
  assert.throws(
    () => planHostsBinding('10.0.0.1 registry.local\n::1 trivy.local\n', '10.0.0.1'),
    (e: unknown) => e instanceof HostsConflictError,
  );
  assert.throws(() => sigstoreServerBinding(parseHosts('10.0.0.1 registry.local\n10.0.0.2 sigstore.local\n')), /bound to different addresses/);
});

test('user names: the allow-list refuses injection, traversal, options and overlong names', () => {
  for (const ok of ['imagemaker', 'u1', '_svc', 'a-b_c', 'x'.repeat(32)]) assert.is(checkUserName(ok), ok);
  const refused: [string, RegExp][] = [
    ['a;rm', /";" is not allowed/],
    ['$(id)', /"\$" is not allowed/],
    ['a b', /" " is not allowed/],
    ['../etc', /"\." is not allowed/],
    ['-rf', /starts with "-"/],
    ['x'.repeat(33), /longer than 32/],
    ['', /empty/],
    ['Admin', /"A" is not allowed/],
    ['1abc', /starts with a digit/],
    ['a\nb', /"\\n" is not allowed/],
  ];
  for (const [name, reason] of refused) {
    assert.match(userNameProblem(name) ?? '', reason, name);
    assert.throws(
      () => checkUserName(name),
      (e: unknown) => e instanceof CommandError && e.exitCode === 1 && !e.message.includes('\n'),
    );
  }
});

test('repository paths: only under registry.local, in the reference grammar', () => {
  for (const ok of ['registry.local', 'registry.local/c10f', 'registry.local/k8s-p10/kube', 'registry.local/a.b/c__d']) assert.is(checkRepoPath(ok), ok);
  for (const bad of [
    'docker.io/library',
    'registry.local.evil.com/x',
    'registry.localx',
    'registry.local:80/x',
    'registry.local/',
    'registry.local//x',
    'registry.local/../x',
    'registry.local/X',
    'registry.local/a;b',
    '',
  ]) {
    assert.ok(repoPathProblem(bad), bad);
  }
});

test('maker specs: upstream normalisation, format errors exit 1, duplicates exit 2', () => {
  assert.equal(parseMakerSpecs([]), [{ user: 'imagemaker', repoPath: 'registry.local' }]);
  assert.equal(parseMakerSpecs(['u1']), [{ user: 'u1', repoPath: 'registry.local' }]);
  assert.equal(parseMakerSpecs(['u1@']), [{ user: 'u1', repoPath: 'registry.local' }]);
  assert.equal(parseMakerSpecs(['a@registry.local/c10f', 'b@registry.local']), [
    { user: 'a', repoPath: 'registry.local/c10f' },
    { user: 'b', repoPath: 'registry.local' },
  ]);
  const code = (args: string[]) => {
    try {
      parseMakerSpecs(args);
      return 0;
    } catch (e) {
      return (e as CommandError).exitCode;
    }
  };
  assert.is(code(['a', 'b']), 1);
  assert.is(code(['a@registry.local', 'b@registry.local']), 2);
  assert.is(code(['a@docker.io/x']), 1);
  assert.is(code(['a@b@registry.local']), 1);
  assert.is(code(['@registry.local']), 1);
});

test('registries.conf: a v2 file gets the table appended; an existing entry is kept', () => {
  const base =
    '# comment\nunqualified-search-registries = ["docker.io", ' +
    '"registry.altlinux.org"]\nshort-name-mode = "enforcing"\n\n[[registry]]\nlocation = ' +
    '"quay.io"\n[[registry.mirror]]\nlocation = "mirror.example"\n';
  const planned = planRegistriesConf(base, 'r.conf');
  assert.ok(planned.change);
  if (planned.change) {
    assert.is(planned.text, `${base}\n[[registry]]\nlocation = "registry.local"\ninsecure = true\n`);
    const again = planRegistriesConf(planned.text, 'r.conf');
    assert.equal(again, { change: false, table: { line: 10, location: 'registry.local', insecure: true } });
  }
  assert.equal(planRegistriesConf(undefined, 'r.conf'), { change: true, text: '[[registry]]\nlocation = "registry.local"\ninsecure = true\n' });
  const multi = scanRegistriesConf(
    'a = [\n  "x", # c\n  "y",\n]\n[aliases]\n"fedora" = "registry.fedoraproject.org/fedora"\nb = {x ' + '= 1, "y" = true}\nd = 1979-05-27T07:32:00Z\n',
    'r',
  );
  assert.equal(multi.registries, []);
  assert.equal(planRegistriesConf('[[registry]]\nprefix = "registry.local"\nlocation = "10.0.0.1:5000"\n', 'r'), {
    change: false,
    table: { line: 1, prefix: 'registry.local', location: '10.0.0.1:5000' },
  });
});

test('registries.conf: malformed, v1 or unprovable files are refused with line and column', () => {
  const refuses = (text: string, where: RegExp) =>
    assert.throws(
      () => planRegistriesConf(text, '/etc/containers/registries.conf'),
      (e: unknown) => e instanceof RegistriesConfError && where.test(e.message),
    );
  refuses('a = "unterminated\n', /registries\.conf:1:\d+: unterminated string/);
  refuses('x = 1\nx = 2\n', /:2:1: the key x is defined twice/);
  refuses('[registries.search]\nregistries = ["docker.io"]\n', /:1:1: the file is in the v1 format/);
  refuses('registry = ["a"]\n', /:1:1: "registry" must be an array of tables/);
  refuses('[registry]\nlocation = "x"\n', /:1:1: \[registry\] must be an array of tables/);
  refuses('a = """\nmulti\n"""\n', /:1:5: multi-line strings are not supported/);
  refuses('a = [1, 2\nb = 3\n', /:2:\d+: "," or "\]" was expected/);
  refuses('a = yes\n', /"yes" is not a valid value/);
  refuses('[a]\nx = 1\n[a]\n', /:3:1: the table \[a\] is defined twice/);
  refuses('a = 1 b = 2\n', /:1:7: unexpected text after the value/);
});

test("master policy: makers' signed scopes are kept, everything else is dropped and reported", () => {
  const current: ContainersPolicy = {
    default: [{ type: 'insecureAcceptAnything' }],
    transports: {
      docker: {
        'registry.local': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/imagemaker.pgp' }],
        'registry.local/s': [{ type: 'sigstoreSigned', keyPath: '/var/sigstore/keys/s.pub' }],
        'docker.io': [{ type: 'insecureAcceptAnything' }],
      },
      'docker-daemon': { '': [{ type: 'insecureAcceptAnything' }] },
    },
  };
  const { policy, dropped } = masterPolicy(current);
  assert.equal(policy, {
    default: [{ type: 'reject' }],
    transports: {
      docker: { 'registry.local': current.transports!.docker!['registry.local']!, 'registry.local/s': current.transports!.docker!['registry.local/s']! },
    },
  });
  assert.equal(dropped, ['docker:docker.io', 'docker-daemon:""']);
  assert.equal(referencedKeys(policy), { names: ['imagemaker.pgp', 's.pub'], elsewhere: [] });
  assert.equal(masterPolicy(undefined).policy, { default: [{ type: 'reject' }], transports: { docker: {} } });
});

test('trust bundle: pinned fingerprint and signature, or pinned checksum; any change is refused', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const manifest = manifestText({
    format: 'podsec-trust-manifest',
    version: 1,
    serial: 7,
    created: '2024-01-01T00:00:00.000Z',
    files: [{ name: 'policy.json', size: 3, sha256: 'a'.repeat(64) }],
  });
  const envelope = envelopeText(manifest, privateKey);
  const fingerprint = fingerprintOf(publicKey);
  const ok = verifyEnvelope(envelope, { kind: 'fingerprint', value: fingerprint }, 'b');
  assert.is(ok.manifest.serial, 7);
  const refused = (text: string, pin: Parameters<typeof verifyEnvelope>[1], reason: RegExp) =>
    assert.throws(
      () => verifyEnvelope(text, pin, 'b'),
      (e: unknown) => e instanceof BundleRefusedError && e.exitCode === 4 && reason.test(e.message),
    );
  const data = JSON.parse(envelope);
  refused(
    JSON.stringify({ ...data, manifest: manifest.replace('"serial": 7', '"serial": 8') }),
    { kind: 'fingerprint', value: fingerprint },
    /does not verify/,
  );
  const other = generateKeyPairSync('ed25519').privateKey;
  refused(envelopeText(manifest, other), { kind: 'fingerprint', value: fingerprint }, /not by the pinned trust key/);
  refused('{"format":"x"}', { kind: 'fingerprint', value: fingerprint }, /not a podsec trust bundle/);
  const sum = createHash('sha256').update(manifest).digest('hex');
  assert.is(verifyEnvelope(envelope, { kind: 'sha256', value: sum }, 'b').manifest.serial, 7);
  refused(envelope, { kind: 'sha256', value: 'b'.repeat(64) }, /not the pinned/);
  assert.is(normalizeHash(fingerprint.toUpperCase().match(/.{4}/g)!.join(' ')), fingerprint);
  assert.is(normalizeHash('abc'), undefined);
});

test.run();
