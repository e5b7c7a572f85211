/**
 * What the image, boot and upgrade tests do with a node booted by nspawn.ts's bootNode: collect
 * facts with a collector script, run `ip`, and run commands in a lingering user's own session.
 */
import * as fs from 'node:fs/promises';
import { execa } from 'execa';
import { sleep } from '../../scripts/image/cache.ts';
import type { Node } from './nspawn.ts';
import type { RunResult } from './rootfs.ts';

const POLL_MS = 100;

/** Writes the collector and its request into the node's tree (host side), runs it inside, parses. */
export async function collectFacts<T>(node: Node, root: string, collector: string, request: unknown, dir: string): Promise<T> {
  await fs.mkdir(`${root}${dir}`, { recursive: true });
  await fs.writeFile(`${root}${dir}/collect.cjs`, collector);
  await fs.writeFile(`${root}${dir}/request.json`, JSON.stringify(request));
  const r = await node.exec(['/usr/bin/node', `${dir}/collect.cjs`, `${dir}/request.json`], { timeoutMs: 300_000 });
  if (r.exitCode !== 0) throw new Error(`collector failed (${r.exitCode}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** `ip` with a bounded time; throws with stderr on failure. */
export async function ip(args: string[]): Promise<string> {
  const r = await execa('ip', args, { reject: false, stdin: 'ignore', timeout: 10_000 });
  if (r.exitCode !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const USER_MANAGER_TIMEOUT_MS = 30_000;

/**
 * Makes `user` of a booted node linger (`loginctl enable-linger`) and waits until the node's
 * logind has started the user's systemd manager (user@UID.service, with /run/user/UID made by
 * logind): the session that userRun() runs commands in. Returns the uid.
 */
export async function lingerUser(node: Pick<Node, 'name' | 'exec'>, user: string): Promise<number> {
  const id = await node.exec(['id', '-u', user]);
  const uid = Number(id.stdout.trim());
  if (id.exitCode !== 0 || !Number.isInteger(uid)) throw new Error(`${node.name}: no user ${user}: ${id.stderr}`);
  const linger = await node.exec(['loginctl', 'enable-linger', user]);
  if (linger.exitCode !== 0) throw new Error(`${node.name}: loginctl enable-linger ${user}: ${linger.stderr}`);
  const deadline = Date.now() + USER_MANAGER_TIMEOUT_MS;
  let state = '';
  for (let i = 0; i < USER_MANAGER_TIMEOUT_MS / POLL_MS && Date.now() < deadline; i++) {
    state = (await node.exec(['systemctl', 'is-active', `user@${uid}.service`], { timeoutMs: 10_000 })).stdout.trim();
    if (state === 'active') return uid;
    await sleep(POLL_MS);
  }
  throw new Error(`${node.name}: user@${uid}.service of ${user} is ${state || 'unknown'} after ${USER_MANAGER_TIMEOUT_MS / 1000} s`);
}

/**
 * argv as a transient service of `user`'s own systemd manager on the node (systemd-run
 * --machine=user@ --user --wait --pipe): the user's session environment (HOME, XDG_RUNTIME_DIR,
 * the user bus), started by the node's systemd and so under the node's system call filter, as a
 * login would be. Unlike exec, not a process entered from the host. The exit status is the
 * command's; RuntimeMaxSec bounds the unit even if systemd-run is killed. `lingerUser` first.
 */
export async function userRun(
  node: Pick<Node, 'name' | 'exec'>,
  user: string,
  argv: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const env = Object.entries(opts.env ?? {}).map(([k, v]) => `--setenv=${k}=${v}`);
  return node.exec(
    [
      'systemd-run',
      `--machine=${user}@`,
      '--user',
      '--wait',
      '--pipe',
      '--quiet',
      '--collect',
      `--property=RuntimeMaxSec=${Math.ceil(timeoutMs / 1000)}`,
      ...env,
      '--',
      ...argv,
    ],
    { timeoutMs: timeoutMs + 10_000 },
  );
}

/**
 * As `user` on the node, push the OCI layout `<layout>:<image>` to registry.local/<image> with
 * plain skopeo: no signature, as anyone with push access could.
 */
export function pushUnsigned(node: Pick<Node, 'name' | 'exec'>, user: string, layout: string, image: string): Promise<RunResult> {
  return userRun(node, user, ['skopeo', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:${image}`, `docker://registry.local/${image}`]);
}
