/**
 * Tag discovery against stand-in registries on loopback (GET /v2/<name>/tags/list): plain HTTP
 * for registry.local only, HTTPS with certificate verification for every other registry (a
 * certificate from an unknown CA is refused), `latest` ignored, versions compared as numbers,
 * a missing tag stops the deployment with the export hint, U7S_SETAVAILABLEIMAGES=yes uses the
 * newest tags through the documents instead of re-tagging images.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttp, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeAccount } from '../../bin/u7s/lib/accounts.ts';
import { planDeploy } from '../../bin/u7s/lib/deploy-plan.ts';
import { checkRegistry } from '../../bin/u7s/lib/deploy-run.ts';
import { parseDeployArgs } from '../../bin/u7s/lib/kubeadm-flags.ts';
import { checkImages, httpFetch, listTags, type Fetch } from '../../bin/u7s/lib/registry.ts';
import { kubeVersion } from '../../bin/u7s/lib/values.ts';
import { run } from '../support/exec.ts';
import { withTools } from '../support/tools.ts';
import { HOST_FACTS, removeRoot, renderedRoot } from '../support/u7s-fixtures.ts';

const test = withTools(base, ['openssl']);
const work = mkdtempSync(join(tmpdir(), 'podsec-u7s-reg-'));
const TAGS: Record<string, string[]> = {
  'p11/kube-apiserver': ['v1.26.9', 'v1.26.10', 'latest', 'v1.27.1'],
  'p11/pause': ['3.9', '3.10'],
  'p11/etcd': ['3.5.9-0'],
  'p11/coredns': ['v1.10.1'],
};
const requests: string[] = [];
const handler = (req: IncomingMessage, res: ServerResponse) => {
  requests.push(req.url ?? '');
  const name = /^\/v2\/(.+)\/tags\/list$/.exec(req.url ?? '')?.[1];
  if (!name || !TAGS[name]) {
    res.writeHead(404).end('{"errors":[{"code":"NAME_UNKNOWN"}]}');
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ name, tags: TAGS[name] }));
};
const http = createHttp(handler);
let https: ReturnType<typeof createHttps> | undefined;
let httpPort = 0;
let httpsPort = 0;
let root = '';

/** Every name resolves to 127.0.0.1 (registry.local, registry.example): the stand-ins are on loopback. */
const lookup = ((_host: string, options: unknown, callback: (...args: unknown[]) => void) => {
  const cb = typeof options === 'function' ? (options as typeof callback) : callback;
  if (typeof options === 'object' && options && (options as { all?: boolean }).all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
}) as never;

base.before(async () => {
  root = await renderedRoot();
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  httpPort = (http.address() as AddressInfo).port;
  for (const args of [
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=u7s test CA'],
    ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'reg.key', '-out', 'reg.csr', '-subj', '/CN=registry.example'],
  ]) {
    const r = await run('openssl', args, { cwd: work });
    if (r.exitCode !== 0) throw new Error(r.stderr);
  }
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(work, 'ext'), 'subjectAltName=DNS:registry.example\n');
  const signed = await run(
    'openssl',
    ['x509', '-req', '-in', 'reg.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'reg.crt', '-days', '1', '-extfile', 'ext'],
    { cwd: work },
  );
  if (signed.exitCode !== 0) throw new Error(signed.stderr);
  https = createHttps({ key: readFileSync(join(work, 'reg.key')), cert: readFileSync(join(work, 'reg.crt')) }, handler);
  await new Promise<void>((r) => https!.listen(0, '127.0.0.1', r));
  httpsPort = (https.address() as AddressInfo).port;
});

base.after(() => {
  http.close();
  https?.close();
  rmSync(work, { recursive: true, force: true });
  if (root) removeRoot(root);
});

test('registry.local is asked over HTTP; latest is ignored; an unknown repository has no tags', async () => {
  const fetch = httpFetch({ lookup });
  assert.equal(await listTags(fetch, { registryHost: `registry.local:${httpPort}`, name: 'p11/kube-apiserver', tag: 'x' }), ['v1.26.9', 'v1.26.10', 'v1.27.1']);
  assert.equal(await listTags(fetch, { registryHost: `registry.local:${httpPort}`, name: 'p11/nothing', tag: 'x' }), []);
});

test('any other registry is asked over HTTPS and its certificate is verified', async () => {
  const host = `registry.example:${httpsPort}`;
  const untrusted = httpFetch({ lookup });
  await listTags(untrusted, { registryHost: host, name: 'p11/pause', tag: '3.9' }).then(
    () => assert.unreachable('a certificate from an unknown CA was accepted'),
    (error: Error) => assert.match(error.message, /certificate/),
  );
  const trusted = httpFetch({ lookup, ca: readFileSync(join(work, 'ca.crt')) });
  assert.equal(await listTags(trusted, { registryHost: host, name: 'p11/pause', tag: '3.9' }), ['3.9', '3.10']);
  // An http:// URL for a registry other than registry.local is never tried.
  assert.ok(requests.every((url) => url.startsWith('/v2/')));
});

test('a missing tag: the newest of the minor (numerically) is named; the deployment stops with the export hint', async () => {
  const fetch: Fetch = httpFetch({ lookup });
  const reg = `registry.local:${httpPort}/p11`;
  const images = [`${reg}/kube-apiserver:v1.26.11`, `${reg}/pause:3.9`, `${reg}/etcd:3.5.12-0`, `${reg}/coredns:v1.10.1`];
  const result = await checkImages(fetch, images, kubeVersion('v1.26.11', 'x'));
  assert.equal(result.missing, [
    { image: images[0], newest: 'v1.26.10' },
    { image: images[2], newest: '3.5.9-0' },
  ]);
  const env = { U7S_REGISTRY: `registry.local:${httpPort}` };
  const plan = () =>
    planDeploy({
      parsed: parseDeployArgs('init', []),
      env: { ...env, U7S_KUBEVERSION: 'v1.26.11' },
      root,
      account: nodeAccount(root),
      facts: { ...HOST_FACTS, installedVersion: 'v1.26.3', images },
    });
  const options = { root, account: nodeAccount(root), fetch };
  await checkRegistry(plan(), images, { ...options, env }).then(
    () => assert.unreachable('missing images were accepted'),
    (error: Error) =>
      assert.match(
        error.message,
        /images missing on the registry:[\s\S]*kube-apiserver:v1\.26\.11 \(newest: v1\.26\.10\)[\s\S]*export U7S_KUBEVERSION=v1\.26\.10/,
      ),
  );
  const substituted = plan();
  await checkRegistry(substituted, images, { ...options, env: { ...env, U7S_SETAVAILABLEIMAGES: 'yes' } });
  const cluster = substituted.documents.find((d) => d.kind === 'ClusterConfiguration') as any;
  assert.is(cluster.kubernetesVersion, '1.26.10');
  assert.is(cluster.etcd.local.imageTag, '3.5.9-0');
  assert.is(substituted.settings.kubeVersion, 'v1.26.10');
});

test.run();
