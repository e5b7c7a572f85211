/**
 * `--json` of the commands that report state: real output of each program, validated with ajv
 * against the JSON Schema it documents (policies/schemas/<command>.schema.ts).
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import AjvModule from 'ajv';
import platformSchema from '../../policies/schemas/podsec-get-platform.schema.ts';
import userRolesSchema from '../../policies/schemas/podsec-k8s-rbac-get-userroles.schema.ts';
import imagesSchema from '../../policies/schemas/podsec-inotify-check-images.schema.ts';
import kubeapiSchema from '../../policies/schemas/podsec-inotify-check-kubeapi.schema.ts';
import vulnSchema from '../../policies/schemas/podsec-inotify-check-vuln.schema.ts';
import policySchema from '../../policies/schemas/podsec-inotify-check-policy.schema.ts';
import preflightSchema from '../../policies/schemas/podsec-u7s-preflight.schema.ts';
import { inotifyProgram, JOURNAL_ENV } from '../support/inotify-programs.ts';
import { COMPLIANT_POLICY, podsecTree, type Tree } from '../support/inotify-tree.ts';
import { fakeCluster } from '../support/rbac-fake-cluster.ts';
import { run } from '../support/exec.ts';
import { runTs } from '../support/exec.ts';
import { withTools } from '../support/tools.ts';
const Ajv = AjvModule as unknown as typeof AjvModule.default;

const ajv = new Ajv({ allErrors: true, strict: true });
/** Parses stdout as exactly one JSON document and validates it against `schema`. */
function validJson(schema: object, stdout: string, what: string): any {
  const value = JSON.parse(stdout);
  const validate = ajv.getSchema((schema as { $id: string }).$id) ?? ajv.compile(schema);
  assert.ok(validate(value), `${what}: ${JSON.stringify(validate.errors)}\n${stdout}`);
  return value;
}

function rootWith(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'podsec-json-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

// ---------------------------------------------------------------------------------------------
// podsec-get-platform

test('podsec-get-platform --json: platform and source for each source, valid against its schema', async () => {
  const cases: [Record<string, string>, Record<string, string>, object][] = [
    [{ 'etc/os-release': 'ID=altlinux\nALT_BRANCH_ID=c10f2\n' }, {}, { platform: 'c10f', source: 'ALT_BRANCH_ID' }],
    [{ 'etc/os-release': 'ID=altlinux\nCPE_NAME="cpe:/o:alt:server:11.0"\n' }, {}, { platform: 'p11', source: 'CPE_NAME' }],
    [{ 'etc/os-release': 'ID=altlinux\nALT_BRANCH_ID=p10\n' }, { U7S_PLATFORM: 'sisyphus' }, { platform: 'sisyphus', source: 'U7S_PLATFORM' }],
  ];
  for (const [files, env, expected] of cases) {
    const root = rootWith(files);
    try {
      const r = await runTs('bin/podsec-get-platform.ts', ['--json', '--root', root], {
        env: { U7S_PLATFORM: undefined, LANG: 'C', LC_ALL: undefined, ...env },
        timeoutMs: 30_000,
      });
      assert.is(r.exitCode, 0, r.stderr);
      assert.equal(validJson(platformSchema, r.stdout, 'get-platform'), expected);
      assert.ok(r.stdout.endsWith('}\n'));
      const plain = await runTs('bin/podsec-get-platform.ts', ['--root', root], {
        env: { U7S_PLATFORM: undefined, LANG: 'C', LC_ALL: undefined, ...env },
        timeoutMs: 30_000,
      });
      assert.is(plain.stdout, `${(expected as { platform: string }).platform}\n`, 'without --json: the name only');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// podsec-k8s-rbac-get-userroles

withTools(test, ['openssl'])(
  'podsec-k8s-rbac-get-userroles --json: the same document as --output json, valid; --json with ' + '--output yaml is refused',
  async () => {
    const c = await fakeCluster();
    const RBAC = 'rbac.authorization.k8s.io';
    try {
      c.setState([
        {
          apiVersion: `${RBAC}/v1`,
          kind: 'ClusterRoleBinding',
          metadata: { name: 'sysview' },
          roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'view' },
          subjects: [{ kind: 'User', apiGroup: RBAC, name: 'u1' }],
        },
        {
          apiVersion: `${RBAC}/v1`,
          kind: 'RoleBinding',
          metadata: { name: 'readers', namespace: 'smf' },
          roleRef: { apiGroup: RBAC, kind: 'Role', name: 'reader' },
          subjects: [{ kind: 'User', apiGroup: RBAC, name: 'u1' }],
        },
      ]);
      const get = (args: string[]) => runTs('bin/podsec-k8s-rbac-get-userroles.ts', args, { env: { ...c.env, LANG: 'C' }, timeoutMs: 60_000 });
      const json = await get(['--json', 'u1']);
      assert.is(json.exitCode, 0, json.stderr);
      const report = validJson(userRolesSchema, json.stdout, 'get-userroles');
      assert.equal(
        report.u1.clusterRoles.map((e: any) => e.bindName),
        ['sysview'],
      );
      const output = await get(['--output', 'json', 'u1']);
      assert.is(output.stdout, json.stdout, '--json is --output json');
      assert.is((await get(['--json', '--output', 'json', 'u1'])).stdout, json.stdout);
      const both = await get(['--json', '--output', 'yaml', 'u1']);
      assert.is(both.exitCode, 1);
      assert.match(both.stderr, /--json and --output yaml exclude each other/);
      assert.is(both.stdout, '');
    } finally {
      c.cleanup();
    }
  },
);

/** Runs `body` with the bundled inotify `name` and a fresh podsec tree, removed afterwards. */
async function onTree(name: string, body: (program: string, tree: Tree) => Promise<void>): Promise<void> {
  const program = await inotifyProgram(name);
  const tree = podsecTree();
  try {
    await body(program, tree);
  } finally {
    tree.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------
// podsec-inotify-check-policy, podsec-inotify-check-images (one-shot plugin mode)

const journalOf = (stderr: string) => stderr.split('\n').filter((l) => l !== '');

test('podsec-inotify-check-policy --json: OK, CRITICAL, WARNING and UNKNOWN documents, valid; same exit codes and journal as the status line', async () => {
  await onTree('podsec-inotify-check-policy', async (program, tree) => {
    const check = (args: string[]) => run(program, ['--root', tree.root, ...args], { env: JOURNAL_ENV });
    const ok = await check(['--json']);
    assert.is(ok.exitCode, 0, ok.stderr);
    assert.equal(validJson(policySchema, ok.stdout, 'OK'), { status: 'OK', exitCode: 0, violations: 0, findings: [] });

    tree.write('etc/containers/policy.json', JSON.stringify({ ...COMPLIANT_POLICY, default: [{ type: 'insecureAcceptAnything' }] }));
    const text = await check([]);
    const critical = await check(['--json']);
    assert.is(critical.exitCode, 2);
    assert.is(critical.exitCode, text.exitCode);
    assert.equal(journalOf(critical.stderr), journalOf(text.stderr), 'the journal is the same with --json');
    const doc = validJson(policySchema, critical.stdout, 'CRITICAL');
    assert.is(doc.status, 'CRITICAL');
    assert.is(doc.violations, 102);
    assert.equal(doc.findings, [
      { code: 102, weight: 102, severity: 'Critical', users: ['root'], message: doc.findings[0].message, details: doc.findings[0].details },
    ]);
    assert.match(text.stdout, `violations=${doc.violations}`);
    assert.ok(journalOf(critical.stderr).some((l) => l.includes(`Critical(102): Users "root" ${doc.findings[0].message}`)));

    const warning = await check(['-w', '0', '-c', '1000', '--json', '-vvv']);
    assert.is(warning.exitCode, 1);
    const w = validJson(policySchema, warning.stdout, 'WARNING');
    assert.is(w.status, 'WARNING');
    assert.is(w.findings[0].severity, null, 'under every journal threshold: not logged');
    assert.equal(journalOf(warning.stderr), []);

    const unknown = await check(['-c', 'ten', '--json']);
    assert.is(unknown.exitCode, 3);
    assert.equal(validJson(policySchema, unknown.stdout, 'UNKNOWN'), { status: 'UNKNOWN', exitCode: 3, reason: 'invalid threshold range "ten"', findings: [] });

    const watch = await check(['--watch', '--json']);
    assert.is(watch.exitCode, 3, 'an invalid command line is UNKNOWN (3), as the table says');
    assert.match(watch.stderr, /--json is for the one-shot check/);
  });
});

test('podsec-inotify-check-images --json: findings per code with users and details, valid; same exit code as the status line', async () => {
  await onTree('podsec-inotify-check-images', async (program, tree) => {
    const storage = 'var/lib/containers/storage/overlay-images/images.json';
    const hex = 'a'.repeat(64);
    tree.write(storage, JSON.stringify([{ id: hex, names: ['docker.io/library/outside:1'], digest: `sha256:${hex}`, created: '2026-01-01T00:00:00Z' }]));
    const check = (args: string[]) => run(program, ['--root', tree.root, ...args], { env: JOURNAL_ENV, timeoutMs: 60_000 });
    const text = await check([]);
    const r = await check(['--json']);
    assert.is(r.exitCode, text.exitCode);
    assert.is(r.exitCode, 2, r.stdout + r.stderr);
    const doc = validJson(imagesSchema, r.stdout, 'images');
    assert.is(doc.status, 'CRITICAL');
    assert.equal(
      doc.findings.map((f: any) => [f.code, f.users, f.details]),
      [[103, ['root'], ['"root": "docker.io/library/outside:1"']]],
    );
    assert.equal(journalOf(r.stderr), journalOf(text.stderr));

    tree.write(storage, '[]');
    const ok = await check(['--json']);
    assert.is(ok.exitCode, 0);
    assert.equal(validJson(imagesSchema, ok.stdout, 'images OK'), { status: 'OK', exitCode: 0, violations: 0, findings: [] });
  });
});

// ---------------------------------------------------------------------------------------------
// podsec-inotify-check-kubeapi -m

test('podsec-inotify-check-kubeapi -m --json: the digest counted per user, verb, resource and namespace, valid; the journal line stays', async () => {
  await onTree('podsec-inotify-check-kubeapi', async (program, tree) => {
    const line = (time: string, user: string, verb: string, resource: string, ns: string | null) =>
      JSON.stringify([time, '10.0.0.1', user, verb, resource, ns, 'forbidden']);
    tree.write(
      'var/lib/podsec/u7s/log/kubeapi/forbidden.log',
      [
        line('2026-11-26T10:00:00Z', 'u1', 'list', 'pods', 'smf'),
        line('2026-11-26T10:00:01Z', 'u2', 'list', 'nodes', null),
        line('2026-11-26T10:00:02Z', 'u1', 'list', 'pods', 'smf'),
        'not json',
        '',
      ].join('\n'),
      0o600,
    );
    const r = await run(program, ['-m', '--json', '--root', tree.root], { env: JOURNAL_ENV });
    assert.is(r.exitCode, 0, r.stderr);
    assert.equal(validJson(kubeapiSchema, r.stdout, 'digest'), {
      total: 3,
      from: '2026-11-26T10:00:00Z',
      to: '2026-11-26T10:00:02Z',
      requests: [
        { user: 'u1', verb: 'list', resource: 'pods', namespace: 'smf', count: 2 },
        { user: 'u2', verb: 'list', resource: 'nodes', namespace: null, count: 1 },
      ],
    });
    assert.match(
      r.stderr,
      new RegExp(
        String.raw`^<5>Low: 3 forbidden requests to the Kubernetes API from 2026-11-26T10:00:00Z to 2026-11-26T10:00:02Z: ` +
          String.raw`user "u1" "list" "pods" in "smf" ×2; user "u2" "list" "nodes" ×1$`,
        'm',
      ),
    );
    const empty = await run(program, ['-m', '--json', '--root', tree.root], { env: JOURNAL_ENV });
    assert.is(empty.exitCode, 0);
    assert.equal(validJson(kubeapiSchema, empty.stdout, 'empty digest'), { total: 0, from: null, to: null, requests: [] });
    assert.is(empty.stderr, '');
    const daemon = await run(program, ['-d', '--json', '--root', tree.root], { env: JOURNAL_ENV });
    assert.is(daemon.exitCode, 1);
    assert.match(daemon.stderr, /--json goes with -m/);
  });
});

// ---------------------------------------------------------------------------------------------
// podsec-inotify-check-vuln (trivy replaced by the test double of test/fixtures/inotify/trivy-double)

test('podsec-inotify-check-vuln --json: every scan with its counts, failures and unnamed images, valid; trivy absent is UNKNOWN', async () => {
  const program = await inotifyProgram('podsec-inotify-check-vuln');
  const tree = podsecTree();
  const bin = mkdtempSync(join(tmpdir(), 'podsec-json-trivy-'));
  try {
    symlinkSync(realpathSync(fileURLToPath(new URL('../fixtures/inotify/trivy-double', import.meta.url))), join(bin, 'trivy'));
    const list = [['registry.local/x/clean:1'], ['registry.local/x/critical:1'], ['registry.local/x/fail:1'], []].map((names, i) => {
      const hex = String(i + 1).repeat(64);
      return { id: hex, ...(names.length ? { names } : {}), digest: `sha256:${hex}` };
    });
    tree.write('var/lib/containers/storage/overlay-images/images.json', JSON.stringify(list));
    const scan = (path: string) => run(program, ['--json', '--root', tree.root], { env: { ...JOURNAL_ENV, PATH: path }, timeoutMs: 60_000 });
    const r = await scan(`${bin}:/usr/local/bin:/usr/bin:/bin`);
    assert.is(r.exitCode, 5, r.stderr);
    const doc = validJson(vulnSchema, r.stdout, 'vuln');
    assert.is(doc.status, 'CRITICAL');
    assert.equal(
      doc.images.map((i: any) => [i.user, i.image, i.exitCode, i.high, i.critical, typeof i.error]),
      [
        ['root', 'registry.local/x/clean:1', 0, 0, 0, 'undefined'],
        ['root', 'registry.local/x/critical:1', 5, 2, 1, 'undefined'],
        ['root', 'registry.local/x/fail:1', 3, 0, 0, 'string'],
      ],
    );
    assert.equal(doc.unnamed, [{ user: 'root', id: '4'.repeat(64) }]);
    assert.equal(doc.unreadable, []);
    assert.ok(journalOf(r.stderr).some((l) => l.startsWith('<2>Critical: In the image "registry.local/x/critical:1"')));

    const none = await scan(tree.root); // a PATH without trivy
    assert.is(none.exitCode, 3);
    assert.equal(validJson(vulnSchema, none.stdout, 'no trivy'), {
      status: 'UNKNOWN',
      exitCode: 3,
      images: [],
      unreadable: [],
      unnamed: [],
      reason: 'trivy is not installed',
    });
  } finally {
    tree.cleanup();
    rmSync(bin, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// podsec-u7s-preflight

test('podsec-u7s-preflight --json: every check of this host, valid; exit 1 exactly when one fails', async () => {
  const root = rootWith({
    'etc/passwd': 'root:x:0:0::/root:/bin/sh\nu7s-admin:x:990:990::/var/lib/u7s-admin:/bin/false\n',
    'etc/subuid': 'u7s-admin:200000:65536\n',
  });
  try {
    const r = await runTs('bin/podsec-u7s-preflight.ts', ['--json', '--no-ports', '--root', root], {
      env: { LANG: 'C', LC_ALL: undefined, LANGUAGE: undefined },
      timeoutMs: 30_000,
    });
    const checks = validJson(preflightSchema, r.stdout, 'preflight') as { id: string; status: string }[];
    assert.is(r.exitCode, checks.some((c) => c.status === 'fail') ? 1 : 0, r.stderr);
    assert.is(checks.find((c) => c.id === 'user')?.status, 'ok');
    assert.is(checks.find((c) => c.id === 'subuid')?.status, 'ok');
    assert.is(checks.find((c) => c.id === 'subgid')?.status, 'fail', 'no /etc/subgid in the tree');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
