/**
 * The master's service configs and the fixtures other trust tests start them with: the generated
 * nginx config passes `nginx -t`, serves a tree read-only with JSON listings, refuses writes; the
 * generated registry config serves /v2/; the shipped units verify with systemd-analyze and their
 * ExecStart lines are what the fixtures run. On free 127.0.0.1 ports, stopped by PID.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommandError } from '../../bin/lib/command.ts';
import { checkNginxConfig } from '../../bin/trust/services/create-services.ts';
import { sigstoreNginxConfig } from '../../bin/trust/services/service-configs.ts';
import { renderContent } from '../../scripts/render.ts';
import { withTools } from '../support/tools.ts';
import { freePort, httpGet, parseUnit, startRegistry, startSigstoreServer, type Service } from '../support/trust-fixtures.ts';
import { run } from '../support/exec.ts';

const it = withTools(test, ['nginx', 'docker-registry', 'systemd-analyze']);
const work = mkdtempSync(join(tmpdir(), 'podsec-svc-'));
chmodSync(work, 0o755);
const services: Service[] = [];

it.after(async () => {
  for (const service of services) await service.stop();
  rmSync(work, { recursive: true, force: true });
});

const context = { branch: 'p11' as const, version: '2.0.0', release: 'alt1' };

it("nginx -t accepts the generated config and rejects a broken one with nginx's message", async () => {
  checkNginxConfig(sigstoreNginxConfig({ listen: `127.0.0.1:${await freePort()}` }));
  assert.throws(
    () => checkNginxConfig(sigstoreNginxConfig({ listen: '127.0.0.1:1' }).replace('autoindex on;', 'autoindex maybe;')),
    (e: unknown) =>
      e instanceof CommandError &&
      /nginx rejects the signature server configuration: .*autoindex/.test(e.message) &&
      e.message.includes('/etc/podsec/sigstore/nginx.conf'),
  );
});

it('signature server: JSON listings of /keys/, files served, writes refused', async () => {
  const docroot = join(work, 'www');
  mkdirSync(join(docroot, 'keys'), { recursive: true, mode: 0o755 });
  writeFileSync(join(docroot, 'keys/alice.pgp'), 'alice\n', { mode: 0o644 });
  const listen = `127.0.0.1:${await freePort()}`;
  const server = await startSigstoreServer({ listen, documentRoot: docroot });
  services.push(server);
  const listing = await httpGet(`http://${listen}/keys/`);
  assert.is(listing.status, 200);
  const entries = JSON.parse(listing.body.toString('utf8'));
  assert.is(entries.length, 1);
  assert.is(entries[0].name, 'alice.pgp');
  assert.is(entries[0].size, 6);
  assert.is((await httpGet(`http://${listen}/keys/alice.pgp`)).body.toString('utf8'), 'alice\n');
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(`http://${listen}/keys/alice.pgp`, { method: 'PUT', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end('mallory');
  });
  assert.is(status, 403);
  await server.stop();
  const after = await httpGet(`http://${listen}/keys/`, { timeoutMs: 1000 }).then(
    () => 'answered',
    (e: Error) => e.message,
  );
  assert.match(after, /ECONNREFUSED/, 'stopped by PID');
});

it('registry: the generated config serves /v2/ and stores under the given directory', async () => {
  const addr = `127.0.0.1:${await freePort()}`;
  const registry = await startRegistry({ addr, storage: join(work, 'registry'), configDir: work });
  services.push(registry);
  assert.is((await httpGet(`http://${addr}/v2/`)).status, 200);
  assert.is((await httpGet(`http://${addr}/v2/_catalog`)).body.toString('utf8').trim(), '{"repositories":[]}');
  await registry.stop();
});

it('units: systemd-analyze verify is clean; the ExecStart lines are what the fixtures parse', async () => {
  const dir = join(work, 'units');
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const name of ['podsec-sigstore.service', 'podsec-registry.service']) {
    const text = await renderContent({ ejs: `units/${name}.ejs` }, context);
    writeFileSync(join(dir, name), text);
    files.push(join(dir, name));
    const unit = parseUnit(text);
    assert.ok(unit.execStart[0]!.startsWith('/usr/'), unit.execStart.join(' '));
  }
  const verified = await run('systemd-analyze', ['verify', '--man=no', ...files]);
  assert.is(verified.stderr, '', verified.stderr);
  assert.is(verified.exitCode, 0);
  const sigstore = parseUnit(await renderContent({ ejs: 'units/podsec-sigstore.service.ejs' }, context));
  assert.equal(sigstore.execStart, ['/usr/sbin/nginx', '-p', '/run/podsec-sigstore/', '-c', '/etc/podsec/sigstore/nginx.conf', '-e', 'stderr']);
  assert.equal(sigstore.runtimeDirectories, ['/run/podsec-sigstore']);
  assert.equal(sigstore.execStartPre, [
    ['/usr/sbin/nginx', '-t', '-q', '-p', '/run/podsec-sigstore/', '-c', '/etc/podsec/sigstore/nginx.conf', '-e', 'stderr'],
  ]);
});

it.run();
