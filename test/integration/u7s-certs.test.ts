// test-runner: k8s-tools — npm test builds the components of npm run k8s-tools first
/**
 * Certificate expiry with the real kubeadm (k8s-tools cache) and openssl: kubeadm makes a node's
 * PKI and kubeconfigs under a --root tree, openssl replaces some certificates by ones signed by the
 * same CA that expire in a few days or have expired, and then: kubeadm certs check-expiration and
 * podsec-inotify-check-certs see the same; the monitor warns, is CRITICAL for an expired one (also
 * when another file cannot be read), never OK; kubeadm certs renew makes it OK again; a user's
 * kubeconfig from podsec-k8s-rbac-create-kubeconfig is named with the command that issues it again.
 */
import { chownSync, copyFileSync, mkdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { lookupK8sTools } from '../../scripts/k8s-tools/build.ts';
import { kubeconfigReport } from '../../bin/u7s/lib/certs.ts';
import { scanNodeCertificates } from '../../bin/u7s/lib/cert-expiry.ts';
import { run, runTs } from '../support/exec.ts';
import { enterableTempDir } from '../support/temp-dir.ts';
import { openssl } from '../support/test-certificates.ts';
import { asRoot, gated, withTools } from '../support/tools.ts';

const tools = await lookupK8sTools();
const test = tools ? asRoot(withTools(base, ['openssl'])) : gated(base, 'the k8s-tools cache is not built (npm run k8s-tools)');

const root = enterableTempDir('podsec-certs-');
const etc = join(root, 'etc/kubernetes');
const pki = join(etc, 'pki');
const config = join(root, 'kubeadm.yaml');
const ALICE = 4242;
base.after(() => rmSync(root, { recursive: true, force: true }));

async function kubeadm(args: string[]): Promise<string> {
  const r = await run(tools!.bin('kubeadm'), args, { cwd: root, timeoutMs: 120_000, env: { PATH: process.env.PATH } });
  assert.is(r.exitCode, 0, `kubeadm ${args.join(' ')}: ${r.stderr}`);
  return r.stdout + r.stderr;
}

/** Replaces pki/NAME.crt by a certificate for the same key and subject, signed by CA, valid for `days` (negative: expired). */
async function reissue(name: string, ca: string, days: number): Promise<void> {
  await openssl(pki, ['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  // kubeadm renews a certificate with the same key usages and names: they must be there.
  writeFileSync(
    join(pki, `${name}.ext`),
    'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:kubernetes,IP:192.0.2.10\n',
  );
  const signing = ['-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-extfile', `${name}.ext`];
  await openssl(pki, ['x509', '-req', '-in', `${name}.csr`, ...signing, '-days', String(days), '-out', `${name}.crt`]);
  for (const suffix of ['csr', 'ext']) unlinkSync(join(pki, `${name}.${suffix}`));
}

async function monitor(args: string[] = []) {
  const r = await runTs('bin/podsec-inotify-check-certs.ts', ['--root', root, ...args], {
    env: { ...process.env, PODSEC_INOTIFY_JOURNAL: 'stderr', LANG: 'C' },
  });
  return { ...r, journal: r.stderr.split('\n').filter((l) => /^<\d>/.test(l)) };
}

base.before(async () => {
  if (!tools || process.getuid?.() !== 0) return;
  mkdirSync(pki, { recursive: true });
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/passwd'), `root:x:0:0:root:/root:/bin/sh\nalice:x:${ALICE}:${ALICE}::/home/alice:/bin/sh\n`);
  const version = (await kubeadm(['version', '-o', 'short'])).trim();
  writeFileSync(
    config,
    YAML.stringify({
      apiVersion: 'kubeadm.k8s.io/v1beta4',
      kind: 'InitConfiguration',
      localAPIEndpoint: { advertiseAddress: '192.0.2.10' },
      nodeRegistration: { name: 'n1' },
    }) +
      '---\n' +
      YAML.stringify({ apiVersion: 'kubeadm.k8s.io/v1beta4', kind: 'ClusterConfiguration', kubernetesVersion: version, certificatesDir: pki }),
  );
  await kubeadm(['init', 'phase', 'certs', 'all', '--config', config]);
  await kubeadm(['init', 'phase', 'kubeconfig', 'all', '--config', config, '--kubeconfig-dir', etc]);
});

test('a fresh PKI: every certificate and kubeconfig read, the monitor says OK', async () => {
  const scan = scanNodeCertificates(root);
  assert.equal(scan.problems, []);
  const files = new Set(scan.certificates.map((c) => c.file));
  for (const file of ['pki/ca.crt', 'pki/apiserver.crt', 'pki/etcd/server.crt', 'pki/front-proxy-client.crt', 'admin.conf', 'kubelet.conf']) {
    assert.ok(files.has(`/etc/kubernetes/${file}`), file);
  }
  const r = await monitor();
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /^OK: certificates checked: \d+, expired: 0,/);
  assert.equal(r.journal, []);
});

test('a certificate expiring in 3 days: kubeadm check-expiration and the monitor agree; a warning with the renew command; --days 2 is quiet', async () => {
  await reissue('apiserver', 'ca', 3);
  const table = await kubeadm(['certs', 'check-expiration', '--config', config]);
  assert.match(table, /^apiserver\s+.*\s2d\d*h?\s/m, table);
  const r = await monitor();
  assert.is(r.exitCode, 1, r.stderr);
  assert.match(r.stdout, /^WARNING: /);
  assert.is(r.journal.length, 1, r.stderr);
  assert.match(
    r.journal[0]!,
    new RegExp(
      '^<5>Warning: The certificate of "apiserver" in "/etc/kubernetes/pki/apiserver.crt" expires on .* \\(in 2 days\\); ' +
        'renew it with: podsec-u7s-certs renew$',
    ),
  );
  const quiet = await monitor(['--days', '2']);
  assert.is(quiet.exitCode, 0, quiet.stderr);
  const env = await runTs('bin/podsec-inotify-check-certs.ts', ['--root', root], {
    env: { ...process.env, PODSEC_INOTIFY_JOURNAL: 'stderr', PODSEC_CERTS_WARN_DAYS: '1' },
  });
  assert.is(env.exitCode, 0, 'PODSEC_CERTS_WARN_DAYS sets the period');
  const bad = await monitor(['--days', 'soon']);
  assert.is(bad.exitCode, 3);
  assert.match(bad.stderr, /number of days/);
});

test('an expired certificate is CRITICAL, also when another file cannot be read; renewal makes the node OK again', async () => {
  await reissue('front-proxy-client', 'front-proxy-ca', -1);
  const r = await monitor();
  assert.is(r.exitCode, 2, r.stderr);
  assert.match(r.stdout, /^CRITICAL: .* 1 expired/);
  assert.ok(
    r.journal.some((l) => /^<2>Critical: The certificate of "front-proxy-client" in "\/etc\/kubernetes\/pki\/front-proxy-client.crt" expired on /.test(l)),
    r.stderr,
  );
  // A symlink planted among the certificates is not followed: a Fatal entry, and still CRITICAL.
  symlinkSync('/etc/shadow', join(pki, 'planted.crt'));
  const both = await monitor();
  assert.is(both.exitCode, 2, both.stderr);
  assert.ok(
    both.journal.some((l) => /^<1>Fatal: The certificates of "\/etc\/kubernetes\/pki\/planted.crt" cannot be checked: .*symlink/.test(l)),
    both.stderr,
  );
  assert.not.match(both.stderr, /root:/, 'nothing of the link target is shown');

  await kubeadm(['certs', 'renew', 'front-proxy-client', '--config', config]);
  await kubeadm(['certs', 'renew', 'apiserver', '--config', config]);
  const unreadable = await monitor();
  assert.is(unreadable.exitCode, 3, 'no expired certificate left, but one file cannot be checked: UNKNOWN, not OK');
  unlinkSync(join(pki, 'planted.crt'));
  const ok = await monitor();
  assert.is(ok.exitCode, 0, ok.stderr);
  assert.match(await kubeadm(['certs', 'check-expiration', '--config', config]), /^apiserver\s+.*\s36[45]d\s/m);
});

test("root's copy of admin.conf and a user's kubeconfig: listed, and the user's named with podsec-k8s-rbac-create-kubeconfig", async () => {
  mkdirSync(join(root, 'root/.kube'), { recursive: true, mode: 0o700 });
  copyFileSync(join(etc, 'admin.conf'), join(root, 'root/.kube/config'));
  // alice's kubeconfig as podsec-k8s-rbac-create-kubeconfig writes it: CN=alice, O=k8s, signed by the cluster CA; 5 days left.
  const home = join(root, 'home/alice');
  mkdirSync(join(home, '.kube'), { recursive: true, mode: 0o700 });
  await openssl(home, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'alice.key', '-out', 'alice.csr', '-subj', '/O=k8s/CN=alice']);
  await openssl(home, [
    'x509',
    '-req',
    '-in',
    'alice.csr',
    '-CA',
    join(pki, 'ca.crt'),
    '-CAkey',
    join(pki, 'ca.key'),
    '-CAcreateserial',
    '-days',
    '5',
    '-out',
    'alice.crt',
  ]);
  const kubeconfig = YAML.parse(readFileSync(join(etc, 'admin.conf'), 'utf8'));
  kubeconfig.users = [
    { name: 'alice', user: { 'client-certificate-data': readFileSync(join(home, 'alice.crt')).toString('base64'), 'client-key-data': 'eA==' } },
  ];
  writeFileSync(join(home, '.kube/config'), YAML.stringify(kubeconfig), { mode: 0o600 });
  for (const path of [home, join(home, '.kube'), join(home, '.kube/config')]) chownSync(path, ALICE, ALICE);

  const report = kubeconfigReport({ root, account: { name: 'u7s-admin', uid: 0, gid: 0, home: '/var/lib/u7s-admin', shell: '/bin/false' } }, new Date(), 30);
  assert.match(report.text, /\/root\/\.kube\/config \(CN="kubernetes-admin"\): expires .* \(in 36[45] days\)/);
  assert.match(report.text, /\/home\/alice\/\.kube\/config \(CN="alice"\): expires .* \(in 4 days\)/);
  assert.match(report.text, /issue \/home\/alice\/\.kube\/config again with: podsec-k8s-rbac-create-kubeconfig alice k8s\n/);
  assert.not.match(report.text, /issue \/root/, "root's copy is refreshed by the renewal, not reissued");
  assert.is(report.expired, 0);

  const r = await monitor();
  assert.is(r.exitCode, 1, r.stderr);
  assert.ok(
    r.journal.some((l) =>
      /Warning: The certificate of "alice" in "\/home\/alice\/\.kube\/config" expires .*renew it with: podsec-k8s-rbac-create-kubeconfig alice k8s$/.test(l),
    ),
    r.stderr,
  );
});

test('a tree without any certificate (no cluster) is OK', async () => {
  const empty = enterableTempDir('podsec-certs-empty-');
  try {
    const r = await runTs('bin/podsec-inotify-check-certs.ts', ['--root', empty], { env: { ...process.env, PODSEC_INOTIFY_JOURNAL: 'stderr' } });
    assert.is(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^OK: certificates checked: 0,/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test.run();
