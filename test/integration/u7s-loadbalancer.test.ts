/**
 * The haproxy variant, with the real haproxy: the configuration podsec-u7s-loadbalancer writes,
 * in front of two TLS "API servers" on loopback (certificates from openssl, signed by a test CA
 * that haproxy's health checks verify), balances between them and keeps serving when one stops.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, request, type Server } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { run } from '../support/exec.ts';
import { withTools } from '../support/tools.ts';
import { testCertificates } from '../support/test-certificates.ts';
import { bundledPrograms, removeRoot } from '../support/u7s-fixtures.ts';

const test = withTools(base, ['haproxy', 'openssl']);
const work = mkdtempSync(join(tmpdir(), 'podsec-u7s-lb-'));
let bin = '';
let haproxy: ChildProcess | undefined;
const servers: { server: Server; sockets: Set<Duplex>; name: string; port: number }[] = [];

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

/** A stand-in API server: /healthz answers ok, everything else names the server. */
async function apiServer(name: string) {
  const port = await freePort();
  const sockets = new Set<Duplex>();
  const server = createHttpsServer({ key: readFileSync(join(work, `${name}.key`)), cert: readFileSync(join(work, `${name}.crt`)) }, (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end(req.url === '/healthz' ? 'ok' : name);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  servers.push({ server, sockets, name, port });
  return port;
}

/** One request through the balancer on a new connection; the client verifies the test CA. */
const get = (port: number) =>
  new Promise<string>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/version', ca: readFileSync(join(work, 'ca.crt')), agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });

base.after(async () => {
  if (haproxy && haproxy.exitCode === null) {
    const exited = new Promise((r) => haproxy!.once('exit', r));
    haproxy.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (haproxy.exitCode === null) haproxy.kill('SIGKILL');
  }
  for (const { server, sockets } of servers) {
    for (const s of sockets) s.destroy();
    server.close();
  }
  rmSync(work, { recursive: true, force: true });
  if (bin) removeRoot(bin);
});

test('haproxy from podsec-u7s-loadbalancer balances two TLS API servers and keeps serving when one stops', async () => {
  bin = await bundledPrograms(['podsec-u7s-loadbalancer']);
  await testCertificates(work, 'u7s test CA', [
    { name: 'master-1', altNames: 'IP:127.0.0.1' },
    { name: 'master-2', altNames: 'IP:127.0.0.1' },
  ]);
  const ports = [await apiServer('master-1'), await apiServer('master-2')];
  const front = await freePort();
  const made = await run(process.execPath, [
    join(bin, 'podsec-u7s-loadbalancer'),
    '--root',
    work,
    'haproxy',
    ...ports.flatMap((p) => ['--master', `127.0.0.1:${p}`]),
    '--bind',
    `127.0.0.1:${front}`,
    '--check-interval',
    '300',
    '--ca-file',
    join(work, 'ca.crt'),
    '--output',
    '/haproxy.cfg',
  ]);
  assert.is(made.exitCode, 0, made.stderr);
  const check = await run('haproxy', ['-c', '-f', join(work, 'haproxy.cfg')]);
  assert.is(check.exitCode, 0, check.stdout + check.stderr);

  haproxy = spawn('haproxy', ['-db', '-f', join(work, 'haproxy.cfg')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  haproxy.stdout!.on('data', (d) => (log += d));
  haproxy.stderr!.on('data', (d) => (log += d));

  // Both servers answer through the frontend once their health checks pass (bounded: 10 s).
  const seen = new Set<string>();
  for (let i = 0; i < 100 && seen.size < 2; i++) {
    const body = await get(front).catch(() => '');
    if (body) seen.add(body);
    else await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal([...seen].sort(), ['master-1', 'master-2'], `round robin reaches both\n${log}`);

  // Stop master-1: every request is still served, by master-2 (retry and redispatch at once, the health check soon after).
  const first = servers[0]!;
  for (const s of first.sockets) s.destroy();
  await new Promise<void>((resolve) => first.server.close(() => resolve()));
  const answers: string[] = [];
  for (let i = 0; i < 20; i++) answers.push(await get(front));
  assert.equal([...new Set(answers)], ['master-2'], `served by the remaining server\n${log}`);
});

test.run();
