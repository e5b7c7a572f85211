// test-runner: k8s-tools — npm test builds the components of npm run k8s-tools first
/**
 * The join check (join-check.ts) against an API server stand-in: Node https with a CA and a
 * server certificate made by the real `openssl`, serving kube-public/cluster-info anonymously and
 * kube-system/kube-proxy and kubeadm-config to the bearer token only, as the API server does for
 * kubeadm's RBAC. The ConfigMaps are the ones a rootful `kubeadm init` with its defaults writes:
 * kube-proxy's from the real kubeadm (`kubeadm init phase addon kube-proxy --print-manifest`),
 * kubeadm-config's ClusterConfiguration from `kubeadm config print init-defaults`. The commands the
 * refusal prints are run as printed (sh, the real sed; kubectl is a double that prints the served
 * ConfigMap and keeps what `kubectl replace` gets), and the edited ConfigMaps then pass the check.
 * The join targets come from the wrapper's own plan of the join (planDeploy).
 *
 * kubeadm is the newest one of npm run k8s-tools (else the 1.34 of the set); CI builds it when
 * missing, elsewhere the file is skipped with the reason.
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { CommandError } from '../../bin/lib/command.ts';
import { nodeAccount } from '../../bin/u7s/lib/accounts.ts';
import { planDeploy } from '../../bin/u7s/lib/deploy-plan.ts';
import { caCertHashes, checkJoinCluster, EXIT_CLUSTER_NOT_READY, joinTargetOf, MAX_ANSWER_BYTES, type JoinTarget } from '../../bin/u7s/lib/join-check.ts';
import { parseDeployArgs } from '../../bin/u7s/lib/kubeadm-flags.ts';
import { ensureNewestKubeadm, lookupK8sTools, lookupNewestKubeadm } from '../../scripts/k8s-tools/build.ts';
import { run, runInPrivateMounts } from '../support/exec.ts';
import { gated, inCI, missingTools, withTools } from '../support/tools.ts';
import { openssl as opensslIn, testCertificates } from '../support/test-certificates.ts';
import { bundledPrograms, HOST_FACTS, KEY, removeRoot, renderedRoot, snapshot } from '../support/u7s-fixtures.ts';

const TOOLS = ['openssl', 'sed', 'sh', 'go', 'unshare', 'ip'];
const TOKEN = 'abcdef.0123456789abcdef';
/** A second token the cluster signs cluster-info for, but the API server does not take as a bearer (as when RBAC or expiry stop it). */
const SIGNED_ONLY = 'qwerty.0123456789abcdef';

async function findKubeadm(): Promise<string | undefined> {
  if (missingTools(TOOLS).length) return undefined;
  const newest = (await lookupNewestKubeadm()) ?? (inCI() && process.getuid?.() === 0 ? await ensureNewestKubeadm() : undefined);
  if (newest) return newest.path;
  return (await lookupK8sTools())?.bin('kubeadm');
}

const kubeadm = await findKubeadm();
const test = missingTools(TOOLS).length ? withTools(base, TOOLS) : kubeadm ? base : gated(base, 'kubeadm is not built (npm run k8s-tools)');
const work = mkdtempSync(join(tmpdir(), 'podsec-join-check-'));
let root: string;
let bin: string;

/** What the stand-in serves, and what it saw. */
const served = {
  kubeProxy: '' as string,
  kubeadmConfig: '' as string,
  oversized: false,
  /** cluster-info answers without signatures before the signed ones (the bootstrap signer not done yet). */
  unsignedAnswers: 0,
  requests: [] as { path: string; authorization?: string }[],
};
let server: Server;
let port: number;
let caPem: string;
/** kubeadm's --discovery-token-ca-cert-hash of the CA, computed by openssl as kubeadm's documentation does. */
let opensslHash: string;

const openssl = (args: string[]) => opensslIn(work, args);

let clusterInfoHere: string;
let clusterInfoNetns: string;

/**
 * kube-public/cluster-info as the API server answers it: the kubeconfig with the CA, and for each
 * token the bootstrap signer's detached JWS of it (HS256 keyed with the token secret; the HMAC by openssl).
 */
async function clusterInfo(server: string): Promise<string> {
  const kubeconfig = YAML.stringify({
    apiVersion: 'v1',
    clusters: [{ cluster: { 'certificate-authority-data': Buffer.from(caPem).toString('base64'), server }, name: '' }],
    contexts: null,
    'current-context': '',
    kind: 'Config',
    preferences: {},
    users: null,
  });
  const data: Record<string, string> = { kubeconfig };
  for (const token of [TOKEN, SIGNED_ONLY]) {
    const [id, secret] = token.split('.') as [string, string];
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: id })).toString('base64url');
    writeFileSync(join(work, 'jws-input'), `${header}.${Buffer.from(kubeconfig).toString('base64url')}`);
    await openssl(['dgst', '-sha256', '-hmac', secret, '-binary', '-out', 'jws.sig', 'jws-input']);
    data[`jws-kubeconfig-${id}`] = `${header}..${readFileSync(join(work, 'jws.sig')).toString('base64url')}`;
  }
  return JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cluster-info', namespace: 'kube-public' }, data });
}

/** A ConfigMap manifest (as kubectl get -o yaml prints it) to the JSON the API server answers with. */
const asJson = (manifest: string) => JSON.stringify({ ...YAML.parse(manifest), metadata: { ...YAML.parse(manifest).metadata, resourceVersion: '4711' } });

/** The state of a rootful cluster made by kubeadm with its defaults. */
let rootfulKubeProxy: string;
let rootfulKubeadmConfig: string;

base.before(async () => {
  if (!kubeadm) return;
  root = await renderedRoot();
  bin = await bundledPrograms(['podsec-u7s-kubeadm']);
  const version = (await run(kubeadm, ['version', '-o', 'short'], { cwd: work })).stdout.trim();
  // --kubernetes-version: kubeadm asks the internet for "stable-1" otherwise.
  const manifest = await run(
    kubeadm,
    ['init', 'phase', 'addon', 'kube-proxy', '--print-manifest', '--kubernetes-version', version, '--pod-network-cidr', '10.244.0.0/16'],
    {
      cwd: work,
    },
  );
  assert.is(manifest.exitCode, 0, manifest.stderr);
  const configMap = YAML.parseAllDocuments(manifest.stdout).find(
    (d) => d.get('kind') === 'ConfigMap' && (d.get('metadata') as YAML.YAMLMap).get('name') === 'kube-proxy',
  );
  assert.ok(configMap, `kubeadm prints the kube-proxy ConfigMap:\n${manifest.stdout}`);
  rootfulKubeProxy = configMap.toString();
  const defaults = await run(kubeadm, ['config', 'print', 'init-defaults'], { cwd: work });
  assert.is(defaults.exitCode, 0, defaults.stderr);
  const cluster = YAML.parseAllDocuments(defaults.stdout).find((d) => d.get('kind') === 'ClusterConfiguration');
  assert.ok(cluster, defaults.stdout);
  rootfulKubeadmConfig = YAML.stringify({
    apiVersion: 'v1',
    data: { ClusterConfiguration: cluster.toString() },
    kind: 'ConfigMap',
    metadata: { name: 'kubeadm-config', namespace: 'kube-system' },
  });

  await testCertificates(work, 'kubernetes', [{ name: 'server', commonName: 'kube-apiserver', altNames: 'IP:127.0.0.1,DNS:kubernetes' }]);
  await openssl(['x509', '-pubkey', '-noout', '-in', 'ca.crt', '-out', 'ca.pub']);
  await openssl(['pkey', '-pubin', '-in', 'ca.pub', '-outform', 'der', '-out', 'ca.pub.der']);
  opensslHash = `sha256:${/([0-9a-f]{64})\s*$/.exec(await openssl(['dgst', '-sha256', '-hex', 'ca.pub.der']))![1]}`;
  caPem = readFileSync(join(work, 'ca.crt'), 'utf8');

  server = createServer({ key: readFileSync(join(work, 'server.key')), cert: readFileSync(join(work, 'server.crt')) }, (req, res) => {
    served.requests.push({ path: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    const answer = (status: number, body: string) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(body);
    };
    if (served.oversized) return answer(200, `{"kind":"ConfigMap","data":{"config.conf":"${'x'.repeat(2 * MAX_ANSWER_BYTES)}"}}`);
    if (req.url === '/api/v1/namespaces/kube-public/configmaps/cluster-info') {
      if (served.unsignedAnswers > 0) {
        served.unsignedAnswers--;
        const unsigned = JSON.parse(clusterInfoHere);
        unsigned.data = { kubeconfig: unsigned.data.kubeconfig };
        return answer(200, JSON.stringify(unsigned));
      }
      return answer(200, clusterInfoHere);
    }
    const names: Record<string, string> = {
      '/api/v1/namespaces/kube-system/configmaps/kube-proxy': served.kubeProxy,
      '/api/v1/namespaces/kube-system/configmaps/kubeadm-config': served.kubeadmConfig,
    };
    const manifest = names[req.url ?? ''];
    if (manifest === undefined) return answer(404, '{"kind":"Status","code":404}');
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return answer(401, '{"kind":"Status","status":"Failure","reason":"Unauthorized","code":401}');
    return answer(200, manifest.startsWith('{') ? manifest : asJson(manifest));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  clusterInfoHere = await clusterInfo(`https://127.0.0.1:${port}`);
  clusterInfoNetns = await clusterInfo('https://127.0.0.1:6443');

  // kubectl for the printed commands: get prints the served ConfigMap, replace keeps what it reads.
  writeFileSync(
    join(work, 'kubectl'),
    [
      '#!/bin/sh',
      'case "$*" in',
      `"-n kube-system get configmap kube-proxy -o yaml") cat "${work}/served-kube-proxy.yaml" ;;`,
      `"-n kube-system get configmap kubeadm-config -o yaml") cat "${work}/served-kubeadm-config.yaml" ;;`,
      `"replace -f -") n=$(ls "${work}" | grep -c '^replaced-'); cat > "${work}/replaced-$n.yaml" ;;`,
      `"-n kube-system rollout restart daemonset kube-proxy") echo restart >> "${work}/restarts" ;;`,
      '*) echo "kubectl double: unexpected $*" >&2; exit 1 ;;',
      'esac',
      '',
    ].join('\n'),
  );
  chmodSync(join(work, 'kubectl'), 0o755);
});

base.after(async () => {
  if (server) await new Promise((resolve) => server.close(resolve));
  rmSync(work, { recursive: true, force: true });
  if (root) removeRoot(root);
  if (bin) removeRoot(bin);
});

function serve(kubeProxy: string, kubeadmConfig: string) {
  Object.assign(served, { kubeProxy, kubeadmConfig, oversized: false, unsignedAnswers: 0, requests: [] });
}

/** The target of the wrapper's own plan of a join to the stand-in. */
function target(extra: string[] = [], hash = opensslHash): JoinTarget {
  const args = [`127.0.0.1:${port}`, '--token', TOKEN, '--discovery-token-ca-cert-hash', hash, ...extra];
  const plan = planDeploy({ parsed: parseDeployArgs('join', args), env: {}, root, account: nodeAccount(root), facts: HOST_FACTS });
  return joinTargetOf(plan.documents, root);
}
const CONTROL_PLANE = ['--control-plane', '--certificate-key', KEY, '--apiserver-advertise-address', '192.0.2.11'];

async function refusal(promise: Promise<unknown>): Promise<CommandError> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, CommandError, String((error as Error).stack));
    return error as CommandError;
  }
  assert.unreachable('the check passed; a refusal was expected');
  throw new Error('unreachable');
}

/** Runs each printed command line as printed (sh; PATH: the kubectl double first), with the given ConfigMaps served to `kubectl get`. */
async function runPrinted(
  commands: string[],
  kubeProxy: string,
  kubeadmConfig: string,
): Promise<{ kubeProxy: string; kubeadmConfig: string; restarts: number }> {
  for (const name of readdirSync(work)) if (name.startsWith('replaced-') || name === 'restarts') rmSync(join(work, name));
  writeFileSync(join(work, 'served-kube-proxy.yaml'), kubeProxy);
  writeFileSync(join(work, 'served-kubeadm-config.yaml'), kubeadmConfig);
  for (const command of commands) {
    const r = await run('sh', ['-c', command], { cwd: work, env: { PATH: `${work}:${process.env.PATH}`, LANG: 'C' } });
    assert.is(r.exitCode, 0, `${command}: ${r.stderr}`);
  }
  const replaced = readdirSync(work)
    .filter((name) => name.startsWith('replaced-'))
    .map((name) => readFileSync(join(work, name), 'utf8'));
  const byName = (name: string) => replaced.find((text) => YAML.parse(text).metadata.name === name);
  return {
    kubeProxy: byName('kube-proxy') ?? kubeProxy,
    kubeadmConfig: byName('kubeadm-config') ?? kubeadmConfig,
    restarts: existsSync(join(work, 'restarts')) ? readFileSync(join(work, 'restarts'), 'utf8').split('\n').filter(Boolean).length : 0,
  };
}

/** The command lines of a refusal (its indented lines after "Run on a control-plane node"). */
const printedCommands = (message: string) =>
  message
    .split('\n')
    .slice(message.split('\n').findIndex((line) => line.startsWith('Run on a control-plane node')) + 1)
    .map((line) => line.trim());

test("the CA's hash is kubeadm's: sha256 of the DER SubjectPublicKeyInfo, as openssl computes it", () => {
  assert.equal(caCertHashes(caPem), [opensslHash]);
  assert.equal(caCertHashes(`${caPem}\n${caPem}`), [opensslHash, opensslHash], 'each certificate of a bundle');
});

test("a worker join to a rootful kubeadm cluster with kubeadm's defaults is refused with the commands; after them it passes", async () => {
  assert.match(rootfulKubeProxy, /^ +maxPerCore: null$/m, "kubeadm's text has the field the sed changes");
  serve(rootfulKubeProxy, rootfulKubeadmConfig);
  const error = await refusal(checkJoinCluster(target()));
  assert.is(error.exitCode, EXIT_CLUSTER_NOT_READY);
  assert.match(error.message, new RegExp(`^the cluster at 127\\.0\\.0\\.1:${port} is not ready for a rootless node:$`, 'm'));
  for (const field of ['maxPerCore', 'tcpEstablishedTimeout', 'tcpCloseWaitTimeout'])
    assert.match(error.message, new RegExp(`ConfigMap kube-system/kube-proxy: conntrack\\.${field} is null`));
  assert.not.match(error.message, /kubeadm-config/, 'a worker join does not need etcd');
  const commands = printedCommands(error.message);
  assert.is(commands.length, 2, error.message);
  assert.match(commands[0]!, /^kubectl -n kube-system get configmap kube-proxy -o yaml \| sed .* \| kubectl replace -f -$/);
  assert.is(commands[1], 'kubectl -n kube-system rollout restart daemonset kube-proxy');
  // The anonymous request carries no token; the token goes only to the server whose CA matched.
  assert.equal(served.requests[0], { path: '/api/v1/namespaces/kube-public/configmaps/cluster-info' });
  assert.ok(served.requests.slice(1).every((r) => r.authorization === `Bearer ${TOKEN}`));
  assert.not.ok(
    served.requests.some((r) => r.path.endsWith('/kubeadm-config')),
    'a worker join does not read kubeadm-config',
  );

  const fixed = await runPrinted(commands, rootfulKubeProxy, rootfulKubeadmConfig);
  assert.is(fixed.restarts, 1);
  const conf = YAML.parse(YAML.parse(fixed.kubeProxy).data['config.conf']);
  assert.equal(
    [conf.conntrack.maxPerCore, conf.conntrack.tcpEstablishedTimeout, conf.conntrack.tcpCloseWaitTimeout, conf.conntrack.min],
    [0, '0s', '0s', null],
    'the fields changed, the rest as kubeadm wrote it',
  );
  assert.is(conf.clusterCIDR, '10.244.0.0/16');
  serve(fixed.kubeProxy, rootfulKubeadmConfig);
  const passed = await checkJoinCluster(target());
  assert.is(passed.kubeProxy, YAML.parse(fixed.kubeProxy).data['config.conf'], 'the check read the edited ConfigMap');
});

test('fields missing from the ConfigMap are added below conntrack: by the printed sed', async () => {
  const without = rootfulKubeProxy.replace(/^ +maxPerCore: null\n/m, '').replace(/^ +tcpCloseWaitTimeout: null\n/m, '');
  assert.not.match(without, /maxPerCore/);
  serve(without, rootfulKubeadmConfig);
  const error = await refusal(checkJoinCluster(target()));
  assert.match(error.message, /conntrack\.maxPerCore is unset/);
  const fixed = await runPrinted(printedCommands(error.message), without, rootfulKubeadmConfig);
  serve(fixed.kubeProxy, rootfulKubeadmConfig);
  await checkJoinCluster(target());
});

test('a control-plane join with etcd in /var/lib/etcd is refused naming the etcd command; after the commands it passes', async () => {
  assert.match(rootfulKubeadmConfig, /^ +dataDir: \/var\/lib\/etcd$/m);
  serve(rootfulKubeProxy, rootfulKubeadmConfig);
  const error = await refusal(checkJoinCluster(target(CONTROL_PLANE)));
  assert.is(error.exitCode, EXIT_CLUSTER_NOT_READY);
  assert.match(
    error.message,
    /ConfigMap kube-system\/kubeadm-config: etcd\.local\.dataDir is "\/var\/lib\/etcd", a rootless node needs "\/var\/lib\/podsec\/u7s\/etcd"/,
  );
  const commands = printedCommands(error.message);
  assert.is(commands.length, 3, error.message);
  assert.match(commands[2]!, /^kubectl -n kube-system get configmap kubeadm-config -o yaml \| sed .*\/var\/lib\/podsec\/u7s\/etcd.* \| kubectl replace -f -$/);
  const fixed = await runPrinted(commands, rootfulKubeProxy, rootfulKubeadmConfig);
  const cluster = YAML.parse(YAML.parse(fixed.kubeadmConfig).data.ClusterConfiguration);
  assert.is(cluster.etcd.local.dataDir, '/var/lib/podsec/u7s/etcd');
  assert.is(cluster.certificatesDir, '/etc/kubernetes/pki', 'the rest as kubeadm wrote it');
  serve(fixed.kubeProxy, fixed.kubeadmConfig);
  const passed = await checkJoinCluster(target(CONTROL_PLANE));
  assert.ok(passed.cluster?.includes('/var/lib/podsec/u7s/etcd'));
  // Only etcd wrong: only the etcd command.
  serve(fixed.kubeProxy, rootfulKubeadmConfig);
  const etcdOnly = printedCommands((await refusal(checkJoinCluster(target(CONTROL_PLANE)))).message);
  assert.is(etcdOnly.length, 1);
  assert.match(etcdOnly[0]!, /configmap kubeadm-config/);
});

test('a CA that matches no --discovery-token-ca-cert-hash: refused before the token is sent; the unsafe flag skips the pin', async () => {
  serve(rootfulKubeProxy, rootfulKubeadmConfig);
  const wrong = `sha256:${'ab'.repeat(32)}`;
  const error = await refusal(checkJoinCluster(target([], wrong)));
  assert.is(error.exitCode, 1);
  assert.match(
    error.message,
    new RegExp(`the CA of the cluster at 127\\.0\\.0\\.1:${port} \\(${opensslHash}\\) matches no --discovery-token-ca-cert-hash \\(${wrong}\\)`),
  );
  assert.equal(served.requests, [{ path: '/api/v1/namespaces/kube-public/configmaps/cluster-info' }], 'nothing else was asked, no token sent');
  // One of several hashes is enough (kubeadm's rule: CA rotation gives old and new).
  const several = await refusal(checkJoinCluster(target(['--discovery-token-ca-cert-hash', opensslHash], wrong)));
  assert.is(several.exitCode, EXIT_CLUSTER_NOT_READY, several.message);
  const unsafe = { ...target(), caCertHashes: [], unsafeSkipCaVerification: true };
  assert.is((await refusal(checkJoinCluster(unsafe))).exitCode, EXIT_CLUSTER_NOT_READY);
});

test('a token cluster-info is not signed for, or with another secret: refused before it is sent; one the API server does not take: HTTP 401', async () => {
  serve(rootfulKubeProxy, rootfulKubeadmConfig);
  const unknown = await refusal(checkJoinCluster({ ...target(), token: 'zzzzzz.0123456789abcdef' }, { unsigned: { attempts: 2, delayMs: 10 } }));
  assert.is(unknown.exitCode, 1);
  assert.match(
    unknown.message,
    new RegExp(`^cannot check the cluster at 127\\.0\\.0\\.1:${port} before joining: kube-public/cluster-info is not signed for the token zzzzzz`),
  );
  assert.match(unknown.message, /kubeadm token create --print-join-command/);
  assert.is(served.requests.length, 2, 'cluster-info asked twice (the signer may be late), then refused');
  const wrongSecret = await refusal(checkJoinCluster({ ...target(), token: 'abcdef.ffffffffffffffff' }));
  assert.match(wrongSecret.message, /the signature of kube-public\/cluster-info does not match the token abcdef/);
  assert.not.ok(
    served.requests.some((r) => r.authorization),
    'no token was sent',
  );
  // Even without the CA pin (the unsafe flag), the signature is checked: the token goes nowhere unproven.
  const unsafe = await refusal(checkJoinCluster({ ...target(), caCertHashes: [], unsafeSkipCaVerification: true, token: 'abcdef.ffffffffffffffff' }));
  assert.match(unsafe.message, /does not match the token abcdef/);

  const rejected = await refusal(checkJoinCluster({ ...target(), token: SIGNED_ONLY }));
  assert.is(rejected.exitCode, 1);
  assert.match(
    rejected.message,
    new RegExp(`^cannot check the cluster at 127\\.0\\.0\\.1:${port} before joining: .*/configmaps/kube-proxy: HTTP 401; the token is not valid`),
  );
  assert.is(rejected.message.split('\n').length, 1);
});

test('a token cluster-info is signed for only a moment later (the bootstrap signer): asked again, then the check goes on', async () => {
  serve(rootfulKubeProxy, rootfulKubeadmConfig);
  served.unsignedAnswers = 2;
  const error = await refusal(checkJoinCluster(target(), { unsigned: { attempts: 3, delayMs: 10 } }));
  assert.is(error.exitCode, EXIT_CLUSTER_NOT_READY, error.message);
  assert.equal(
    served.requests.map((r) => r.path.split('/').at(-1)),
    ['cluster-info', 'cluster-info', 'cluster-info', 'kube-proxy'],
  );
});

test('an endpoint that does not answer, an oversized answer, a malformed ConfigMap: one line naming the endpoint', async () => {
  const spare = createServer();
  await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve));
  const downPort = (spare.address() as AddressInfo).port;
  await new Promise((resolve) => spare.close(resolve));
  const down = await refusal(checkJoinCluster({ ...target(), endpoint: `127.0.0.1:${downPort}` }));
  assert.is(down.exitCode, 1);
  assert.match(down.message, new RegExp(`^cannot check the cluster at 127\\.0\\.0\\.1:${downPort} before joining: .*ECONNREFUSED`));

  serve(rootfulKubeProxy, rootfulKubeadmConfig);
  served.oversized = true;
  const large = await refusal(checkJoinCluster(target()));
  assert.match(large.message, new RegExp(`^cannot check the cluster at 127\\.0\\.0\\.1:${port} before joining: .*larger than ${MAX_ANSWER_BYTES} bytes$`));

  serve(JSON.stringify({ kind: 'ConfigMap', data: { 'config.conf': 'conntrack: [' } }), rootfulKubeadmConfig);
  const malformed = await refusal(checkJoinCluster(target()));
  assert.match(
    malformed.message,
    new RegExp(`^cannot check the cluster at 127\\.0\\.0\\.1:${port} before joining: kube-system/kube-proxy config\\.conf is not YAML`),
  );
  serve(JSON.stringify({ kind: 'ConfigMap', data: {} }), rootfulKubeadmConfig);
  assert.match((await refusal(checkJoinCluster(target()))).message, /not a ConfigMap with the key config\.conf/);
  for (const error of [down, large, malformed]) assert.not.match(error.message, /\n\s+at /, 'no stack trace');
});

test('--discovery-file: its server and CA are used, cluster-info is not asked; a CA given as a file is read beside it', async () => {
  const kubeconfig = (cluster: Record<string, string>) =>
    YAML.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'k', cluster: { server: `https://127.0.0.1:${port}`, ...cluster } }] });
  writeFileSync(join(root, 'discovery.conf'), kubeconfig({ 'certificate-authority-data': Buffer.from(caPem).toString('base64') }));
  writeFileSync(join(root, 'discovery-file-ca.conf'), kubeconfig({ 'certificate-authority': 'discovery-ca.crt' }));
  writeFileSync(join(root, 'discovery-ca.crt'), caPem);
  for (const file of ['/discovery.conf', '/discovery-file-ca.conf']) {
    const plan = planDeploy({
      parsed: parseDeployArgs('join', ['--discovery-file', file, '--token', TOKEN]),
      env: {},
      root,
      account: nodeAccount(root),
      facts: HOST_FACTS,
    });
    const fromFile = joinTargetOf(plan.documents, root);
    assert.is(fromFile.endpoint, `127.0.0.1:${port}`);
    serve(rootfulKubeProxy, rootfulKubeadmConfig);
    const error = await refusal(checkJoinCluster(fromFile));
    assert.is(error.exitCode, EXIT_CLUSTER_NOT_READY, error.message);
    assert.equal(
      served.requests.map((r) => r.path),
      ['/api/v1/namespaces/kube-system/configmaps/kube-proxy'],
    );
  }
  // A discovery file whose CA is not the server's: TLS refuses, one line.
  writeFileSync(
    join(root, 'discovery.conf'),
    kubeconfig({ 'certificate-authority-data': Buffer.from(readFileSync(join(work, 'server.crt'))).toString('base64') }),
  );
  const plan = planDeploy({
    parsed: parseDeployArgs('join', ['--discovery-file', '/discovery.conf', '--token', TOKEN]),
    env: {},
    root,
    account: nodeAccount(root),
    facts: HOST_FACTS,
  });
  const wrongCa = await refusal(checkJoinCluster(joinTargetOf(plan.documents, root)));
  assert.match(wrongCa.message, /^cannot check the cluster at 127\.0\.0\.1:\d+ before joining: .*certificate/);
});

/**
 * The API server stand-in as a process of its own, for the wrapper run in a network namespace of
 * the test's own (no traffic leaves it, whatever the wrapper does after the check): serves
 * cluster-info anonymously and the two ConfigMaps (JSON files) to the bearer token only.
 */
const NETNS_SERVER = `
import { createServer } from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
const [dir, token] = process.argv.slice(2);
const files = {
  '/api/v1/namespaces/kube-public/configmaps/cluster-info': ['cluster-info.json', false],
  '/api/v1/namespaces/kube-system/configmaps/kube-proxy': ['kube-proxy.json', true],
  '/api/v1/namespaces/kube-system/configmaps/kubeadm-config': ['kubeadm-config.json', true],
};
const server = createServer({ key: readFileSync(dir + '/server.key'), cert: readFileSync(dir + '/server.crt') }, (req, res) => {
  const file = files[req.url];
  if (!file) { res.writeHead(404); return res.end('{}'); }
  if (file[1] && req.headers.authorization !== 'Bearer ' + token) { res.writeHead(401); return res.end('{}'); }
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(readFileSync(dir + '/' + file[0]));
});
server.listen(6443, '127.0.0.1', () => writeFileSync(dir + '/ready', ''));
setTimeout(() => process.exit(0), 60_000).unref();
`;

/** The bundled wrapper, as root, in new network and mount namespaces with the stand-in at 127.0.0.1:6443 (when `serve`) and nothing else. */
async function wrapperInNetns(args: string[], serveIt: boolean) {
  writeFileSync(join(work, 'server.mjs'), NETNS_SERVER);
  rmSync(join(work, 'ready'), { force: true });
  const script = [
    'ip link set lo up',
    // Were the check to pass, the wrapper would install kubeadm next: apt's state is a scratch tmpfs in this mount namespace.
    'mount -t tmpfs tmpfs /var/lib/apt && mount -t tmpfs tmpfs /var/cache/apt',
    serveIt ? `"$0" "${work}/server.mjs" "${work}" "${TOKEN}" & server=$!` : 'server=',
    // Bounded wait for the server: at most 10 s.
    serveIt ? `i=0; while [ ! -e "${work}/ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done` : 'true',
    '"$0" "$@"; rc=$?',
    '[ -z "$server" ] || kill "$server"',
    'exit $rc',
  ].join('\n');
  return runInPrivateMounts(script, [process.execPath, join(bin, 'podsec-u7s-kubeadm'), '--root', root, 'join', ...args], {
    unshare: ['--net'],
    env: { PATH: process.env.PATH, LANG: 'C', U7S_PLATFORM: 'p11' },
    cwd: work,
    timeoutMs: 120_000,
  });
}

test('the wrapper itself refuses a rootful cluster before any change: exit 3, the commands on stderr, the root tree untouched', async () => {
  if (process.getuid?.() !== 0) return assert.unreachable('needs root (the wrapper refuses a join otherwise; unshare --net)');
  writeFileSync(join(work, 'cluster-info.json'), clusterInfoNetns);
  writeFileSync(join(work, 'kube-proxy.json'), asJson(rootfulKubeProxy));
  writeFileSync(join(work, 'kubeadm-config.json'), asJson(rootfulKubeadmConfig));
  const before = snapshot(root);
  const joinArgs = ['127.0.0.1:6443', '--token', TOKEN, '--discovery-token-ca-cert-hash', opensslHash, '--node-name', 'n2'];
  const refused = await wrapperInNetns([...joinArgs, ...CONTROL_PLANE], true);
  assert.is(refused.exitCode, EXIT_CLUSTER_NOT_READY, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /^Checking the cluster at 127\.0\.0\.1:6443: kube-proxy conntrack settings, etcd data directory$/m);
  assert.match(refused.stderr, /^podsec-u7s-kubeadm: the cluster at 127\.0\.0\.1:6443 is not ready for a rootless node:$/m);
  assert.match(refused.stderr, /^ {2}kubectl -n kube-system get configmap kube-proxy -o yaml \| sed .* \| kubectl replace -f -$/m);
  assert.match(
    refused.stderr,
    /^ {2}kubectl -n kube-system get configmap kubeadm-config -o yaml \| sed .*\/var\/lib\/podsec\/u7s\/etcd.* \| kubectl replace -f -$/m,
  );
  assert.not.match(refused.stderr, /apt-get|Starting the node namespace/, 'nothing after the check ran');
  assert.equal(snapshot(root), before, 'nothing under --root changed');

  const down = await wrapperInNetns([...joinArgs, '--apiserver-advertise-address', '192.0.2.12'], false);
  assert.is(down.exitCode, 1, down.stdout + down.stderr);
  assert.ok(/^podsec-u7s-kubeadm: cannot check the cluster at 127\.0\.0\.1:6443 before joining: .*ECONNREFUSED/m.test(down.stderr), down.stderr);
  assert.not.match(down.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(snapshot(root), before);
});

test.run();
