/**
 * podsec-inotify-check-containers against a real running rootless container: a test user (useradd
 * here, userdel after) whose home lies in a --root tree runs a busybox-static image with podman
 * (overlay graph driver, set in the user's storage.conf as podsec users have one); the monitor
 * watches that tree, and `podman exec … touch /bin/x` inside the container must be reported, with
 * the container's own layer ID, within a bounded time. Writes to /tmp in the container are not
 * reported; a file name with quotes and $() is logged verbatim and runs nothing.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { Daemon, inotifyProgram } from '../support/inotify-programs.ts';
import { podsecTree, type Tree } from '../support/inotify-tree.ts';
import { addPodmanUser, type PodmanUser } from '../support/podman-user.ts';
import { missingTools, withTools } from '../support/tools.ts';
import { hookError } from '../support/image-env.ts';

const TOOLS = ['podman', 'useradd', 'userdel', 'runuser', 'busybox', 'tar', 'inotifywait'];
const test = withTools(base, TOOLS);

const USER = `psctr${process.pid % 100000}`;
const CONTAINER = 'podsec-live';
const REPORT_WITHIN_MS = 60_000;

let work = '';
let tree: Tree | undefined;
let user: PodmanUser | undefined;
let daemon: Daemon | undefined;
let daemonCwd = '';
let layer = '';

async function ok(args: string[]): Promise<string> {
  const r = await user!.run(args);
  if (r.exitCode !== 0) throw new Error(`${args.join(' ')} (as ${USER}) exited ${r.exitCode}:\n${r.stderr}`);
  return r.stdout;
}

base.before(async () => {
  if (missingTools(TOOLS).length > 0) return;
  try {
    await setUp();
  } catch (error) {
    hookError(error); // uvu does not print what a before hook threw
  }
});

async function setUp(): Promise<void> {
  work = mkdtempSync(join(tmpdir(), 'podsec-inotify-live-'));
  chmodSync(work, 0o755);
  daemonCwd = join(work, 'cwd');
  mkdirSync(daemonCwd);

  // The image: static busybox and its applet links, packed reproducibly.
  const rootfs = join(work, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  copyFileSync(execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim(), join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  for (const applet of ['sh', 'sleep', 'touch', 'echo', 'cat']) symlinkSync('busybox', join(rootfs, 'bin', applet));
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  const tar = join(work, 'busybox.tar');
  execFileSync('tar', ['--sort=name', '--mtime=@1700000000', '--owner=0', '--group=0', '--numeric-owner', '-C', rootfs, '-cf', tar, '.']);
  chmodSync(tar, 0o644);

  // The user, living in the --root tree the monitor watches.
  tree = podsecTree('podsec-inotify-live-');
  // podsec users have a storage.conf; this one asks for the overlay driver the monitor watches.
  user = addPodmanUser(tree, USER, { runtimeDir: join(work, 'xdg'), files: { '.config/containers/storage.conf': '[storage]\ndriver = "overlay"\n' } });

  await ok(['podman', 'import', '--quiet', tar, 'localhost/podsec-live/busybox:1']);
  await ok(['podman', 'run', '-d', '--name', CONTAINER, '--network=none', '--cgroups=disabled', 'localhost/podsec-live/busybox:1', 'sleep', '600']);
  const upper = (await ok(['podman', 'inspect', '--format', '{{.GraphDriver.Data.UpperDir}}', CONTAINER])).trim();
  const match = /\/overlay\/([^/]+)\/diff$/.exec(upper);
  if (!match || !upper.startsWith(join(user.home, '.local/share/containers/storage/overlay/'))) throw new Error(`unexpected upper dir ${upper}`);
  layer = match[1]!;

  const program = await inotifyProgram('podsec-inotify-check-containers');
  // The monitor runs in an empty directory of its own: anything a file name could make it run lands there.
  const cwd = process.cwd();
  process.chdir(daemonCwd);
  try {
    daemon = new Daemon(program, ['--root', tree.root, '-v']);
  } finally {
    process.chdir(cwd);
  }
  await daemon.waitFor(/^Debug: watching 1 container storage directories/, 120_000);
}

base.after(async () => {
  await daemon?.stop();
  if (user) {
    await user.run(['podman', 'rm', '--force', '--time', '0', CONTAINER]).catch(() => undefined);
    await user.run(['podman', 'rmi', '--all', '--force']).catch(() => undefined);
    user.remove();
  }
  tree?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("podman exec … touch /bin/x in a running rootless container: Critical, with the container's layer, within a bounded time", async () => {
  const since = Date.now();
  await ok(['podman', 'exec', CONTAINER, 'touch', '/bin/x']);
  const line = await daemon!.waitFor(/on the file "\/bin\/x"$/, REPORT_WITHIN_MS, since);
  assert.is(line.priority, 2);
  assert.match(line.text, new RegExp(`^Critical: An event CREATE(,ATTRIB)? occurred in the container ${layer} on the file "/bin/x"$`));
});

test('a changed /etc/passwd is a Warning in the configuration directory; a chmod (ATTRIB) is seen; /tmp is not watched', async () => {
  const since = Date.now();
  await ok(['podman', 'exec', CONTAINER, 'touch', '/tmp/noise']);
  await ok(['podman', 'exec', CONTAINER, 'sh', '-c', 'echo "evil:x:0:0::/:/bin/sh" >> /etc/passwd']);
  const passwd = await daemon!.waitFor(/on the file "\/etc\/passwd"$/, REPORT_WITHIN_MS, since);
  assert.is(passwd.priority, 5);
  assert.match(passwd.text, new RegExp(`^Warning: An event .*occurred in the container ${layer} in configuration directory on the file "/etc/passwd"$`));
  const chmodSince = Date.now();
  await ok(['podman', 'exec', CONTAINER, 'busybox', 'chmod', '4755', '/bin/x']);
  await daemon!.waitFor(/^Critical: An event ATTRIB occurred .* on the file "\/bin\/x"$/, REPORT_WITHIN_MS, chmodSince);
  await daemon!.sync(); // the touch of /tmp/noise is handled: had it been reported, it would be by now
  assert.not.ok(
    daemon!.lines.some((l) => l.text.includes('/tmp/noise')),
    'a write to /tmp was reported',
  );
});

test('a file name with quotes and $() made inside the container is logged verbatim and runs nothing', async () => {
  const name = `a';touch pwned;'$(touch pwned2)`;
  const since = Date.now();
  await ok(['podman', 'exec', CONTAINER, 'touch', `/bin/${name}`]);
  const line = await daemon!.waitFor(/pwned2/, REPORT_WITHIN_MS, since);
  assert.ok(line.text.endsWith(`on the file ${JSON.stringify(`/bin/${name}`)}`), line.text);
  assert.equal(readdirSync(daemonCwd), [], "nothing ran in the monitor's working directory");
});

test.run();
