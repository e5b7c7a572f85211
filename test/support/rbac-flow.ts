/**
 * The podsec-k8s-rbac flow against a real cluster, registered on a uvu suite: create-kubeconfig
 * (a real CSR, approved and issued by the cluster's kube-apiserver-client signer) → the fresh user
 * is forbidden → bindrole (cluster and namespaced) → the user's own kubeconfig has exactly those
 * rights → get-userroles (JSON Schema, showRules) → the printed unbindCmd runs as is → unbindrole
 * → the rights are gone. Everything it creates is named podsec-test-<random> and deleted
 * afterwards. Used by test/cluster/rbac.test.ts (any cluster, $KUBECONFIG) and by the one-node
 * cluster test (the cluster of npm run cluster).
 */
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import AjvModule from 'ajv';
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import schema from '../../policies/rbac/get-userroles.schema.ts';
import { bundleProgram } from '../../scripts/bundle.ts';
import { run, type Ran } from './exec.ts';

const Ajv = AjvModule as unknown as typeof AjvModule.default;

export interface RbacFlowOptions {
  /** A cluster-admin kubeconfig (a function: it may exist only once the suite's own hooks ran). */
  admin: () => string;
  /** The kubectl to use (default: the one on PATH). */
  kubectl?: () => string;
  /** Told the test user's name (to look for its requests in the audit log). */
  onUser?: (user: string) => void;
}

export function registerRbacFlow(test: Test, options: RbacFlowOptions): void {
  const id = randomBytes(4).toString('hex');
  const user = `podsec-test-${id}`;
  const group = `podsec-test-group-${id}`;
  const namespace = `podsec-test-${id}`;
  const clusterBinding = `podsec-test-view-${id}`;
  const nsBinding = `podsec-test-edit-${id}`;
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;

  let work = '';
  let bin = '';
  let root = '';
  let userConfig = '';

  const kubectl = (args: string[], kubeconfig = options.admin()): Promise<Ran> =>
    run(options.kubectl?.() ?? 'kubectl', ['--kubeconfig', kubeconfig, '--request-timeout=30s', ...args], { timeoutMs: 60_000 });
  const rbac = (program: string, args: string[]): Promise<Ran> =>
    run(join(bin, `podsec-k8s-rbac-${program}`), args, {
      env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, KUBECONFIG: options.admin(), HOME: work, LANG: 'C' },
      timeoutMs: 180_000,
    });
  /** `kubectl auth can-i` as the user, with the user's own kubeconfig: "yes" or "no". */
  const canI = async (args: string[]) => (await kubectl(['auth', 'can-i', ...args], userConfig)).stdout.trim();

  options.onUser?.(user);
  test.before(async () => {
    work = mkdtempSync(join(tmpdir(), 'podsec-rbac-cluster-'));
    chmodSync(work, 0o755);
    bin = join(work, 'bin');
    root = join(work, 'root');
    mkdirSync(bin);
    mkdirSync(join(root, 'etc'), { recursive: true });
    mkdirSync(join(root, 'home', user), { recursive: true, mode: 0o700 });
    writeFileSync(join(root, 'etc/passwd'), `root:x:0:0:root:/root:/bin/sh\n${user}:x:${uid}:${gid}::/home/${user}:/bin/sh\n`);
    writeFileSync(join(root, 'etc/group'), `root:x:0:\nk8s:x:990:${user}\n`);
    for (const p of ['create-kubeconfig', 'bindrole', 'unbindrole', 'get-userroles']) {
      const name = `podsec-k8s-rbac-${p}`;
      writeFileSync(join(bin, name), await bundleProgram(name, '2.0.0-cluster-test'), { mode: 0o755 });
    }
    userConfig = join(root, 'home', user, '.kube/config');
    const ns = await kubectl(['create', 'namespace', namespace]);
    assert.is(ns.exitCode, 0, ns.stderr);
  });

  test.after(async () => {
    // Everything created, by name; "not found" is fine (the flow removes most of it itself).
    await kubectl(['delete', 'clusterrolebinding', clusterBinding, '--ignore-not-found']);
    await kubectl(['delete', 'certificatesigningrequest', user, '--ignore-not-found']);
    await kubectl(['delete', 'namespace', namespace, '--ignore-not-found', '--wait=false']);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('create-kubeconfig: a real CSR is approved and issued; the kubeconfig is 0600 in a 0700 ~/.kube and authenticates', async () => {
    const r = await rbac('create-kubeconfig', ['--root', root, '--timeout', '120', user, 'k8s', group]);
    assert.is(r.exitCode, 0, r.stdout + r.stderr);
    assert.is((statSync(join(root, 'home', user, '.kube')).mode & 0o777).toString(8), '700');
    assert.is((statSync(userConfig).mode & 0o777).toString(8), '600');
    const config = YAML.parse(readFileSync(userConfig, 'utf8')) as { users: { user: Record<string, string> }[] };
    const certificate = new X509Certificate(Buffer.from(config.users[0]!.user['client-certificate-data']!, 'base64'));
    // One attribute per line, or several in one multi-valued line (Go's signer writes the O= values as one RDN).
    const attributes = certificate.subject.split(/\n|\s*\+\s*/);
    assert.ok(attributes.includes(`CN=${user}`), certificate.subject);
    assert.ok(attributes.includes('O=k8s'), certificate.subject);
    assert.ok(attributes.includes(`O=${group}`), certificate.subject);
    const csr = await kubectl(['get', 'certificatesigningrequest', user, '-o', 'json']);
    assert.is(csr.exitCode, 0, csr.stderr);
    const status = JSON.parse(csr.stdout).status as { conditions?: { type: string }[]; certificate?: string };
    assert.ok(
      status.conditions?.some((c) => c.type === 'Approved'),
      'the CSR is Approved',
    );
    assert.ok(status.certificate, 'the CSR is issued');
    const api = await kubectl(['get', '--raw', '/api'], userConfig);
    assert.is(api.exitCode, 0, api.stderr);
    assert.is(JSON.parse(api.stdout).kind, 'APIVersions');
    // Who the apiserver takes the user for: the name and both groups of the certificate.
    const whoami = await kubectl(['auth', 'whoami', '-o', 'json'], userConfig);
    if (whoami.exitCode === 0) {
      const info = JSON.parse(whoami.stdout).status.userInfo as { username: string; groups: string[] };
      assert.is(info.username, user);
      for (const g of ['k8s', group]) assert.ok(info.groups.includes(g), `${g} not in ${info.groups.join(', ')}`);
    } else assert.match(whoami.stderr, /unknown command|SelfSubjectReview|not found/, whoami.stderr);
    // The administrator's kubeconfig never receives the user's key.
    assert.not.ok(readFileSync(options.admin(), 'utf8').includes(config.users[0]!.user['client-key-data']!));
  });

  test('a fresh user is authenticated as itself and forbidden everything', async () => {
    const r = await kubectl(['get', 'pods', '--namespace', namespace], userConfig);
    assert.is.not(r.exitCode, 0);
    assert.match(r.stderr, new RegExp(`User "${user}" cannot list resource "pods"`));
    assert.is(await canI(['list', 'pods', '--all-namespaces']), 'no');
  });

  test('bindrole: clusterrole view and role=clusterrole edit in a namespace; the user gets exactly those rights; binding again changes nothing', async () => {
    const c = await rbac('bindrole', ['--root', root, user, 'clusterrole', 'view', clusterBinding]);
    assert.is(c.exitCode, 0, c.stderr);
    assert.is(c.stdout, `clusterrolebinding.rbac.authorization.k8s.io/${clusterBinding} created\n`);
    const n = await rbac('bindrole', ['--root', root, user, 'role=clusterrole', 'edit', nsBinding, namespace]);
    assert.is(n.exitCode, 0, n.stderr);
    assert.is(n.stdout, `rolebinding.rbac.authorization.k8s.io/${nsBinding} created\n`);
    const again = await rbac('bindrole', ['--root', root, user, 'clusterrole', 'view', clusterBinding]);
    assert.is(again.exitCode, 0, again.stderr);
    assert.is(again.stdout, `clusterrolebinding.rbac.authorization.k8s.io/${clusterBinding} unchanged\n`);
    const mismatch = await rbac('bindrole', ['--root', root, user, 'clusterrole', 'edit', clusterBinding]);
    assert.is(mismatch.exitCode, 1, 'an existing binding to another role is an error');
    assert.match(mismatch.stderr, new RegExp(`Binding ${clusterBinding} refers to ClusterRole view, not to ClusterRole edit`));

    assert.is(await canI(['list', 'pods', '--all-namespaces']), 'yes');
    assert.is(await canI(['create', 'deployments.apps', '--namespace', namespace]), 'yes');
    assert.is(await canI(['create', 'deployments.apps', '--namespace', 'default']), 'no');
    assert.is(await canI(['delete', 'nodes']), 'no');
  });

  test('get-userroles: both bindings, in the documented shape (JSON Schema), with rules on showRules; YAML too', async () => {
    const r = await rbac('get-userroles', [user, 'showRules']);
    assert.is(r.exitCode, 0, r.stderr);
    const report: Record<string, any> = JSON.parse(r.stdout);
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    const valid: boolean = validate(structuredClone(report));
    assert.ok(valid, JSON.stringify(validate.errors));
    const mine = report[user];
    const clusterEntry = mine.clusterRoles.find((e: { bindName: string }) => e.bindName === clusterBinding);
    assert.ok(clusterEntry, r.stdout);
    assert.equal([clusterEntry.roleType, clusterEntry.roleName], ['ClusterRole', 'view']);
    assert.ok(Array.isArray(clusterEntry.rules) && clusterEntry.rules.length > 0, 'showRules gives the rules of view');
    const nsEntries = mine.roles.namespaces.find((o: Record<string, unknown>) => namespace in o)?.[namespace];
    assert.equal(
      nsEntries?.map((e: { bindName: string; roleType: string; roleName: string }) => [e.bindName, e.roleType, e.roleName]),
      [[nsBinding, 'ClusterRole', 'edit']],
    );
    const yaml = await rbac('get-userroles', ['--output', 'yaml', user]);
    assert.is(yaml.exitCode, 0, yaml.stderr);
    assert.equal(Object.keys(YAML.parse(yaml.stdout)), [user]);
  });

  test('the unbindCmd printed by get-userroles runs as is; unbindrole removes the rest; the rights are gone; again is idempotent', async () => {
    const report = JSON.parse((await rbac('get-userroles', [user])).stdout);
    const unbindCmd = report[user].clusterRoles.find((e: { bindName: string }) => e.bindName === clusterBinding).unbindCmd as string;
    const viaShell = await run('sh', ['-c', unbindCmd], {
      env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, KUBECONFIG: options.admin(), LANG: 'C' },
      timeoutMs: 120_000,
    });
    assert.is(viaShell.exitCode, 0, viaShell.stderr);
    assert.is(viaShell.stdout, `clusterrolebinding.rbac.authorization.k8s.io/${clusterBinding} deleted\n`);
    const gone = await kubectl(['get', 'clusterrolebinding', clusterBinding]);
    assert.match(gone.stderr, /NotFound/);

    const n = await rbac('unbindrole', [user, 'role=clusterrole', 'edit', nsBinding, namespace]);
    assert.is(n.exitCode, 0, n.stderr);
    assert.is(n.stdout, `rolebinding.rbac.authorization.k8s.io/${nsBinding} deleted\n`);

    assert.is(await canI(['list', 'pods', '--all-namespaces']), 'no');
    assert.is(await canI(['create', 'deployments.apps', '--namespace', namespace]), 'no');
    const after = JSON.parse((await rbac('get-userroles', [user])).stdout);
    assert.equal(after, { [user]: { clusterRoles: [], roles: { namespaces: [] } } });

    const again = await rbac('unbindrole', [user, 'clusterrole', 'view', clusterBinding]);
    assert.is(again.exitCode, 0, again.stderr);
    assert.is(again.stdout, `clusterrolebinding.rbac.authorization.k8s.io/${clusterBinding} unchanged\n`);
  });
}
