/**
 * npm run cluster -- up [--nodes N] [--control-planes M] [--load-balancers L] [--rootful I,J...] [--kubernetes-version V]
 *                  | down | status | kubeconfig | exec NODE -- COMMAND...
 * (scripts/cluster/cluster.ts). Needs root: it creates a network namespace and boots nodes.
 */
import { spawnSync } from 'node:child_process';
import { isAlive } from '../image/cache.ts';
import { runScript, UsageError, type ScriptArgs } from '../script-cli.ts';
import { down, kubeconfigPath, kubectlArgs, liveState, up } from './cluster.ts';
import { nodeExec } from './machines.ts';

const USAGE = `usage: npm run cluster -- up [--nodes N] [--control-planes M] [--load-balancers L] [--rootful I,J...] [--kubernetes-version V]
         (L load balancer hosts, 0-3: haproxy, and keepalived moving one address when L > 1; --load-balancer is L=1;
          --rootful: these nodes run CRI-O and kubelet as root, the others rootless)
       npm run cluster -- down | status | kubeconfig
       npm run cluster -- exec NODE -- COMMAND [ARG...]      (NODE: 1..N; 1 is the first control plane)`;

const log = (line: string) => process.stderr.write(`${line}\n`);

const OPTIONS = {
  nodes: { type: 'string', default: '1' },
  'control-planes': { type: 'string', default: '1' },
  'load-balancer': { type: 'boolean' },
  'load-balancers': { type: 'string' },
  rootful: { type: 'string' },
  'kubernetes-version': { type: 'string' },
} as const;

runScript({ name: 'cluster', usage: USAGE, options: OPTIONS, positionals: true }, main);

async function main({ values, positionals, argv }: ScriptArgs<typeof OPTIONS>): Promise<number> {
  // What follows `--` is exec's command: parseArgs leaves it to the positionals, after the node.
  const dash = argv.indexOf('--');
  const [command, ...rest] = positionals;
  if (!command) throw new UsageError('a command is needed');
  if (process.getuid?.() !== 0) throw new Error('npm run cluster needs root (network namespaces, nspawn, overlays)');
  switch (command) {
    case 'up': {
      const state = await up({
        nodes: wholeNumber(values.nodes!, '--nodes'),
        controlPlanes: wholeNumber(values['control-planes']!, '--control-planes'),
        loadBalancers: values['load-balancers'] !== undefined ? wholeNumber(values['load-balancers'], '--load-balancers') : values['load-balancer'] ? 1 : 0,
        kubernetesVersion: values['kubernetes-version'],
        rootful: values.rootful?.split(',').map((n) => wholeNumber(n, '--rootful')),
        log,
      });
      process.stdout.write(`${kubeconfigPath(state)}\n`);
      return 0;
    }
    case 'down':
      await down(log);
      return 0;
    case 'status': {
      const state = await liveState(log);
      if (!state) {
        process.stdout.write('no cluster\n');
        return 3;
      }
      for (const n of state.nodes) process.stdout.write(`${n.index} ${n.name} ${n.role} ${n.address} ${isAlive(n.pid) ? 'running' : 'stopped'}\n`);
      const nodes = await nodeExec(state.nodes[0]!, kubectlArgs('get', 'nodes', '-o', 'wide'));
      process.stdout.write(nodes.stdout ? `${nodes.stdout}\n` : nodes.stderr);
      return 0;
    }
    case 'kubeconfig': {
      const state = await liveState(log);
      if (!state) throw new Error('no cluster: npm run cluster -- up first');
      process.stdout.write(`${kubeconfigPath(state)}\n`);
      return 0;
    }
    case 'exec': {
      const state = await liveState(log);
      if (!state) throw new Error('no cluster: npm run cluster -- up first');
      const node = state.nodes[wholeNumber(rest[0] ?? '', 'NODE') - 1];
      if (!node) throw new Error(`NODE: 1 to ${state.nodes.length}`);
      if (dash < 0 || dash === argv.length - 1) throw new Error(`exec NODE -- COMMAND: no command\n${USAGE}`);
      const result = spawnSync('nsenter', ['-t', String(node.leader), '-a', '--', ...argv.slice(dash + 1)], { stdio: 'inherit' });
      return result.status ?? 1;
    }
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

function wholeNumber(text: string, name: string): number {
  if (!/^\d+$/.test(text)) throw new Error(`${name}: ${JSON.stringify(text)} is not a whole number`);
  return Number(text);
}
