/**
 * A real account for rootless podman tests whose home lies in a --root tree (useradd here,
 * userdel in remove()), and the stop of a user's rootless podman pause process.
 *
 *   const user = addPodmanUser(tree, 'psx123', { runtimeDir, files: { '.config/containers/storage.conf': '…' } });
 *   await user.run(['podman', 'pull', …]);
 *   user.remove();                       // pause process killed by its PID, account deleted
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { run, type Ran } from './exec.ts';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Kills the rootless podman pause process of the user whose XDG_RUNTIME_DIR is `runtimeDir`, by its PID. */
export function stopPodmanPause(runtimeDir: string): void {
  const pidFile = join(runtimeDir, 'libpod/tmp/pause.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export interface PodmanUser {
  name: string;
  uid: number;
  home: string;
  runtimeDir: string;
  /** args as the user with only HOME, USER, LOGNAME, PATH and XDG_RUNTIME_DIR set (rootless podman needs the last), started in /. */
  run(args: string[], timeoutMs?: number): Promise<Ran>;
  /** Stops the user's pause process and deletes the account; the home goes with the tree. */
  remove(): void;
}

/**
 * Adds `name` to the host (useradd, home `<tree>/home/<name>`, not created by useradd) and to the
 * tree's accounts in group podman; writes `files` (paths relative to the home) and gives the home
 * to the user. `runtimeDir` is made for the user (0700): a directory of the test's own, not
 * /run/user/UID, since a UID can be reused while another user's processes live.
 */
export function addPodmanUser(
  tree: { root: string; addUser(name: string, uid: number, groups: string[]): string },
  name: string,
  options: { runtimeDir: string; files?: Record<string, string> },
): PodmanUser {
  const home = join(tree.root, 'home', name);
  const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  sh('useradd', ['-M', '-U', '-d', home, '-s', '/bin/sh', name]);
  const remove = () => {
    stopPodmanPause(options.runtimeDir);
    spawnSync('userdel', ['-f', name], { stdio: 'ignore', timeout: 60_000 });
  };
  try {
    const uid = Number(sh('id', ['-u', name]).trim());
    tree.addUser(name, uid, ['podman']);
    for (const [path, text] of Object.entries(options.files ?? {})) {
      mkdirSync(dirname(join(home, path)), { recursive: true });
      writeFileSync(join(home, path), text);
    }
    sh('chown', ['-R', `${uid}:${uid}`, home]);
    mkdirSync(options.runtimeDir, { mode: 0o700 });
    chownSync(options.runtimeDir, uid, uid);
    const env = [`HOME=${home}`, `USER=${name}`, `LOGNAME=${name}`, `PATH=${PATH}`, `XDG_RUNTIME_DIR=${options.runtimeDir}`];
    return {
      name,
      uid,
      home,
      runtimeDir: options.runtimeDir,
      run: (args, timeoutMs = 120_000) => run('runuser', ['-u', name, '--', 'env', '-i', ...env, ...args], { timeoutMs, cwd: '/' }),
      remove,
    };
  } catch (error) {
    remove();
    throw error;
  }
}
