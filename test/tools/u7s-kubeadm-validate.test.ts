// test-runner: k8s-tools — npm test builds the components of npm run k8s-tools first
/**
 * The wrapper's kubeadm documents checked by the real kubeadm that reads them: `--plan` of init, a
 * worker join and a control-plane join, under --root on a scratch tree, for kubeadm 1.34 (the
 * k8s-tools set) and for kubeadm of the newest minor (built alone, ensureNewestKubeadm); each
 * kubeadm's `kubeadm config validate` accepts its documents. The same documents in v1beta3 (what
 * the wrapper wrote before it knew v1beta4) are refused by the newest kubeadm, and relabelled
 * v1beta4 without the conversion, by 1.34: the check can fail.
 *
 * Both kubeadm builds are made by `npm test` before the tests (the marker above) or by `npm run
 * k8s-tools`; CI builds what is missing here, elsewhere the file is skipped with the reason when
 * they are not built.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { ensureK8sTools, ensureNewestKubeadm, lookupK8sTools, lookupNewestKubeadm } from '../../scripts/k8s-tools/build.ts';
import { runGated } from '../support/image-env.ts';
import { run } from '../support/exec.ts';
import { gated, inCI, missingTools } from '../support/tools.ts';
import { bundledPrograms, controlPlaneJoin, HASH, removeRoot, renderedRoot, TOKEN } from '../support/u7s-fixtures.ts';

const TOOLS = ['go', 'dpkg-query'];

/** kubeadm binaries by the version they report; CI builds a missing one, elsewhere only cached ones are used. */
async function kubeadms(): Promise<string[] | undefined> {
  if (missingTools(TOOLS).length || process.getuid?.() !== 0) return undefined;
  const set = (await lookupK8sTools()) ?? (inCI() ? await ensureK8sTools() : undefined);
  const newest = (await lookupNewestKubeadm()) ?? (inCI() ? await ensureNewestKubeadm() : undefined);
  return set && newest ? [set.bin('kubeadm'), newest.path] : undefined;
}

const binaries = await kubeadms();
const test = binaries || missingTools(TOOLS).length ? base : gated(base, 'kubeadm 1.34 and the newest kubeadm are not built (npm run k8s-tools)');
const work = mkdtempSync(join(tmpdir(), 'podsec-kubeadm-validate-'));
let bin: string;
let root: string;
base.before(async () => {
  bin = await bundledPrograms(['podsec-u7s-kubeadm']);
  root = await renderedRoot();
});
base.after(() => {
  rmSync(work, { recursive: true, force: true });
  removeRoot(bin);
  removeRoot(root);
});

const LAYOUTS: Record<string, string[]> = {
  init: ['init'],
  'worker join': ['join', '192.0.2.10:6443', '--token', TOKEN, '--discovery-token-ca-cert-hash', HASH],
  'control-plane join': ['join', ...controlPlaneJoin('192.0.2.100:8443')],
};

/** The kubeadm documents of the wrapper's --plan for Kubernetes `version`: the part after the rendered file's name. */
async function planned(args: string[], version: string): Promise<string> {
  const r = await run(
    process.execPath,
    [join(bin, 'podsec-u7s-kubeadm'), '--root', root, '--plan', ...args, '--apiserver-advertise-address', '192.0.2.11', '--node-name', 'n1'],
    { env: { PATH: process.env.PATH, LANG: 'C', U7S_PLATFORM: 'p11', U7S_KUBEVERSION: version }, cwd: work },
  );
  assert.is(r.exitCode, 0, r.stderr);
  const documents = /^# \/etc\/podsec\/u7s\/config\/rendered\/(?:init|join)\.yaml\n([\s\S]*?)\n# kubeadm command/m.exec(r.stdout)?.[1];
  assert.ok(documents, `--plan prints the documents:\n${r.stdout}`);
  return documents;
}

async function validate(kubeadm: string, name: string, text: string) {
  const file = join(work, `${name.replace(/\W+/g, '-')}.yaml`);
  writeFileSync(file, text);
  return run(kubeadm, ['config', 'validate', '--config', file], { cwd: work, timeoutMs: 60_000 });
}

async function versionOf(kubeadm: string): Promise<string> {
  const r = await run(kubeadm, ['version', '-o', 'short'], { cwd: work });
  assert.is(r.exitCode, 0, r.stderr);
  return r.stdout.trim();
}

/** The documents with another kubernetesVersion and kubeadm apiVersion, nothing else changed. */
function relabelled(text: string, kubernetesVersion: string, apiVersion?: string): string {
  return YAML.parseAllDocuments(text)
    .map((doc) => {
      const value = doc.toJS() as Record<string, unknown>;
      if (value.kind === 'ClusterConfiguration') value.kubernetesVersion = kubernetesVersion.replace(/^v/, '');
      if (apiVersion && String(value.apiVersion).startsWith('kubeadm.k8s.io/')) value.apiVersion = apiVersion;
      return YAML.stringify(value);
    })
    .join('---\n');
}

test('kubeadm 1.34 and the newest kubeadm validate the documents of init, worker join and control-plane join rendered for them', async () => {
  const [k134, newest] = binaries!;
  const seen: string[] = [];
  for (const kubeadm of [k134!, newest!]) {
    const version = await versionOf(kubeadm);
    seen.push(version);
    for (const [name, args] of Object.entries(LAYOUTS)) {
      const documents = await planned(args, version);
      assert.match(documents, /^apiVersion: kubeadm\.k8s\.io\/v1beta4$/m, `${name} for ${version}`);
      assert.not.match(documents, /v1beta3/, `${name} for ${version}`);
      const r = await validate(kubeadm, `${name}-${version}`, documents);
      assert.is(r.exitCode, 0, `kubeadm ${version} config validate, ${name}:\n${r.stderr}\n${documents}`);
    }
  }
  assert.match(seen[0]!, /^v1\.34\./);
  assert.ok(Number(seen[1]!.split('.')[1]) >= 37, `the newest kubeadm is 1.37 or later: ${seen[1]}`);
});

test('the refusals the conversion avoids: the newest kubeadm reads no v1beta3; v1beta4 without the conversion is invalid', async () => {
  const [k134, newest] = binaries!;
  const [old, latest] = [await versionOf(k134!), await versionOf(newest!)];
  for (const [name, args] of Object.entries(LAYOUTS)) {
    // What the wrapper writes for a kubeadm before 1.31: v1beta3, maps and the old timeout fields.
    const v1beta3 = await planned(args, 'v1.30.2');
    assert.match(v1beta3, /^apiVersion: kubeadm\.k8s\.io\/v1beta3$/m);
    const readByOld = await validate(k134!, `${name}-v1beta3-${old}`, relabelled(v1beta3, old));
    assert.is(readByOld.exitCode, 0, `kubeadm ${old} still reads v1beta3 (${name}):\n${readByOld.stderr}`);
    const refused = await validate(newest!, `${name}-v1beta3-${latest}`, relabelled(v1beta3, latest));
    assert.is.not(refused.exitCode, 0, `kubeadm ${latest} refuses v1beta3 (${name})`);
    assert.match(refused.stderr, /v1beta3/, `${name}: ${refused.stderr}`);
    if (name === 'worker join') continue; // its only flag map is absent; the discovery timeout is checked below
    const unconverted = await validate(k134!, `${name}-unconverted`, relabelled(v1beta3, old, 'kubeadm.k8s.io/v1beta4'));
    assert.is.not(unconverted.exitCode, 0, `v1beta4 with flag maps (${name})`);
    assert.match(unconverted.stderr, /extraArgs/);
  }
  const worker = await validate(k134!, 'worker-unconverted', relabelled(await planned(LAYOUTS['worker join']!, 'v1.30.2'), old, 'kubeadm.k8s.io/v1beta4'));
  assert.is.not(worker.exitCode, 0, 'v1beta4 has no discovery.timeout');
  assert.match(worker.stderr, /timeout/);
});

runGated(test, 'kubeadm config validate of the u7s documents', TOOLS);
