/**
 * podsec-inotify-check-images against real images in a real rootless podman storage:
 *
 *  - a docker-registry in the user's policy (signedBy, a temp GNUPGHOME key) and a second one that
 *    is not in it, plus the nginx signature server, all started from podsec's generated configs
 *    (test/support/trust-fixtures.ts) on free 127.0.0.1 ports;
 *  - a signed image (`skopeo copy --sign-by`, signature staged into the served lookaside), an
 *    unsigned image with different content (signatures belong to the manifest digest), and an
 *    image from the registry outside the policy;
 *  - a test user (useradd here, userdel after) whose home is inside the --root tree; it pulls the
 *    images with its own ~/.config/containers (the signed one under the signedBy policy, which
 *    podman really verifies; the others with an accept-anything --signature-policy, as images
 *    that got in before the policy changed).
 *
 * check-images must report exactly: the unsigned image (102), the out-of-policy image (103),
 * nothing for the signed one. Names a user writes into their own images.json (quotes, $(),
 * backticks, newlines, leading dashes) are data: one journal line each, the canary never appears.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  copyFileSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { serializePolicy, serializeRegistriesD, type ContainersPolicy } from '../../bin/lib/containers-policy.ts';
import { inotifyProgram, JOURNAL_ENV } from '../support/inotify-programs.ts';
import { podsecTree, type Tree } from '../support/inotify-tree.ts';
import { run, type Ran } from '../support/exec.ts';
import { addPodmanUser, type PodmanUser } from '../support/podman-user.ts';
import { withTools } from '../support/tools.ts';
import { freePort, gnupgHome, startRegistry, startSigstoreServer, type Service } from '../support/trust-fixtures.ts';

const TOOLS = ['podman', 'skopeo', 'docker-registry', 'nginx', 'gpg', 'useradd', 'userdel', 'runuser', 'busybox', 'tar'];
const test = withTools(base, TOOLS);

const USER = `psimg${process.pid % 100000}`;

let work = '';
let tree: Tree | undefined;
let gpg: ReturnType<typeof gnupgHome> | undefined;
const services: Service[] = [];
let program = '';
let user: PodmanUser | undefined;
let registryIn = '';
let registryOut = '';
let signatures = '';
let canary = '';

const SIGNED = () => `${registryIn}/podsec/busybox:signed`;
const UNSIGNED = () => `${registryIn}/podsec/busybox:unsigned`;
const OUTSIDE = () => `${registryOut}/other/busybox:1`;

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(cmd, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
}

/** A single-layer image tarball: static busybox plus a file that makes each variant's digest differ. */
function layerTar(variant: string): string {
  const dir = join(work, `rootfs-${variant}`);
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'etc'), { recursive: true });
  copyFileSync(sh('sh', ['-c', 'command -v busybox']).trim(), join(dir, 'bin/busybox'));
  chmodSync(join(dir, 'bin/busybox'), 0o755);
  symlinkSync('busybox', join(dir, 'bin/sh'));
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(dir, 'etc/variant'), `${variant}\n`);
  const tar = join(work, `${variant}.tar`);
  sh('tar', ['--sort=name', '--mtime=@1700000000', '--owner=0', '--group=0', '--numeric-owner', '-C', dir, '-cf', tar, '.']);
  return tar;
}

const check = (args: string[] = []) => run(program, ['--root', tree!.root, '-vv', ...args], { env: JOURNAL_ENV, timeoutMs: 60_000 });
const journal = (r: Ran) => r.stderr.split('\n').filter((l) => l !== '');
/** The user's image list (podman picks the graph driver: overlay, or vfs where it can't). */
const imagesJson = () => {
  const storage = join(user!.home, '.local/share/containers/storage');
  const driver = readdirSync(storage).find((d) => d.endsWith('-images') && existsSync(join(storage, d, 'images.json')));
  if (!driver) throw new Error(`no images.json under ${storage}`);
  return join(storage, driver, 'images.json');
};

base.before(async () => {
  if (TOOLS.some((t) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', t]).status !== 0)) return;
  work = mkdtempSync(join(tmpdir(), 'podsec-inotify-images-'));
  chmodSync(work, 0o755);
  canary = join(work, 'CANARY');
  program = await inotifyProgram('podsec-inotify-check-images');

  // Services: two registries (one in the policy, one not) and the signature server.
  const www = join(work, 'www');
  signatures = join(www, 'sigstore');
  mkdirSync(signatures, { recursive: true, mode: 0o755 });
  chmodSync(www, 0o755);
  registryIn = `127.0.0.1:${await freePort()}`;
  registryOut = `127.0.0.1:${await freePort()}`;
  const lookaside = `127.0.0.1:${await freePort()}`;
  services.push(await startRegistry({ addr: registryIn, storage: join(work, 'registry-in') }));
  services.push(await startRegistry({ addr: registryOut, storage: join(work, 'registry-out') }));
  services.push(await startSigstoreServer({ listen: lookaside, documentRoot: www }));

  // The signing key.
  gpg = gnupgHome();
  sh('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', 'Podsec Test Signer <signer@example.org>', 'default', 'default', 'never'], gpg.env);
  const fingerprint = /^fpr:+([0-9A-F]+):/m.exec(sh('gpg', ['--list-keys', '--with-colons', 'signer@example.org'], gpg.env))![1]!;
  const publicKey = join(work, 'signer-pub.gpg');
  writeFileSync(publicKey, execFileSync('gpg', ['--export', fingerprint], { env: gpg.env }), { mode: 0o644 });

  // Push: signed (signature staged into the served tree), unsigned, and one to the other registry.
  const accept = join(work, 'accept.json');
  writeFileSync(accept, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }), { mode: 0o644 });
  const staging = join(work, 'staging.d');
  mkdirSync(staging);
  writeFileSync(join(staging, 'staging.yaml'), serializeRegistriesD({ docker: { [registryIn]: { 'lookaside-staging': `file://${signatures}` } } }));
  const push = (variant: string, destination: string, sign: boolean) =>
    sh(
      'skopeo',
      [
        '--policy',
        accept,
        '--registries.d',
        staging,
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        ...(sign ? ['--sign-by', fingerprint] : []),
        `tarball:${layerTar(variant)}`,
        `docker://${destination}`,
      ],
      gpg!.env,
    );
  push('signed', SIGNED(), true);
  push('unsigned', UNSIGNED(), false);
  push('outside', OUTSIDE(), false);
  sh('chmod', ['-R', 'a+rX', www]);

  // The --root tree (compliant /etc/containers for root) and the podman user living in it.
  tree = podsecTree('podsec-inotify-images-');
  const policy: ContainersPolicy = {
    default: [{ type: 'reject' }],
    transports: { docker: { [registryIn]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: publicKey }] } },
  };
  user = addPodmanUser(tree, USER, {
    runtimeDir: join(work, 'xdg'),
    files: {
      '.config/containers/policy.json': serializePolicy(policy),
      // podsec's registries.d shape (default-docker, both key names), pointed at the test's signature server.
      '.config/containers/registries.d/default.yaml': serializeRegistriesD({
        'default-docker': { lookaside: `http://${lookaside}/sigstore/`, sigstore: `http://${lookaside}/sigstore/` },
      }),
    },
  });

  // The user's pulls: the signed image under the user's own signedBy policy (podman verifies it).
  const pulled = await user!.run(['podman', 'pull', '--quiet', '--tls-verify=false', SIGNED()]);
  if (pulled.exitCode !== 0) throw new Error(`signed pull failed: ${pulled.stderr}`);
  const refused = await user!.run(['podman', 'pull', '--quiet', '--tls-verify=false', UNSIGNED()]);
  if (refused.exitCode === 0) throw new Error('the unsigned image was accepted by the signedBy policy: the fixture does not test signatures');
  for (const image of [UNSIGNED(), OUTSIDE()]) {
    const r = await user!.run(['podman', 'pull', '--quiet', '--tls-verify=false', '--signature-policy', accept, image]);
    if (r.exitCode !== 0) throw new Error(`pull ${image} failed: ${r.stderr}`);
  }
});

base.after(async () => {
  for (const service of services) await service.stop();
  user?.remove();
  gpg?.cleanup();
  tree?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the user storage holds the three images as podman pulled them', () => {
  const names = (JSON.parse(readFileSync(imagesJson(), 'utf8')) as { names?: string[] }[]).flatMap((i) => i.names ?? []);
  for (const name of [SIGNED(), UNSIGNED(), OUTSIDE()]) assert.ok(names.includes(name), `${name} not in ${names.join(', ')}`);
});

test('unsigned → 102, outside the policy → 103, signed → nothing; CRITICAL, exit 2', async () => {
  const r = await check();
  assert.is(r.exitCode, 2, r.stdout + r.stderr);
  assert.equal(journal(r), [
    `<2>Critical: Critical(102): Users ${JSON.stringify(USER)} have unsigned images: ${JSON.stringify(USER)}: ${JSON.stringify(UNSIGNED())}`,
    `<2>Critical: Critical(103): Users ${JSON.stringify(USER)} have images outside of supported policies` +
      `: ${JSON.stringify(USER)}: ${JSON.stringify(OUTSIDE())}`,
  ]);
  assert.match(r.stdout, new RegExp(`^POLICY CRITICAL\\(205\\): Users have images that violate established policies "${USER}" \\| violations=205\\n`));
  assert.not.ok((r.stdout + r.stderr).includes(':signed'), 'the signed image is not reported');
});

test('the signature is really fetched: without it in the lookaside the signed image is unsigned too', async () => {
  const repository = join(signatures, 'podsec');
  const aside = join(work, 'signatures-aside');
  renameSync(repository, aside);
  try {
    const r = await check();
    assert.ok(journal(r)[0]!.includes(`${JSON.stringify(USER)}: ${JSON.stringify(SIGNED())}`), journal(r).join('\n'));
  } finally {
    renameSync(aside, repository);
  }
});

test('only the signed image left: POLICY OK, exit 0, nothing in the journal', async () => {
  for (const image of [UNSIGNED(), OUTSIDE()]) {
    const r = await user!.run(['podman', 'rmi', image]);
    assert.is(r.exitCode, 0, r.stderr);
  }
  const r = await check();
  assert.is(r.stdout, 'POLICY OK: Containerization policies are not violated\n');
  assert.is(r.exitCode, 0);
  assert.equal(journal(r), []);
});

test('names a user writes into their images.json are data: quoted, one line each, the canary never appears', async () => {
  const hostile = [
    `${registryIn}/podsec/x';touch ${canary};':1`,
    `${registryIn}/$(touch ${canary})/x:1`,
    `${registryIn}/podsec/\`touch ${canary}\`:1`,
    `${registryIn}/podsec/a\nCritical: forged line:1`,
    `${registryIn}/podsec/x:"; touch ${canary}; "`,
    `--help`,
    `-vvv`,
    `127.0.0.1:1"$(touch ${canary})/x:1`,
    `evil.example/'$(touch ${canary})'/x:\`touch ${canary}\``,
  ];
  const list = JSON.parse(readFileSync(imagesJson(), 'utf8')) as { names?: string[] }[];
  list[0]!.names = [...(list[0]!.names ?? []), ...hostile];
  writeFileSync(imagesJson(), JSON.stringify(list));
  const r = await check();
  if (process.env.DEBUG_IMAGES) process.stdout.write(`${r.stdout}${r.stderr}`);
  assert.not.ok(existsSync(canary), 'the canary file appeared');
  assert.is(r.exitCode, 2, r.stdout + r.stderr);
  const lines = journal(r);
  assert.is(lines.length, 2, lines.join('\n'));
  for (const line of lines) assert.match(line, /^<2>Critical: Critical\(10[23]\): Users /);
  // Every hostile name is in the report, JSON-quoted (so the newline cannot forge a journal entry).
  for (const name of hostile)
    assert.ok(
      lines.some((l) => l.includes(JSON.stringify(name))),
      `${JSON.stringify(name)} not reported:\n${lines.join('\n')}`,
    );
  assert.not.ok(
    lines.some((l) => l.includes(JSON.stringify(SIGNED()))),
    'the signed image is still not reported',
  );
});

test.run();
