/**
 * etcdutl for the tests: etcd 3.6's etcdctl no longer restores snapshots and the k8s-tools cache
 * holds etcd and etcdctl only, so etcdutl is built once per machine from its Go module, at the
 * etcdctl version of the cache, into /var/cache/podsec/etcdutl/<version>/etcdutl (renamed into place
 * when complete). Undefined where Go is missing.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { K8S_TOOLS_VERSIONS } from '../../scripts/k8s-tools/versions.ts';
import { run } from './exec.ts';
import { hasTool } from './tools.ts';

const ROOT = process.env.PODSEC_ETCDUTL_CACHE || '/var/cache/podsec/etcdutl';

export async function etcdutlBinary(): Promise<string | undefined> {
  const version = K8S_TOOLS_VERSIONS.etcdctl.version;
  const dir = join(ROOT, version);
  const binary = join(dir, 'etcdutl');
  if (existsSync(binary)) return binary;
  if (!hasTool('go')) return undefined;
  mkdirSync(ROOT, { recursive: true, mode: 0o755 });
  const work = mkdtempSync(join(ROOT, '.build-'));
  try {
    writeFileSync(join(work, 'go.mod'), 'module podsec.test/etcdutl\n\ngo 1.24\n');
    writeFileSync(join(work, 'tools.go'), '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/etcdutl/v3"\n');
    const env = { ...process.env, CGO_ENABLED: '0' };
    const got = await run('go', ['get', `go.etcd.io/etcd/etcdutl/v3@${version}`], { cwd: work, env, timeoutMs: 900_000 });
    if (got.exitCode !== 0) throw new Error(`go get etcdutl: ${got.stderr}`);
    mkdirSync(join(work, 'out', version), { recursive: true });
    const built = await run('go', ['build', '-trimpath', '-o', join(work, 'out', version, 'etcdutl'), 'go.etcd.io/etcd/etcdutl/v3'], {
      cwd: work,
      env,
      timeoutMs: 1_800_000,
    });
    if (built.exitCode !== 0) throw new Error(`go build etcdutl: ${built.stderr}`);
    chmodSync(join(work, 'out', version), 0o755);
    if (!existsSync(binary)) renameSync(join(work, 'out', version), dir);
    return binary;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
