/**
 * The six podsec-k8s-rbac programs, bundled as they are installed, against a fake kubectl that
 * captures every call at the client boundary (test/fixtures/rbac/). What we send is checked against
 * the Kubernetes schema and against `kubectl create … --dry-run=client -o json`; the CSR and the key
 * with openssl; the kubeconfig with `kubectl config view` / `get-contexts`.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import AjvModule from 'ajv';
const Ajv = AjvModule as unknown as typeof AjvModule.default;
import { CertificateSigningRequest } from 'kubernetes-models/certificates.k8s.io/v1/CertificateSigningRequest';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import schema from '../../policies/rbac/get-userroles.schema.ts';
import { bundleProgram } from '../../scripts/bundle.ts';
import { fakeCluster, type FakeCluster } from '../support/rbac-fake-cluster.ts';
import { run, type Ran } from '../support/exec.ts';
import { asRoot, hasTool, withTools } from '../support/tools.ts';

const test = withTools(base, ['openssl']);
const withKubectl = withTools(base, ['openssl', 'kubectl']);
const PROGRAMS = ['create-user', 'create-kubeconfig', 'create-remoteplace', 'bindrole', 'unbindrole', 'get-userroles'];
// The real kubectl, found before the fake one is put first on PATH.
const realKubectl = hasTool('kubectl') ? (await run('sh', ['-c', 'command -v kubectl'])).stdout.trim() : 'kubectl';

let c: FakeCluster;
const RBAC = 'rbac.authorization.k8s.io';
const clusterRole = (name: string) => ({
  apiVersion: `${RBAC}/v1`,
  kind: 'ClusterRole',
  metadata: { name },
  rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
});
const role = (ns: string, name: string) => ({
  apiVersion: `${RBAC}/v1`,
  kind: 'Role',
  metadata: { name, namespace: ns },
  rules: [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['*'] }],
});
const U = (name: string) => ({ kind: 'User', apiGroup: RBAC, name });
const G = (name: string) => ({ kind: 'Group', apiGroup: RBAC, name });
const binding = (kind: string, name: string, refKind: string, ref: string, subjects: object[], ns?: string) => ({
  apiVersion: `${RBAC}/v1`,
  kind,
  metadata: { name, ...(ns ? { namespace: ns } : {}) },
  roleRef: { apiGroup: RBAC, kind: refKind, name: ref },
  subjects,
});

base.before(async () => {
  c = await fakeCluster();
  for (const p of PROGRAMS) {
    const name = `podsec-k8s-rbac-${p}`;
    writeFileSync(join(c.bin, name), await bundleProgram(name, '2.0.0-test'), { mode: 0o755 });
  }
  c.addUser('u1', 2001);
  c.addUser('u2', 2002);
});
base.after(() => c.cleanup());

const rbac = (program: string, args: string[], env: Record<string, string> = {}): Promise<Ran> =>
  run(join(c.bin, `podsec-k8s-rbac-${program}`), args, { env: { ...c.env, ...env }, timeoutMs: 60_000 });
const openssl = (args: string[], input?: string) => run('openssl', args, { input });
const calls = (verb: string) => c.calls().filter((call) => call.argv.includes(verb));
const mode = (path: string) => (statSync(path).mode & 0o7777).toString(8);
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

// ---------------------------------------------------------------------------------------------
// create-kubeconfig

test('create-kubeconfig: CSR → approve → certificate; kubeconfig 0600 in 0700 ~/.kube; admin kubeconfig untouched', async () => {
  c.setState([]);
  const adminBefore = sha(c.adminKubeconfig);
  const r = await rbac('create-kubeconfig', ['--root', c.root, 'u1', 'k8s', 'sysadmins']);
  assert.is(r.exitCode, 0, r.stderr);
  // The calls, in order: read the admin's cluster, replace any old CSR, create, approve, wait, verify.
  const verbs = c.calls().map((call) =>
    call.argv
      .filter((a) => !a.startsWith('--kubeconfig') && !a.includes('/'))
      .slice(0, 2)
      .join(' '),
  );
  assert.equal(verbs.slice(0, 4), ['config view', `delete certificatesigningrequests.certificates.k8s.io`, 'create -f', 'certificate approve']);
  assert.ok(
    c.calls().findIndex((x) => x.argv.includes('delete')) < c.calls().findIndex((x) => x.argv.includes('create')),
    'old CSR deleted before the new one',
  );
  const csr = JSON.parse(calls('create')[0]!.stdin);
  new CertificateSigningRequest(csr).validate();
  assert.is(csr.apiVersion, 'certificates.k8s.io/v1');
  assert.is(csr.kind, 'CertificateSigningRequest');
  assert.is(csr.metadata.name, 'u1');
  assert.is(csr.spec.signerName, 'kubernetes.io/kube-apiserver-client');
  assert.is(csr.spec.expirationSeconds, 157680000);
  assert.equal(csr.spec.usages, ['client auth']);
  const csrPem = Buffer.from(csr.spec.request, 'base64').toString();
  const verify = await openssl(['req', '-verify', '-noout', '-subject', '-nameopt', 'RFC2253'], csrPem);
  assert.is(verify.exitCode, 0, verify.stderr);
  assert.match(verify.stdout + verify.stderr, /verify OK/i);
  assert.match(verify.stdout, /^subject=O=sysadmins,O=k8s,CN=u1$/m);

  const kubeDir = join(c.root, 'home/u1/.kube');
  const config = join(kubeDir, 'config');
  assert.is(mode(kubeDir), '700');
  assert.is(mode(config), '600');
  assert.is(statSync(kubeDir).uid, 2001);
  assert.is(statSync(config).uid, 2001);
  assert.equal(readdirSync(kubeDir), ['config'], 'no loose key, CSR or temp file');
  assert.is(sha(c.adminKubeconfig), adminBefore, "the admin's kubeconfig is not touched");
  assert.not.match(readFileSync(c.adminKubeconfig, 'utf8'), /client-key-data/);

  const doc = YAML.parse(readFileSync(config, 'utf8'));
  assert.is(doc['current-context'], 'default');
  assert.is(doc.clusters[0].cluster.server, 'https://192.168.122.70:6443');
  assert.is(Buffer.from(doc.clusters[0].cluster['certificate-authority-data'], 'base64').toString(), c.caPem);
  const keyPem = Buffer.from(doc.users[0].user['client-key-data'], 'base64').toString();
  const certPem = Buffer.from(doc.users[0].user['client-certificate-data'], 'base64').toString();
  const keyText = await openssl(['pkey', '-noout', '-text'], keyPem);
  assert.match(keyText.stdout, /Private-Key: \(2048 bit/);
  const certKey = await openssl(['x509', '-noout', '-pubkey'], certPem);
  const keyPub = await openssl(['pkey', '-pubout'], keyPem);
  assert.is(certKey.stdout, keyPub.stdout, 'the certificate is for the key in the kubeconfig');
  const subject = await openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], certPem);
  assert.match(subject.stdout, /O=sysadmins,O=k8s,CN=u1/);
});

withKubectl('create-kubeconfig: the user kubeconfig is accepted by kubectl config view / get-contexts', async () => {
  const config = join(c.root, 'home/u1/.kube/config');
  const view = await run(realKubectl, ['config', 'view', '--kubeconfig', config, '-o', 'json']);
  assert.is(view.exitCode, 0, view.stderr);
  const parsed = JSON.parse(view.stdout);
  assert.is(parsed.users[0].name, 'u1');
  assert.is(parsed.users[0].user['client-key-data'], 'DATA+OMITTED');
  const contexts = await run(realKubectl, ['config', 'get-contexts', '--kubeconfig', config, '-o', 'name']);
  assert.is(contexts.exitCode, 0, contexts.stderr);
  assert.is(contexts.stdout.trim(), 'default');
  const current = await run(realKubectl, ['config', 'current-context', '--kubeconfig', config]);
  assert.is(current.stdout.trim(), 'default');
});

test('create-kubeconfig: default group k8s; re-running replaces the CSR and the kubeconfig', async () => {
  c.setState([]);
  assert.is((await rbac('create-kubeconfig', ['--root', c.root, 'u2'])).exitCode, 0);
  const first = readFileSync(join(c.root, 'home/u2/.kube/config'), 'utf8');
  const subject = await openssl(
    ['req', '-noout', '-subject', '-nameopt', 'RFC2253'],
    Buffer.from(JSON.parse(calls('create')[0]!.stdin).spec.request, 'base64').toString(),
  );
  assert.match(subject.stdout, /^subject=O=k8s,CN=u2$/m);
  const r = await rbac('create-kubeconfig', ['--root', c.root, 'u2@u7s-admin']);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is.not(readFileSync(join(c.root, 'home/u2/.kube/config'), 'utf8'), first);
  assert.is(calls('delete').length, 2);
});

test('create-kubeconfig: system: groups refused unless --allow-system-groups; bad names refused before any call', async () => {
  c.setState([]);
  const refused = await rbac('create-kubeconfig', ['--root', c.root, 'u1', 'k8s', 'system:masters']);
  assert.is(refused.exitCode, 1);
  assert.match(refused.stderr, /system:masters is a Kubernetes system group/);
  for (const args of [['u1', 'a/b'], ['u1', 'O=evil'], ['u1', 'x\ny'], ["u1';touch /tmp/x;'"], []]) {
    const r = await rbac('create-kubeconfig', ['--root', c.root, ...args]);
    assert.is(r.exitCode, 1, JSON.stringify(args));
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.equal(c.calls(), [], 'nothing reached the cluster');
  const allowed = await rbac('create-kubeconfig', ['--root', c.root, '--allow-system-groups', 'u1', 'system:masters']);
  assert.is(allowed.exitCode, 0, allowed.stderr);
});

test('create-kubeconfig: waits for a late certificate; bounded wait; denial; wrong certificate; unknown user', async () => {
  c.setState([], { issueAfter: 3 });
  const late = await rbac('create-kubeconfig', ['--root', c.root, 'u1']);
  assert.is(late.exitCode, 0, late.stderr);
  assert.ok(calls('get').filter((x) => x.argv.includes('certificatesigningrequests.certificates.k8s.io')).length >= 3);

  c.setState([], { mode: ['never-issue'] });
  const started = Date.now();
  const never = await rbac('create-kubeconfig', ['--root', c.root, '--timeout', '1', 'u2']);
  assert.is(never.exitCode, 1);
  assert.match(never.stderr, /not issued within 1 s/);
  assert.ok(Date.now() - started < 15_000);

  c.setState([], { mode: ['deny'] });
  const denied = await rbac('create-kubeconfig', ['--root', c.root, 'u1']);
  assert.is(denied.exitCode, 1);
  assert.match(denied.stderr, /was denied/);

  const before = readFileSync(join(c.root, 'home/u1/.kube/config'));
  c.setState([], { mode: ['wrong-key'] });
  const wrong = await rbac('create-kubeconfig', ['--root', c.root, 'u1']);
  assert.is(wrong.exitCode, 1);
  assert.match(wrong.stderr, /private key does not match the generated certificate/);
  assert.equal(readFileSync(join(c.root, 'home/u1/.kube/config')), before, 'nothing written on failure');

  c.setState([]);
  const unknown = await rbac('create-kubeconfig', ['--root', c.root, 'ghost']);
  assert.is(unknown.exitCode, 1);
  assert.match(unknown.stderr, /User ghost missing from the system/);

  c.setState([], { mode: ['api-unauthorized'] });
  const api = await rbac('create-kubeconfig', ['--root', c.root, 'u1']);
  assert.is(api.exitCode, 1);
  assert.match(api.stderr, /Request to get server API version failed/);
});

// ---------------------------------------------------------------------------------------------
// bindrole

test('bindrole: argument errors exit 1 before any API call', async () => {
  c.setState([]);
  const cases: [string[], RegExp][] = [
    [['u1', 'clusterrole', 'view'], /Format:/],
    [['u1', 'clusterrole', 'view', 'b', 'ns', 'x'], /Format:/],
    [['u1', 'foo', 'view', 'b'], /Invalid cluster role type foo/],
    [['u1', 'clusterrole', 'view', 'b', 'smf'], /namespace is not applicable to cluster role/],
    [['u1', 'role', 'r', 'b'], /When binding a regular role, you must specify a namespace/],
    [['u1', 'role=clusterrole', 'edit', 'b'], /When binding a regular role, you must specify a namespace/],
    [['ghost', 'clusterrole', 'view', 'b'], /User ghost does not exist/],
    [['system:kube-proxy', 'clusterrole', 'view', 'b'], /system identity/],
    [['u1', 'clusterrole', '$(id)', 'b'], /Invalid role name/],
  ];
  for (const [args, message] of cases) {
    const r = await rbac('bindrole', ['--root', c.root, ...args]);
    assert.is(r.exitCode, 1, args.join(' '));
    assert.match(r.stderr, message);
  }
  assert.equal(c.calls(), []);
});

async function dryRun(args: string[]): Promise<Record<string, any>> {
  const r = await run(realKubectl, [...args, '--dry-run=client', '-o', 'json'], { env: { KUBECONFIG: '/dev/null', HOME: c.dir } });
  assert.is(r.exitCode, 0, r.stderr);
  const object = JSON.parse(r.stdout);
  delete object.metadata.creationTimestamp;
  return object;
}
const withoutLabels = (o: any) => ({ ...o, metadata: Object.fromEntries(Object.entries(o.metadata).filter(([k]) => k !== 'labels')) });

withKubectl('bindrole: the bindings created equal kubectl create --dry-run=client output and the Kubernetes schema', async () => {
  const cases: [string[], string[], object[]][] = [
    [['u1', 'clusterrole', 'edit', 'sysadmin'], ['create', 'clusterrolebinding', 'sysadmin', '--clusterrole=edit', '--user=u1'], [clusterRole('edit')]],
    [
      ['u1', 'role=clusterrole', 'system:basic-user', 'basic-user', 'smf'],
      ['create', 'rolebinding', 'basic-user', '--clusterrole=system:basic-user', '--user=u1', '-n', 'smf'],
      [clusterRole('system:basic-user')],
    ],
    [['u1', 'role', 'r', 'b', 'ns'], ['create', 'rolebinding', 'b', '--role=r', '--user=u1', '-n', 'ns'], [role('ns', 'r')]],
  ];
  for (const [args, kubectlArgs, objects] of cases) {
    c.setState(objects);
    const r = await rbac('bindrole', ['--root', c.root, ...args]);
    assert.is(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, / created\n$/);
    const sent = JSON.parse(calls('create')[0]!.stdin);
    (sent.kind === 'ClusterRoleBinding' ? new ClusterRoleBinding(sent) : new RoleBinding(sent)).validate();
    assert.equal(sent.metadata.labels, { 'app.kubernetes.io/managed-by': 'podsec' });
    assert.equal(withoutLabels(sent), await dryRun(kubectlArgs), args.join(' '));
  }
});

test('bindrole: adds to an existing binding of the same role, keeps other subjects, idempotent, retries a conflict', async () => {
  c.setState([clusterRole('view'), binding('ClusterRoleBinding', 'sysview', 'ClusterRole', 'view', [U('zeta'), G('alpha')])], { mode: ['conflict-once'] });
  const r = await rbac('bindrole', ['--root', c.root, 'u1', 'clusterrole', 'view', 'sysview']);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.stdout, 'clusterrolebinding.rbac.authorization.k8s.io/sysview configured\n');
  assert.is(calls('replace').length, 2, 'the stale replace was refused and retried');
  const sent = JSON.parse(calls('replace')[1]!.stdin);
  new ClusterRoleBinding(sent).validate();
  assert.equal(sent.subjects, [U('zeta'), G('alpha'), U('u1')]);
  assert.equal(sent.roleRef, { apiGroup: RBAC, kind: 'ClusterRole', name: 'view' });
  assert.ok(sent.metadata.resourceVersion, 'replace is guarded by resourceVersion');
  c.calls();
  const again = await rbac('bindrole', ['--root', c.root, 'u1', 'clusterrole', 'view', 'sysview']);
  assert.is(again.exitCode, 0);
  assert.is(again.stdout, 'clusterrolebinding.rbac.authorization.k8s.io/sysview unchanged\n');
  const stored = c.objects().find((o) => o.metadata.name === 'sysview')!;
  assert.equal(stored.subjects, [U('zeta'), G('alpha'), U('u1')]);
});

test('bindrole: a binding of another role is an error, not a merge; a missing role is an error', async () => {
  c.setState([clusterRole('view'), clusterRole('edit'), binding('ClusterRoleBinding', 'sysview', 'ClusterRole', 'edit', [U('zeta')])]);
  const r = await rbac('bindrole', ['--root', c.root, 'u1', 'clusterrole', 'view', 'sysview']);
  assert.is(r.exitCode, 1);
  assert.match(r.stderr, /Binding sysview refers to ClusterRole edit, not to ClusterRole view/);
  assert.is(calls('replace').length + calls('create').length, 0);
  c.setState([]);
  const missing = await rbac('bindrole', ['--root', c.root, 'u1', 'role', 'myrole', 'b', 'ns']);
  assert.is(missing.exitCode, 1);
  assert.match(missing.stderr, /Role 'myrole' absent/);
  const missingCluster = await rbac('bindrole', ['--root', c.root, 'u1', 'clusterrole', 'nope', 'b']);
  assert.match(missingCluster.stderr, /Cluster role 'nope' absent/);
});

test('bindrole: system identities verbatim with --allow-system (upstream stripped the prefix)', async () => {
  c.setState([clusterRole('view')]);
  const r = await rbac('bindrole', ['--root', c.root, '--allow-system', 'system:kube-proxy', 'clusterrole', 'view', 'proxyview']);
  assert.is(r.exitCode, 0, r.stderr);
  assert.equal(JSON.parse(calls('create')[0]!.stdin).subjects, [U('system:kube-proxy')]);
});

// ---------------------------------------------------------------------------------------------
// unbindrole

test('unbindrole: removes only the User subject; deletes the emptied binding; idempotent; role must match', async () => {
  c.setState([binding('ClusterRoleBinding', 'sysview', 'ClusterRole', 'view', [U('u1'), G('u1'), U('u2')])]);
  const r = await rbac('unbindrole', ['u1', 'clusterrole', 'view', 'sysview']);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.stdout, 'clusterrolebinding.rbac.authorization.k8s.io/sysview configured\n');
  const sent = JSON.parse(calls('replace')[0]!.stdin);
  new ClusterRoleBinding(sent).validate();
  assert.equal(sent.subjects, [G('u1'), U('u2')], 'the group of the same name stays');

  const wrongRole = await rbac('unbindrole', ['u2', 'clusterrole', 'edit', 'sysview']);
  assert.is(wrongRole.exitCode, 1);
  assert.match(wrongRole.stderr, /refers to ClusterRole view, not to ClusterRole edit/);

  const notBound = await rbac('unbindrole', ['u1', 'clusterrole', 'view', 'sysview']);
  assert.is(notBound.exitCode, 0);
  assert.match(notBound.stderr, /User u1 missing from the role link sysview/);

  c.setState([binding('RoleBinding', 'adminofsmf', 'ClusterRole', 'edit', [U('u1')], 'smf')]);
  const last = await rbac('unbindrole', ['u1', 'role=clusterrole', 'edit', 'adminofsmf', 'smf']);
  assert.is(last.exitCode, 0, last.stderr);
  assert.is(last.stdout, 'rolebinding.rbac.authorization.k8s.io/adminofsmf deleted\n');
  assert.equal(calls('delete')[0]!.argv.slice(-5), ['rolebindings.rbac.authorization.k8s.io', 'adminofsmf', '--namespace', 'smf', '--ignore-not-found']);
  assert.equal(c.objects(), []);
  const again = await rbac('unbindrole', ['u1', 'role=clusterrole', 'edit', 'adminofsmf', 'smf']);
  assert.is(again.exitCode, 0);
  assert.match(again.stderr, /Binding adminofsmf absent/);
});

// ---------------------------------------------------------------------------------------------
// get-userroles

const compiled = new Ajv({ allErrors: true, strict: true }).compile(schema);
const validate = Object.assign((value: unknown): boolean => compiled(value), {
  get errors() {
    return compiled.errors;
  },
});

test('get-userroles: JSON and YAML against the JSON Schema; showRules reads Roles in their namespace; unbindCmd runs verbatim', async () => {
  const nasty = "it's-$(touch CANARY)";
  c.setState([
    clusterRole('view'),
    role('smf', 'reader'),
    binding('ClusterRoleBinding', 'sysview', 'ClusterRole', 'view', [U('u1'), U('u2')]),
    binding('ClusterRoleBinding', 'groupbound', 'ClusterRole', 'view', [G('u1')]),
    binding('RoleBinding', 'readers', 'Role', 'reader', [U('u1')], 'smf'),
    binding('RoleBinding', 'weird', 'ClusterRole', nasty, [U('u1')], 'smf'),
  ]);
  const r = await rbac('get-userroles', ['u1']);
  assert.is(r.exitCode, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.ok(validate(report), JSON.stringify(validate.errors));
  assert.equal(
    report.u1.clusterRoles.map((e: any) => e.bindName),
    ['sysview'],
  );
  assert.equal(Object.keys(report.u1.roles.namespaces[0]), ['smf']);
  assert.equal(
    report.u1.roles.namespaces[0].smf.map((e: any) => e.bindName),
    ['readers', 'weird'],
  );

  const yaml = await rbac('get-userroles', ['--output', 'yaml', 'u1']);
  assert.is(yaml.exitCode, 0, yaml.stderr);
  assert.equal(YAML.parse(yaml.stdout), report);

  const rules = await rbac('get-userroles', ['u1', 'showRules']);
  const withRules = JSON.parse(rules.stdout);
  assert.ok(validate(withRules), JSON.stringify(validate.errors));
  assert.equal(withRules.u1.clusterRoles[0].rules, clusterRole('view').rules);
  assert.equal(withRules.u1.roles.namespaces[0].smf[0].rules, role('smf', 'reader').rules);
  assert.is(withRules.u1.roles.namespaces[0].smf[1].rules, null, 'the role does not exist');
  assert.ok(
    calls('get').some((x) => x.argv.includes('roles.rbac.authorization.k8s.io') && x.argv.includes('smf')),
    'Role read in its namespace',
  );

  // Every unbindCmd runs in a shell as printed; the role name with $() stays data.
  const work = join(c.dir, 'shell');
  mkdirSync(work, { recursive: true });
  for (const entry of [...report.u1.clusterRoles, ...report.u1.roles.namespaces[0].smf]) {
    const ran = await run('sh', ['-c', entry.unbindCmd], { env: { ...c.env }, cwd: work });
    // The weird binding refers to a role name our validation refuses: that one fails cleanly.
    if (entry.bindName === 'weird') assert.is(ran.exitCode, 1, ran.stderr);
    else assert.is(ran.exitCode, 0, `${entry.unbindCmd}: ${ran.stderr}`);
  }
  assert.not.ok(existsSync(join(work, 'CANARY')), 'nothing from a role name ran');
  const after = JSON.parse((await rbac('get-userroles', ['u1'])).stdout);
  assert.equal(after.u1.clusterRoles, []);
  assert.equal(
    after.u1.roles.namespaces.map((n: any) => Object.keys(n)[0]),
    ['smf'],
  );

  const bad = await rbac('get-userroles', ['u1', 'foo']);
  assert.is(bad.exitCode, 1);
  assert.match(bad.stderr, /Invalid second parameter\./);
  assert.is((await rbac('get-userroles', [])).exitCode, 1);
  assert.is((await rbac('get-userroles', ['u1', 'showRules', 'x'])).exitCode, 1);
});

// ---------------------------------------------------------------------------------------------
// create-remoteplace and create-user

test('create-remoteplace: scp with --, IPv6 in brackets, 0700 ~/.kube and 0600 config; bad hosts never reach scp', async () => {
  const scpLog = join(c.dir, 'scp.log');
  writeFileSync(
    join(c.bin, 'scp'),
    `#!/bin/sh\nprintf '%s\\n' "$@" >> "${scpLog}"\nfor last; do :; done\nprintf 'apiVersion: v1\\nkind: Config\\n' > "$last"\n`,
    { mode: 0o755 },
  );
  const home = '/home/remote';
  mkdirSync(join(c.root, home), { recursive: true });
  chmodSync(join(c.root, home), 0o755);
  const r = await rbac('create-remoteplace', ['--root', c.root, 'fd00::1'], { HOME: home });
  assert.is(r.exitCode, 0, r.stderr);
  const args = readFileSync(scpLog, 'utf8').split('\n');
  assert.equal(args.slice(0, 3), ['-q', '--', '[fd00::1]:.kube/config']);
  assert.is(mode(join(c.root, home, '.kube')), '700');
  assert.is(mode(join(c.root, home, '.kube/config')), '600');
  assert.equal(readdirSync(join(c.root, home, '.kube')), ['config']);
  writeFileSync(scpLog, '');
  for (const bad of ['-oProxyCommand=touch /tmp/x', 'a;b', 'host:/etc/shadow']) {
    const refused = await rbac('create-remoteplace', ['--root', c.root, '--', bad], { HOME: home });
    assert.is(refused.exitCode, 1, bad);
    assert.match(refused.stderr, /Invalid host/);
  }
  assert.is(readFileSync(scpLog, 'utf8'), '');
  assert.is((await rbac('create-remoteplace', ['--root', c.root], { HOME: home })).exitCode, 1);
});

asRoot(withTools(base, ['openssl', 'useradd', 'setpriv']))(
  'create-user: refuses non-root, bad names and existing users; creates the account under --root',
  async () => {
    const nonRoot = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', join(c.bin, 'podsec-k8s-rbac-create-user'), 'newuser'], {
      env: c.env,
    });
    assert.is(nonRoot.exitCode, 1);
    assert.match(nonRoot.stderr, /must be run by a user with rights root/);
    assert.is((await rbac('create-user', ['--root', c.root])).exitCode, 1);
    assert.is((await rbac('create-user', ['--root', c.root, 'a', 'b'])).exitCode, 1);
    assert.match((await rbac('create-user', ['--root', c.root, 'u1'])).stderr, /User u1 exists/);
    assert.match((await rbac('create-user', ['--root', c.root, '../evil'])).stderr, /Invalid user name/);
    for (const f of ['shadow', 'gshadow']) writeFileSync(join(c.root, 'etc', f), '', { flag: 'a', mode: 0o600 });
    const r = await rbac('create-user', ['--root', c.root, '--no-password', 'newuser']);
    assert.is(r.exitCode, 0, r.stderr);
    const group = readFileSync(join(c.root, 'etc/group'), 'utf8');
    assert.match(group, /^k8s:x:990:newuser$/m);
    assert.match(group, /^podman:x:991:newuser$/m);
    const home = join(c.root, 'home/newuser');
    assert.is(mode(home), '700');
    assert.is(mode(join(home, '.kube')), '700');
    const passwd = readFileSync(join(c.root, 'etc/passwd'), 'utf8');
    const uid = Number(/^newuser:x:(\d+):/m.exec(passwd)![1]);
    assert.is(statSync(join(home, '.kube')).uid, uid);
  },
);

test('--help and --version for every program', async () => {
  for (const p of PROGRAMS) {
    const help = await rbac(p, ['--help']);
    assert.is(help.exitCode, 0);
    assert.match(help.stdout, new RegExp(`podsec-k8s-rbac-${p}`));
    assert.match(help.stdout, /--root DIR/);
    const version = await rbac(p, ['--version']);
    assert.is(version.stdout, `podsec-k8s-rbac-${p} (podsec) 2.0.0-test\n`);
  }
});

test.run();
