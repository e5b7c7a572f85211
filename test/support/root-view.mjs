// Runs a command with parts of a test's --root tree mounted at their real paths, so a service
// started from a generated unit reads exactly the files a node would (/etc/podsec/..., /var/sigstore)
// without anything being created on the host. Start it inside a private mount namespace:
//
//   unshare --mount --propagation private -- node root-view.mjs --scratch DIR \
//       [--bind SRC:DST]... [--dir DST]... -- COMMAND ARGS...
//
// For a DST that does not exist on the host, its nearest existing ancestor gets an overlay (the
// host's directory as the lower layer, SCRATCH as the upper) and DST is created in the overlay.
// --dir mounts an empty tmpfs there (systemd's RuntimeDirectory=). Signals are passed on to the
// command; the exit status is the command's.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

const args = process.argv.slice(2);
const binds = [];
const dirs = [];
let scratch;
while (args.length && args[0] !== '--') {
  const option = args.shift();
  const value = args.shift();
  if (option === '--bind') binds.push(value.split(':'));
  else if (option === '--dir') dirs.push(value);
  else if (option === '--scratch') scratch = value;
  else throw new Error(`root-view: unknown option ${option}`);
}
args.shift();
if (!scratch || args.length === 0) throw new Error('root-view: --scratch and a command are required');

const mount = (mountArgs) => {
  const result = spawnSync('mount', mountArgs, { encoding: 'utf8' });
  if (result.status !== 0) {
    process.stderr.write(`root-view: mount ${mountArgs.join(' ')}: ${result.stderr}`);
    process.exit(125);
  }
};

const overlaid = new Set();
let layers = 0;
function ensureDir(path) {
  if (existsSync(path)) return;
  let ancestor = dirname(path);
  while (!existsSync(ancestor)) ancestor = dirname(ancestor);
  if (!overlaid.has(ancestor)) {
    const upper = join(scratch, `upper${layers}`);
    const work = join(scratch, `work${layers++}`);
    mkdirSync(upper, { recursive: true });
    mkdirSync(work, { recursive: true });
    mount(['-t', 'overlay', 'overlay', '-o', `lowerdir=${ancestor},upperdir=${upper},workdir=${work}`, ancestor]);
    overlaid.add(ancestor);
  }
  mkdirSync(path, { recursive: true, mode: 0o755 });
}

for (const [source, target] of binds) {
  ensureDir(target);
  mount(['--bind', source, target]);
}
for (const dir of dirs) {
  ensureDir(dir);
  mount(['-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', dir]);
}

const child = spawn(args[0], args.slice(1), { stdio: 'inherit' });
for (const signal of ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('error', (error) => {
  process.stderr.write(`root-view: ${args[0]}: ${error.message}\n`);
  process.exit(127);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
