/**
 * npm run k8s-tools [-- --cache DIR]: builds the real Kubernetes node components and their images
 * once per machine (scripts/k8s-tools/build.ts), and kubeadm of the newest Kubernetes minor alone
 * (it checks the wrapper's kubeadm documents). Progress goes to stderr; each component's build
 * time and, as the last line, the cache directory go to stdout. A second run builds nothing.
 */
import { runScript, type ScriptArgs } from '../script-cli.ts';
import { ensureK8sTools, ensureNewestKubeadm } from './build.ts';

const USAGE = 'usage: npm run k8s-tools [-- --cache DIR]   (default: $PODSEC_K8S_TOOLS_CACHE or /var/cache/podsec/k8s-tools)';
const OPTIONS = { cache: { type: 'string' } } as const;

runScript({ name: 'k8s-tools', usage: USAGE, options: OPTIONS }, main);

async function main({ values }: ScriptArgs<typeof OPTIONS>): Promise<number> {
  const started = performance.now();
  const options = {
    ...(values.cache ? { cache: values.cache } : {}),
    log: (line: string) => {
      // Build times are results (stdout); the rest is progress (stderr).
      if (/ built in | total /.test(line)) process.stdout.write(`${line}\n`);
      else process.stderr.write(`${line}\n`);
    },
  };
  const newest = await ensureNewestKubeadm(options);
  process.stdout.write(`k8s-tools: kubeadm ${newest.version}: ${newest.kubeadm}${newest.cached ? ' (cached)' : ''}\n`);
  const tools = await ensureK8sTools(options);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(tools.cached ? `k8s-tools: cached, nothing to build (${seconds} s)\n` : `k8s-tools: built in ${seconds} s\n`);
  process.stdout.write(`${tools.dir}\n`);
  return 0;
}
