/**
 * The pulls kubeadm init/join do first (bin/u7s/lib/image-pull.ts) with the real skopeo and
 * docker-registry on loopback: GPG-signed images land in a containers-storage overlay store
 * with the digests the registry serves, one parseable progress line per image; an unsigned
 * image under a signedBy policy, an image the registry does not have, and a policy that
 * rejects stop the pulls at that image with its name and skopeo's reason. Run as root here;
 * on a node the same argv runs as u7s-admin inside the namespace (test/e2e/u7s-node.test.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { pullImages, storeReference, type PullOptions } from '../../bin/u7s/lib/image-pull.ts';
import { PROGRESS_LINE } from '../../bin/lib/progress.ts';
import { buildImage, imageStore } from '../support/oci-fixtures.ts';
import { freePort, gnupgHome, runCommand, startRegistry, type Service } from '../support/trust-fixtures.ts';
import { withTools } from '../support/tools.ts';

const test = withTools(base, ['skopeo', 'podman', 'docker-registry', 'gpg', 'unshare']);

let work = '';
let registry: (Service & { config: string }) | undefined;
let gpg: ReturnType<typeof gnupgHome> | undefined;
let addr = '';
let env: NodeJS.ProcessEnv = {};
let signedPolicy = '';
const SIGNED = ['pause:3.9', 'kube-proxy:v1.30.2', 'flannel:v0.25.1'];

const ref = (name: string) => `${addr}/p11/${name}`;
/** skopeo in a mount namespace of its own: the overlay store's mounts go with it. */
const skopeo = (args: string[]) => runCommand('unshare', ['--mount', '--propagation', 'private', 'skopeo', ...args], { env, timeoutMs: 180_000 });

base.before(async () => {
  work = mkdtempSync(join(tmpdir(), 'podsec-pull-'));
  addr = `127.0.0.1:${await freePort()}`;
  registry = await startRegistry({ addr, storage: join(work, 'registry') });
  gpg = gnupgHome();
  const gen = await runCommand('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', 'podsec pull test <pull@example.org>', 'ed25519', 'sign', 'never'], {
    env: gpg.env,
    timeoutMs: 60_000,
  });
  if (gen.exitCode !== 0) throw new Error(`gpg: ${gen.stderr}`);
  const listed = await runCommand('gpg', ['--batch', '--with-colons', '--list-keys'], { env: gpg.env });
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(listed.stdout)?.[1];
  if (!fingerprint) throw new Error(`no fingerprint in ${listed.stdout}`);
  const keyring = join(work, 'keyring.gpg');
  const exported = await runCommand('gpg', ['--batch', '--export', '--output', keyring, fingerprint], { env: gpg.env });
  if (exported.exitCode !== 0) throw new Error(`gpg --export: ${exported.stderr}`);

  // What a node has: registries.conf naming the plain-HTTP registry, lookaside signatures.
  const home = join(work, 'home');
  const lookaside = join(work, 'sigstore');
  mkdirSync(join(home, '.config/containers/registries.d'), { recursive: true });
  mkdirSync(lookaside);
  writeFileSync(
    join(home, '.config/containers/registries.d/default.yaml'),
    `default-docker:\n  lookaside: file://${lookaside}\n  lookaside-staging: file://${lookaside}\n`,
  );
  // skopeo 1.9 ignores CONTAINERS_REGISTRIES_CONF; the user's file is read.
  writeFileSync(join(home, '.config/containers/registries.conf'), `[[registry]]\nlocation = "${addr}"\ninsecure = true\n`);
  env = { ...process.env, HOME: home, GNUPGHOME: gpg.home, LANG: 'C' };
  signedPolicy = join(work, 'signed.json');
  writeFileSync(
    signedPolicy,
    JSON.stringify({
      default: [{ type: 'reject' }],
      transports: { docker: { [`${addr}/p11`]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: keyring }] } },
    }),
  );

  const images = imageStore(work);
  await buildImage(images, 'tiny', 'pull');
  const push = (name: string, sign: boolean) =>
    runCommand(
      'skopeo',
      [
        '--policy',
        images.policy,
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        ...(sign ? ['--sign-by', fingerprint] : []),
        `${images.transport}localhost/tiny:latest`,
        `docker://${ref(name)}`,
      ],
      { env, timeoutMs: 120_000 },
    );
  for (const name of SIGNED) {
    const pushed = await push(name, true);
    if (pushed.exitCode !== 0) throw new Error(`push ${name}: ${pushed.stderr}`);
  }
  const unsigned = await push('unsigned:1', false);
  if (unsigned.exitCode !== 0) throw new Error(`push unsigned: ${unsigned.stderr}`);
});

base.after(async () => {
  await registry?.stop();
  gpg?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A store of its own, a progress stream that records what it is given (not a terminal). */
function puller(policy: string, label: string) {
  const dir = join(work, `store-${label}`);
  const lines: string[] = [];
  const options: PullOptions = {
    skopeo: 'skopeo',
    store: { driver: 'overlay', root: join(dir, 'root'), runroot: join(dir, 'run') },
    policy,
    run: async ([program, ...args]) => {
      assert.is(program, 'skopeo');
      const r = await skopeo(args);
      return { stdout: r.stdout, stderr: r.stderr, code: r.exitCode };
    },
    stream: { isTTY: false, write: (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean)) },
  };
  return { options, lines };
}

async function inStore(options: PullOptions, image: string) {
  return skopeo(['--policy', options.policy, 'inspect', '--format', '{{.Digest}}', storeReference(options.store, image)]);
}

async function registryDigest(image: string) {
  const r = await runCommand('skopeo', ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${image}`], { env, timeoutMs: 60_000 });
  assert.is(r.exitCode, 0, r.stderr);
  return r.stdout.trim();
}

test('signed images are pulled into the store, one progress line per image, with the digests the registry serves', async () => {
  const images = SIGNED.map(ref);
  const { options, lines } = puller(signedPolicy, 'signed');
  await pullImages(images, options);
  assert.equal(
    lines.map((line) => PROGRESS_LINE.exec(line)?.slice(1)),
    images.map((image, i) => ['Pulling images into the node', String(i + 1), String(images.length), image]),
  );
  for (const image of images) {
    const stored = await inStore(options, image);
    assert.is(stored.exitCode, 0, `${image} is not in the store: ${stored.stderr}`);
    // The store keeps the image under its name; its manifest digest may differ (skopeo may convert), the config must not.
    const config = (transport: string) =>
      skopeo(['--policy', options.policy, 'inspect', '--tls-verify=false', '--config', '--raw', transport]).then((r) => r.stdout);
    assert.is(await config(storeReference(options.store, image)), await config(`docker://${image}`), image);
    assert.ok((await registryDigest(image)).startsWith('sha256:'));
  }
  const layers = readFileSync(join(options.store.root, 'overlay-images/images.json'), 'utf8');
  for (const image of images) assert.ok(layers.includes(image), `${image} named in the store's index`);
});

test('an unsigned image under a signedBy policy stops the pulls there, naming it and the signature problem', async () => {
  const images = [ref(SIGNED[0]!), ref('unsigned:1'), ref(SIGNED[1]!)];
  const { options, lines } = puller(signedPolicy, 'unsigned');
  const error = await pullImages(images, options).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.ok(error, 'the pulls went through');
  assert.match(error!.message, new RegExp(`^${ref('unsigned:1').replace(/[.:]/g, '\\$&')} could not be pulled: `));
  assert.match(error!.message, /signature/i);
  assert.equal(
    lines.map((line) => PROGRESS_LINE.exec(line)?.[2]),
    ['1', '2'],
    'no step after the refused image',
  );
  assert.is((await inStore(options, images[0]!)).exitCode, 0, 'the signed image before it is in the store');
  assert.is.not((await inStore(options, images[1]!)).exitCode, 0, 'the unsigned image is not');
  assert.is.not((await inStore(options, images[2]!)).exitCode, 0, 'nothing after it was pulled');
});

test('an image the registry does not have, and a policy that rejects, are named with the reason', async () => {
  const missing = puller(signedPolicy, 'missing');
  const absent = await pullImages([ref('etcd:3.5.12-0')], missing.options).catch((e: Error) => e);
  assert.instance(absent, Error);
  assert.match((absent as Error).message, /etcd:3\.5\.12-0 could not be pulled: .*(manifest unknown|not found)/i);

  const rejectPolicy = join(work, 'reject.json');
  writeFileSync(rejectPolicy, JSON.stringify({ default: [{ type: 'reject' }] }));
  const rejecting = puller(rejectPolicy, 'reject');
  const refused = await pullImages([ref(SIGNED[0]!)], rejecting.options).catch((e: Error) => e);
  assert.instance(refused, Error);
  assert.match((refused as Error).message, /pause:3\.9 could not be pulled: .*rejected/i);
});

test.run();
