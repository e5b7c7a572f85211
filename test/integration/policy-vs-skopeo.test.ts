/**
 * podsec-inotify-check-policy's verdict on policy.json against the real containers/image: for each
 * file, the check refuses the policy ("cannot be used", CRITICAL 200) exactly when `skopeo --policy
 * FILE copy` of a local OCI image fails with "Error loading trust policy" (duplicate keys, an empty
 * keyPath, an empty sigstore keyPaths list, a bad keyType…). The reference is the current skopeo
 * (Debian trixie's, as in trust-sigstore.test.ts): it reads the fields containers/image added after
 * the skopeo 1.9 of the test machine (keyPaths and keyDatas for sigstoreSigned).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { inotifyProgram, JOURNAL_ENV } from '../support/inotify-programs.ts';
import { podsecTree } from '../support/inotify-tree.ts';
import { run } from '../support/exec.ts';
import { trixieContainerTools, type TrixieTools } from '../support/oci-fixtures.ts';
import { withTools } from '../support/tools.ts';

const test = withTools(base, ['patchelf', 'apt-get', 'dpkg-deb', 'lsattr']);
const work = mkdtempSync(join(tmpdir(), 'podsec-policy-skopeo-'));
let tools: TrixieTools;
let program: string;

/** An OCI layout with one image (a config and no layers): enough for skopeo to load the policy and evaluate it. */
function tinyImage(dir: string): string {
  const blob = (text: string) => {
    const digest = createHash('sha256').update(text).digest('hex');
    writeFileSync(join(dir, 'blobs/sha256', digest), text);
    return { digest: `sha256:${digest}`, size: Buffer.byteLength(text) };
  };
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  const config = blob(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const manifestType = 'application/vnd.oci.image.manifest.v1+json';
  const manifest = blob(
    JSON.stringify({ schemaVersion: 2, mediaType: manifestType, config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [] }),
  );
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: manifestType, ...manifest, annotations: { 'org.opencontainers.image.ref.name': 't' } }] }),
  );
  return `oci:${dir}:t`;
}
let image = '';

base.before(async () => {
  tools = trixieContainerTools();
  program = await inotifyProgram('podsec-inotify-check-policy');
  image = tinyImage(join(work, 'image'));
});
base.after(() => rmSync(work, { recursive: true, force: true }));

const SIGNED = '{"type":"signedBy","keyType":"GPGKeys","keyPath":"/var/sigstore/keys/policy.json.pgp"}';
/** A compliant policy whose registry.local/t scope has `requirement`, as text (duplicate keys can't go through JSON.stringify). */
const withScope = (requirement: string) =>
  `{"default":[{"type":"reject"}],"transports":{"docker":{"registry.local":[${SIGNED}],"registry.local/t":[${requirement}]}}}`;

const CASES: [string, string][] = [
  ['a valid signedBy scope', withScope('{"type":"signedBy","keyType":"GPGKeys","keyPath":"/var/sigstore/keys/t.pgp"}')],
  [
    'a duplicate top-level key',
    `{"default":[{"type":"insecureAcceptAnything"}],"default":[{"type":"reject"}],"transports":{"docker":{"registry.local":[${SIGNED}]}}}`,
  ],
  [
    'a duplicate scope',
    `{"default":[{"type":"reject"}],"transports":{"docker":{"registry.local":[{"type":"insecureAcceptAnything"}],"registry.local":[${SIGNED}]}}}`,
  ],
  ['a duplicate keyPath', withScope('{"type":"signedBy","keyType":"GPGKeys","keyPath":"/tmp/evil.pgp","keyPath":"/var/sigstore/keys/t.pgp"}')],
  [
    'a duplicate key in signedIdentity',
    withScope('{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"matchExact","type":"matchExact"}}'),
  ],
  ['an empty keyPath', withScope('{"type":"signedBy","keyType":"GPGKeys","keyPath":""}')],
  ['a null keyPath', withScope('{"type":"signedBy","keyType":"GPGKeys","keyPath":null}')],
  ['signedBy keyPaths: []', withScope('{"type":"signedBy","keyType":"GPGKeys","keyPaths":[]}')],
  ['signedBy keyData: ""', withScope('{"type":"signedBy","keyType":"GPGKeys","keyData":""}')],
  ['keyData that is not base64', withScope('{"type":"signedBy","keyType":"GPGKeys","keyData":"!!"}')],
  ['keyPath and keyData', withScope('{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","keyData":"eA=="}')],
  ['keyType signedBySigstoreKeys', withScope('{"type":"signedBy","keyType":"signedBySigstoreKeys","keyPath":"/k"}')],
  ['keyType X509Certificates', withScope('{"type":"signedBy","keyType":"X509Certificates","keyPath":"/k"}')],
  ['no keyType', withScope('{"type":"signedBy","keyPath":"/k"}')],
  ['an unknown signedIdentity type', withScope('{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"bogus"}}')],
  ['sigstoreSigned with an empty keyPath', withScope('{"type":"sigstoreSigned","keyPath":""}')],
  ['sigstoreSigned keyData: ""', withScope('{"type":"sigstoreSigned","keyData":""}')],
  ['sigstoreSigned keyPaths: []', withScope('{"type":"sigstoreSigned","keyPaths":[]}')],
  ['sigstoreSigned keyPaths', withScope('{"type":"sigstoreSigned","keyPaths":["/k1","/k2"]}')],
  ['sigstoreSigned keyDatas: []', withScope('{"type":"sigstoreSigned","keyDatas":[]}')],
  ['sigstoreSigned fulcio without a CA', withScope('{"type":"sigstoreSigned","fulcio":{}}')],
  ['an empty requirement list', withScope('')],
  ['an unknown field', withScope('{"type":"reject","extra":1}')],
  ['a trailing comma', withScope(`${SIGNED},`)],
  ['a control character in a string', withScope('{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k\u0001"}')],
];

test('check-policy refuses a policy exactly when skopeo cannot load it', async () => {
  const disagreements: string[] = [];
  for (const [name, text] of CASES) {
    const tree = podsecTree();
    tree.write('etc/containers/policy.json', text);
    const out = join(work, 'out');
    rmSync(out, { recursive: true, force: true });
    const copied = await run(join(tools.bin, 'skopeo'), ['--policy', join(tree.root, 'etc/containers/policy.json'), 'copy', '-q', image, `dir:${out}`]);
    const skopeoRefuses = /Error loading trust policy/.test(copied.stderr);
    // Otherwise skopeo loaded the policy and refused the image by it (reject by default): it must not have copied.
    if (!skopeoRefuses) assert.match(copied.stderr, /rejected by policy/, `${name}: ${copied.stderr}`);
    const checked = await run(program, ['--root', tree.root], { env: JOURNAL_ENV });
    const weRefuse = /containers policy that cannot be used/.test(checked.stderr);
    if (weRefuse !== skopeoRefuses)
      disagreements.push(`${name}: skopeo ${skopeoRefuses ? 'refuses' : 'loads'} it, check-policy ${weRefuse ? 'refuses' : 'accepts'} it`);
    tree.cleanup();
  }
  assert.equal(disagreements, []);
});

test.run();
