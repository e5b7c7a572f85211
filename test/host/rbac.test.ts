/**
 * The podsec-k8s-rbac flow (test/support/rbac-flow.ts) against a cluster you name:
 *
 *   KUBECONFIG=/path/to/admin.conf npm run test:host
 *
 * The kubeconfig must allow creating and approving CSRs, bindings and namespaces (cluster-admin).
 * Without $KUBECONFIG, without kubectl, or when the cluster does not answer, the suite is ONE
 * skipped test whose name says why. (The cluster tier runs the same flow against the cluster of
 * npm run cluster.)
 */
import { existsSync } from 'node:fs';
import { test } from 'uvu';
import { run } from '../support/exec.ts';
import { registerRbacFlow } from '../support/rbac-flow.ts';
import { hasTool } from '../support/tools.ts';

const KUBECONFIG = process.env.KUBECONFIG;
async function skipReason(): Promise<string | undefined> {
  if (!KUBECONFIG) return '$KUBECONFIG is not set (point it at a cluster-admin kubeconfig to run the real RBAC flow)';
  if (KUBECONFIG.includes(':')) return `$KUBECONFIG lists several files (${KUBECONFIG}); give exactly one`;
  if (!existsSync(KUBECONFIG)) return `$KUBECONFIG names a missing file: ${KUBECONFIG}`;
  if (!hasTool('kubectl')) return 'kubectl is not installed';
  const probe = await run('kubectl', ['--kubeconfig', KUBECONFIG, '--request-timeout=10s', 'get', '--raw', '/api'], { timeoutMs: 30_000 }).catch(
    (e: Error) => ({ exitCode: -1, stdout: '', stderr: e.message }),
  );
  if (probe.exitCode !== 0) return `kubectl cannot reach the cluster of $KUBECONFIG: ${probe.stderr.trim().split('\n').pop() ?? `exit ${probe.exitCode}`}`;
  return undefined;
}

const reason = await skipReason();

if (reason) {
  const name = `podsec-k8s-rbac cluster flow: skipped, ${reason}`;
  process.stdout.write(`skip: ${name}\n`);
  test.skip(name, () => {});
} else {
  registerRbacFlow(test, { admin: () => KUBECONFIG! });
}

test.run();
