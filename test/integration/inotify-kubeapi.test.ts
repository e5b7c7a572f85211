/**
 * podsec-inotify-check-kubeapi on a synthetic audit log: 403/401 reported with user, verb and
 * resource; no replay after a restart (persistent cursor); nothing lost across a rotation (rename +
 * new file) that happened while it was down or while it runs; non-JSON lines survive; the digest (-m)
 * works; argument errors exit 1.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { podsecTree } from '../support/inotify-tree.ts';
import { Daemon, inotifyProgram, JOURNAL_ENV } from '../support/inotify-programs.ts';
import { run } from '../support/exec.ts';

let program: string;
test.before(async () => {
  program = await inotifyProgram('podsec-inotify-check-kubeapi');
});

let n = 0;
function event(code: number, user: string, verb = 'list', resource = 'pods', ns?: string): string {
  n++;
  return (
    JSON.stringify({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: `id-${n}`,
      stage: 'ResponseComplete',
      requestURI: `/api/v1/${ns ? `namespaces/${ns}/` : ''}${resource}`,
      verb,
      user: { username: user, groups: ['k8s', 'system:authenticated'] },
      sourceIPs: ['192.168.122.1'],
      objectRef: { resource, ...(ns ? { namespace: ns } : {}), apiVersion: 'v1' },
      responseStatus: {
        metadata: {},
        code,
        ...(code >= 400
          ? {
              status: 'Failure',
              reason: code === 403 ? 'Forbidden' : 'Unauthorized',
              message: `${resource} is forbidden: User "${user}" cannot ${verb} resource "${resource}"`,
            }
          : {}),
      },
      requestReceivedTimestamp: `2026-11-26T10:00:${String(n).padStart(2, '0')}.000000Z`,
      stageTimestamp: `2026-11-26T10:00:${String(n).padStart(2, '0')}.100000Z`,
    }) + '\n'
  );
}

test('argument errors exit 1 (and literal shell redirections are not silently taken)', async () => {
  for (const args of [[], ['-d', '-m'], ['-x'], ['-m', '>/dev/null', '2>&1']]) {
    const r = await run(program, args, { env: JOURNAL_ENV });
    assert.ok(r.exitCode === 1 || r.exitCode === 2, `${args.join(' ')}: ${r.exitCode}`);
    assert.match(r.stderr, /Invalid (number of parameters|value for 1st parameter)|unknown|Unknown/);
  }
});

test('-d: 403/401 with user, verb, resource; cursor: no replay on restart; rotation while down and while running loses nothing; -m digest', async () => {
  const tree = podsecTree();
  const auditDir = join(tree.root, 'etc/kubernetes/audit');
  mkdirSync(auditDir, { recursive: true });
  const log = join(auditDir, 'audit.log');
  writeFileSync(log, event(403, 'old-before-first-start'));
  const args = ['-d', '--root', tree.root, '-v'];
  let d = new Daemon(program, args);
  await d.waitFor(/^Debug: following/);
  appendFileSync(
    log,
    event(200, 'ok') +
      event(403, 'u1', 'create', 'deployments', 'smf') +
      'not json at all\n' +
      event(401, 'system:anonymous', 'get', 'nodes') +
      event(500, 'err'),
  );
  const forbiddenLine = await d.waitFor(/user "u1"/);
  assert.is(forbiddenLine.priority, 2);
  assert.match(
    forbiddenLine.text,
    new RegExp(
      String.raw`^Critical: Forbidden request \(403\) of user "u1": verb "create" resource "deployments" namespace "smf" ` +
        String.raw`from "192.168.122.1" at 2026-11-26T10:00:\d\d.000000Z: "deployments is forbidden`,
    ),
  );
  await d.waitFor(/\(401\) of user "system:anonymous": verb "get" resource "nodes"/);
  assert.is(await d.stop(), 0);
  assert.not.ok(
    d.lines.some((l) => /old-before-first-start|"ok"|"err"/.test(l.text)),
    'history, 200 and 500 are not reported',
  );

  // Down: one more event, then kube-apiserver rotates (rename + new file) and logs another.
  appendFileSync(log, event(403, 'before-rotation'));
  renameSync(log, join(auditDir, 'audit-2026-11-26T10-01-00.000.log'));
  writeFileSync(log, event(403, 'after-rotation'));
  d = new Daemon(program, args);
  await d.waitFor(/user "after-rotation"/);
  assert.ok(
    d.lines.some((l) => /user "before-rotation"/.test(l.text)),
    'the tail of the rotated file was read',
  );
  assert.not.ok(
    d.lines.some((l) => /user "u1"/.test(l.text)),
    'no replay after a restart',
  );
  // Running: rotate again.
  appendFileSync(log, event(403, 'live-old'));
  await d.waitFor(/user "live-old"/);
  renameSync(log, join(auditDir, 'audit-2026-11-26T10-02-00.000.log'));
  writeFileSync(log, event(403, 'live-new'));
  await d.waitFor(/user "live-new"/);
  assert.is(await d.stop(), 0);

  const stateDir = join(tree.root, 'var/lib/podsec/u7s/log/kubeapi');
  const forbiddenLog = readFileSync(join(stateDir, 'forbidden.log'), 'utf8').trim().split('\n');
  assert.is(forbiddenLog.length, 6);
  const digest = await run(program, ['-m', '--root', tree.root], { env: JOURNAL_ENV });
  assert.is(digest.exitCode, 0, digest.stderr);
  assert.match(
    digest.stderr,
    /^<5>Low: 6 forbidden requests to the Kubernetes API from 2026-11-26T10:00:\d\d.000000Z to .*: user "u1" "create" "deployments" in "smf" ×1/m,
  );
  assert.not.ok(existsSync(join(stateDir, 'forbidden.log')));
  assert.ok(existsSync(join(stateDir, 'forbidden.log.1')));
  const again = await run(program, ['-m', '--root', tree.root], { env: JOURNAL_ENV });
  assert.is(again.exitCode, 0);
  assert.is(again.stderr, '', 'nothing new, no digest');
  tree.cleanup();
});

test.run();
