/**
 * Network namespaces for the trust tests: a "master" and a "node" namespace joined by a veth pair,
 * each with its own non-loopback address (10.233.X.1/30 and .2/30) and loopback up. The pair is
 * created directly inside the namespaces, so the machine's own interfaces, routes and firewall are
 * never touched; traffic stays in the two namespaces.
 *
 *   const pair = createNetnsPair();            // root only
 *   pair.master.argv('nginx', ['-t'])          // -> ['ip', ['netns', 'exec', <name>, 'nginx', '-t']]
 *   pair.remove();                             // also on process exit; stale pairs of dead test
 *                                              // processes are removed by the next createNetnsPair
 *
 * Processes started inside must be stopped before remove() (a namespace lives on while a process
 * uses it, even after its name is deleted).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { isAlive } from '../../scripts/image/cache.ts';

export interface Netns {
  name: string;
  /** This namespace's address on the veth link. */
  address: string;
  /** The argument array that runs `command args` inside this namespace. */
  argv(command: string, args: string[]): [string, string[]];
}

export interface NetnsPair {
  master: Netns;
  node: Netns;
  remove(): void;
}

const PREFIX = 'podsec-t';
const live = new Set<string>();

function ip(args: string[]): void {
  const result = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (result.status !== 0) throw new Error(`ip ${args.join(' ')}: ${result.stderr.trim() || result.error?.message}`);
}

function remove(name: string): void {
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore', timeout: 10_000 });
  live.delete(name);
}

process.on('exit', () => {
  for (const name of [...live]) remove(name);
});

/** Deletes namespaces left by test processes that no longer exist. */
function removeStaleNetns(): void {
  let list = '';
  try {
    list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 });
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const match = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (match && !isAlive(Number(match[1]))) remove(name);
  }
}

function netns(name: string, address: string): Netns {
  return { name, address, argv: (command, args) => ['ip', ['netns', 'exec', name, command, ...args]] };
}

export function createNetnsPair(): NetnsPair {
  removeStaleNetns();
  const tag = randomBytes(3).toString('hex');
  const names = { master: `${PREFIX}${process.pid}-${tag}-m`, node: `${PREFIX}${process.pid}-${tag}-n` };
  const subnet = `10.233.${randomInt(0, 256)}.${randomInt(0, 64) * 4}`;
  const base = subnet.split('.').map(Number) as [number, number, number, number];
  const addresses = { master: `${base[0]}.${base[1]}.${base[2]}.${base[3] + 1}`, node: `${base[0]}.${base[1]}.${base[2]}.${base[3] + 2}` };
  const veth = { master: `ps${tag}m`, node: `ps${tag}n` };
  try {
    for (const role of ['master', 'node'] as const) {
      ip(['netns', 'add', names[role]]);
      live.add(names[role]);
    }
    ip(['link', 'add', veth.master, 'netns', names.master, 'type', 'veth', 'peer', 'name', veth.node, 'netns', names.node]);
    for (const role of ['master', 'node'] as const) {
      ip(['-n', names[role], 'addr', 'add', `${addresses[role]}/30`, 'dev', veth[role]]);
      ip(['-n', names[role], 'link', 'set', veth[role], 'up']);
      ip(['-n', names[role], 'link', 'set', 'lo', 'up']);
    }
  } catch (error) {
    for (const role of ['master', 'node'] as const) remove(names[role]);
    throw error;
  }
  return {
    master: netns(names.master, addresses.master),
    node: netns(names.node, addresses.node),
    remove: () => {
      remove(names.master);
      remove(names.node);
    },
  };
}
