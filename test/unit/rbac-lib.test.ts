/**
 * podsec-k8s-rbac's pure parts: name validation, shell quoting of unbindCmd, the objects we send
 * (validated against the Kubernetes OpenAPI schema by kubernetes-models), the get-userroles report
 * (validated against its JSON Schema by ajv), kubeconfig reading and writing.
 */
import AjvModule from 'ajv';
const Ajv = AjvModule as unknown as typeof AjvModule.default;
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { CertificateSigningRequest } from 'kubernetes-models/certificates.k8s.io/v1/CertificateSigningRequest';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import schema from '../../policies/rbac/get-userroles.schema.ts';
import { currentCluster, serverHost, userKubeconfig } from '../../bin/rbac/kubeconfig.ts';
import { checkGroupName, checkNamespace, checkRbacName, checkUserName, isRemoteHost, remoteOperand, shellCommand, shellQuote } from '../../bin/rbac/names.ts';
import { bindingObject, csrObject, isUserSubject, roleRef, sameRoleRef, userSubject } from '../../bin/rbac/objects.ts';
import { userRoles } from '../../bin/rbac/userroles.ts';

const throws = (fn: () => unknown) => assert.throws(fn as () => void);

test('user, group, namespace and RBAC names: conservative, data-only', () => {
  for (const ok of ['u1', 'alice', 'a.b-c_d', '_svc']) assert.is(checkUserName(ok), ok);
  for (const bad of ['', '-rf', '../x', 'a b', 'A', "a';touch /tmp/pwned;'", 'a\nb', 'system:kube-proxy', 'x'.repeat(40)]) throws(() => checkUserName(bad));
  assert.is(checkUserName('system:kube-proxy', true), 'system:kube-proxy');
  for (const ok of ['k8s', 'sysadmins', 'system:masters', 'dev@example.org', 'a:b.c']) assert.is(checkGroupName(ok), ok);
  for (const bad of ['', 'a/b', 'O=x', 'a,b', 'a\nb', 'a b', '/CN=x']) throws(() => checkGroupName(bad));
  assert.is(checkNamespace('smf'), 'smf');
  for (const bad of ['Smf', '-a', 'a_b', 'a.b', '']) throws(() => checkNamespace(bad));
  assert.is(checkRbacName('role', 'system:basic-user'), 'system:basic-user');
  for (const bad of ['a/b', '..', '.', 'a%b', '$(x)', 'a b']) throws(() => checkRbacName('binding', bad));
});

test('shellQuote: what sh reads back is the argument, whatever it holds', () => {
  const nasty = ["it's", '$(touch /tmp/pwned)', '`id`', 'a b', 'new\nline', '--', '', 'plain:name'];
  const printed = execFileSync('sh', ['-c', `printf '%s\\0' ${nasty.map(shellQuote).join(' ')}`], { encoding: 'utf8' });
  assert.equal(printed.split('\0').slice(0, -1), nasty);
  assert.is(shellCommand(['podsec-k8s-rbac-unbindrole', 'u', 'clusterrole', 'view', 'b']), 'podsec-k8s-rbac-unbindrole u clusterrole view b');
});

test('remote hosts for scp: names, IPv4, IPv6 (bracketed in the operand); no option injection', () => {
  for (const ok of ['192.168.122.70', 'admin.example.org', 'u@host', 'fd00::1', '[fd00::1]']) assert.ok(isRemoteHost(ok), ok);
  for (const bad of ['-oProxyCommand=x', 'a b', 'host:path', 'u@-x', '', 'a;b']) assert.not.ok(isRemoteHost(bad), bad);
  assert.is(remoteOperand('fd00::1', '.kube/config'), '[fd00::1]:.kube/config');
  assert.is(remoteOperand('u@10.0.0.1', '.kube/config'), 'u@10.0.0.1:.kube/config');
});

test('the CSR object validates against the Kubernetes schema (certificates.k8s.io/v1)', () => {
  const object = csrObject('u1', '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n');
  new CertificateSigningRequest(object as never).validate();
  assert.is(object.spec.signerName, 'kubernetes.io/kube-apiserver-client');
  assert.equal(object.spec.usages, ['client auth']);
  assert.is(object.spec.expirationSeconds, 157680000);
  assert.is(object.metadata!.labels['app.kubernetes.io/managed-by'], 'podsec');
});

test('binding objects validate against the Kubernetes schema; subjects and roleRefs compare exactly', () => {
  new ClusterRoleBinding(bindingObject('ClusterRoleBinding', 'sysview', roleRef('ClusterRole', 'view'), [userSubject('u1')]) as never).validate();
  const rb = bindingObject('RoleBinding', 'b', roleRef('Role', 'r'), [userSubject('u1')], 'smf');
  new RoleBinding(rb as never).validate();
  assert.is(rb.metadata!.namespace, 'smf');
  assert.ok(isUserSubject({ kind: 'User', name: 'u1', apiGroup: 'rbac.authorization.k8s.io' }, 'u1'));
  assert.ok(isUserSubject({ kind: 'User', name: 'u1' }, 'u1'));
  assert.not.ok(isUserSubject({ kind: 'Group', name: 'u1', apiGroup: 'rbac.authorization.k8s.io' }, 'u1'));
  assert.not.ok(isUserSubject({ kind: 'ServiceAccount', name: 'u1', namespace: 'x' }, 'u1'));
  assert.not.ok(isUserSubject({ kind: 'User', name: 'u10' }, 'u1'));
  assert.ok(sameRoleRef({ kind: 'ClusterRole', name: 'edit', apiGroup: 'rbac.authorization.k8s.io' }, roleRef('ClusterRole', 'edit')));
  assert.not.ok(sameRoleRef({ kind: 'Role', name: 'edit', apiGroup: 'rbac.authorization.k8s.io' }, roleRef('ClusterRole', 'edit')));
  assert.not.ok(sameRoleRef({ kind: 'ClusterRole', name: 'view' }, roleRef('ClusterRole', 'edit')));
});

const crb = (name: string, role: string, subjects: object[]) => ({
  kind: 'ClusterRoleBinding',
  metadata: { name },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
  subjects,
});
const rb = (ns: string, name: string, kind: string, role: string, subjects: object[]) => ({
  kind: 'RoleBinding',
  metadata: { name, namespace: ns },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: role },
  subjects,
});
const U = (name: string) => ({ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name });
const G = (name: string) => ({ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name });

const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
const assertSchema = (report: unknown) => assert.ok(validate(report), JSON.stringify(validate.errors));

test('get-userroles report: upstream shape, exact User match, sorted, valid against the JSON Schema', async () => {
  const report = await userRoles(
    'u1',
    [crb('sysview', 'view', [U('u1'), U('u2')]), crb('admins', 'cluster-admin', [G('u1')]), crb('a-first', 'edit', [U('u1')])],
    [
      rb('smf', 'adminofsmf', 'ClusterRole', 'edit', [U('u1')]),
      rb('default', 'x', 'Role', 'r', [U('u2')]),
      rb('abc', 'r1', 'Role', 'reader', [U('u1'), U('u1')]),
    ],
  );
  assertSchema(report);
  assert.equal(report, {
    u1: {
      clusterRoles: [
        { bindName: 'a-first', roleType: 'ClusterRole', roleName: 'edit', unbindCmd: 'podsec-k8s-rbac-unbindrole u1 clusterrole edit a-first' },
        { bindName: 'sysview', roleType: 'ClusterRole', roleName: 'view', unbindCmd: 'podsec-k8s-rbac-unbindrole u1 clusterrole view sysview' },
      ],
      roles: {
        namespaces: [
          { abc: [{ bindName: 'r1', roleType: 'Role', roleName: 'reader', unbindCmd: 'podsec-k8s-rbac-unbindrole u1 role reader r1 abc' }] },
          {
            smf: [
              {
                bindName: 'adminofsmf',
                roleType: 'ClusterRole',
                roleName: 'edit',
                unbindCmd: 'podsec-k8s-rbac-unbindrole u1 role=clusterrole edit adminofsmf smf',
              },
            ],
          },
        ],
      },
    },
  });
  const empty = await userRoles('nobody', [], []);
  assertSchema(empty);
  assert.equal(empty, { nobody: { clusterRoles: [], roles: { namespaces: [] } } });
});

test('get-userroles with rules: Role rules looked up in the binding namespace; a missing role is null', async () => {
  const asked: unknown[] = [];
  const report = await userRoles('u1', [crb('b', 'gone', [U('u1')])], [rb('smf', 'r', 'Role', 'reader', [U('u1')])], async (type, name, ns) => {
    asked.push([type, name, ns]);
    return name === 'gone' ? null : [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }];
  });
  assertSchema(report);
  assert.equal(asked, [
    ['ClusterRole', 'gone', undefined],
    ['Role', 'reader', 'smf'],
  ]);
  assert.is(report.u1!.clusterRoles[0]!.rules, null);
  assert.equal(report.u1!.roles.namespaces[0]!.smf![0]!.rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]);
});

test('the schema rejects what the shape forbids', () => {
  assert.not.ok(validate({}));
  assert.not.ok(validate({ a: { clusterRoles: [] } }));
  assert.not.ok(
    validate({
      a: { clusterRoles: [{ bindName: 'b', roleType: 'Group', roleName: 'r', unbindCmd: 'podsec-k8s-rbac-unbindrole a' }], roles: { namespaces: [] } },
    }),
  );
  assert.not.ok(validate({ a: { clusterRoles: [], roles: { namespaces: [{ x: [], y: [] }] } } }));
});

test('kubeconfig: current cluster of a minified config; server hosts incl. IPv6; user kubeconfig document', () => {
  const config = {
    'current-context': 'c2',
    contexts: [
      { name: 'c1', context: { cluster: 'one' } },
      { name: 'c2', context: { cluster: 'two', user: 'admin' } },
    ],
    clusters: [
      { name: 'one', cluster: { server: 'https://a:1' } },
      { name: 'two', cluster: { server: 'https://[fd00::1]:6443', 'certificate-authority-data': 'Q0E=' } },
    ],
  };
  assert.equal(currentCluster(config), { name: 'two', server: 'https://[fd00::1]:6443', certificateAuthorityData: 'Q0E=' });
  assert.is(currentCluster({}), undefined);
  assert.is(serverHost('https://192.168.122.70:6443'), '192.168.122.70');
  assert.is(serverHost('https://api.x:6443/'), 'api.x');
  assert.is(serverHost('https://[fd00::1]:6443'), 'fd00::1');
  assert.is(serverHost('nonsense'), undefined);
  const text = userKubeconfig({
    cluster: { name: 'two', server: 'https://h:6443', certificateAuthorityData: 'Q0E=' },
    user: 'u1',
    certificatePem: 'CERT',
    keyPem: 'KEY',
  });
  const doc = YAML.parse(text);
  assert.is(doc['current-context'], 'default');
  assert.equal(doc.contexts, [{ name: 'default', context: { cluster: 'two', user: 'u1' } }]);
  assert.is(Buffer.from(doc.users[0].user['client-key-data'], 'base64').toString(), 'KEY');
  assert.is(doc.clusters[0].cluster['certificate-authority-data'], 'Q0E=');
});

test.run();
