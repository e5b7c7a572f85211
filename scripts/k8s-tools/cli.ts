/**
 * npm run k8s-tools [-- --cache DIR]: builds the real Kubernetes node components and their images
 * once per machine (scripts/k8s-tools/build.ts), and kubeadm of the newest Kubernetes minor alone
 * (it checks the wrapper's kubeadm documents). Progress goes to stderr; each component's build
 * time and, as the last line, the cache directory go to stdout. A second run builds nothing.
 */
import { runScript, type ScriptArgs } from '../script-cli.ts';
import { ensureAllK8sTools } from './build.ts';

const USAGE = 'usage: npm run k8s-tools [-- --cache DIR]   (default: $PODSEC_K8S_TOOLS_CACHE or /var/cache/podsec/k8s-tools)';
const OPTIONS = { cache: { type: 'string' } } as const;

runScript({ name: 'k8s-tools', usage: USAGE, options: OPTIONS }, main);

async function main({ values }: ScriptArgs<typeof OPTIONS>): Promise<number> {
  const stdout = (line: string) => process.stdout.write(`${line}\n`);
  const tools = await ensureAllK8sTools({
    ...(values.cache ? { cache: values.cache } : {}),
    // Build times are results (stdout); the rest is progress (stderr).
    log: (line) => (/ built in | total /.test(line) ? stdout(line) : process.stderr.write(`${line}\n`)),
    report: stdout,
  });
  stdout(tools.dir);
  return 0;
}
