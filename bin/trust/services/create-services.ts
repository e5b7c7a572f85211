/**
 * podsec-create-services' work, as a plan: on the master only, write the signature server's nginx
 * config (checked with `nginx -t` before it is installed) and the registry's config, create the
 * registry storage, then enable and start (or restart, when their config changed) the two units
 * podsec ships. Under --root nothing is started; units found in the tree are enabled offline.
 */
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError } from '../../lib/command.ts';
import { translator } from '../../lib/i18n.ts';
import { planFile, planParentDir, planDir } from '../file-changes.ts';
import { requireSigstoreServer } from '../hosts.ts';
import { type Binding } from '../../lib/hosts.ts';
import { Plan } from '../../lib/plan.ts';
import { NGINX_CONF, REGISTRY_CONF, REGISTRY_STORAGE, REGISTRY_UNIT, registryConfig, SIGSTORE_UNIT, sigstoreNginxConfig } from './service-configs.ts';
import { lastLine, runSync } from '../../lib/proc.ts';
import { REGISTRY_PORT, SIGSTORE_PORT } from '../../lib/names.ts';

const t = translator('podsec');

/** The distribution's units that upstream podsec configured: they hold our ports. */
const CONFLICTING_UNITS = ['httpd2.service', 'docker-registry.service'];
const OPTIONAL_UNITS = ['trivy.service'];
const UNIT_DIRS = ['/etc/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];

/** `nginx -t` on a candidate config, in a private temp prefix; throws with nginx's own message. */
export function checkNginxConfig(text: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'podsec-nginx-'));
  try {
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, text, { mode: 0o600 });
    const result = runSync('nginx', ['-t', '-q', '-p', `${dir}/`, '-c', conf, '-e', 'stderr'], { timeoutMs: 60_000 });
    if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') throw new CommandError(t('nginx is not installed'), 1);
    if (result.status !== 0) {
      const stderr = result.stderr.replaceAll(conf, NGINX_CONF);
      const emerg = stderr.split('\n').find((line) => /\[(emerg|alert|crit)\]/.test(line));
      const reason = emerg?.replace(/^.*?\[(emerg|alert|crit)\] [\d#]+: /, '') ?? lastLine(stderr);
      throw new CommandError(t('nginx rejects the signature server configuration: {reason}', { reason: reason || String(result.status) }), 1);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const systemdRunning = () => existsSync('/run/systemd/system');

function systemctl(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return runSync('systemctl', args, { timeoutMs: 120_000 });
}

function systemctlOrFail(args: string[]): void {
  const result = systemctl(args);
  if (result.status !== 0)
    throw new CommandError(t('systemctl {args} failed: {reason}', { args: args.join(' '), reason: lastLine(result.stderr) || String(result.status) }), 1);
}

const isActive = (unit: string) => systemctl(['is-active', '--quiet', unit]).status === 0;
const isEnabled = (unit: string) => systemctl(['is-enabled', '--quiet', unit]).status === 0;
const unitExists = (root: string, unit: string) => UNIT_DIRS.some((dir) => existsSync(join(root, dir, unit)));

/** Can we listen on host:port? (false when another program holds it) */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function offlineEnabled(root: string, unit: string): boolean {
  try {
    return lstatSync(join(root, '/etc/systemd/system/multi-user.target.wants', unit)).isSymbolicLink();
  } catch {
    return false;
  }
}

async function planUnits(plan: Plan, root: string, binding: Binding, changed: { sigstore: boolean; registry: boolean }): Promise<void> {
  const units = [
    { unit: REGISTRY_UNIT, port: REGISTRY_PORT, changed: changed.registry },
    { unit: SIGSTORE_UNIT, port: SIGSTORE_PORT, changed: changed.sigstore },
  ];
  if (root !== '/') {
    const present = units.filter((u) => unitExists(root, u.unit) && !offlineEnabled(root, u.unit)).map((u) => u.unit);
    if (present.length > 0)
      plan.change(t('enable {units} in {root}', { units: present.join(' '), root }), () => systemctlOrFail([`--root=${root}`, 'enable', ...present]));
    plan.note(t('Under --root the services are not started.'));
    return;
  }
  if (runSync('systemctl', ['--version'], { timeoutMs: 60_000 }).status !== 0 || !systemdRunning()) {
    plan.note(t('systemd is not running here: start {units} once it is.', { units: units.map((u) => u.unit).join(' ') }));
    return;
  }
  for (const unit of CONFLICTING_UNITS) {
    if (!isActive(unit)) continue;
    plan.change(t('stop and disable {unit}: it holds a port of the registry or the signature server', { unit }), () =>
      systemctlOrFail(['disable', '--now', unit]),
    );
  }
  for (const { unit, port, changed: configChanged } of units) {
    if (!unitExists(root, unit)) throw new CommandError(t('the unit {unit} is not installed; reinstall the podsec package', { unit }), 1);
    if (isActive(unit)) {
      if (configChanged) plan.change(t('restart {unit} with the new configuration', { unit }), () => systemctlOrFail(['restart', unit]));
      if (!isEnabled(unit)) plan.change(t('enable {unit}', { unit }), () => systemctlOrFail(['enable', unit]));
      continue;
    }
    // A port held by a program we don't manage would make the start fail: refuse before changing anything.
    if (!CONFLICTING_UNITS.some(isActive) && !(await portFree(binding.address, port))) {
      throw new CommandError(
        t('port {port} on {address} is used by another program; stop it and run the command again', { port, address: binding.address }),
        1,
      );
    }
    plan.change(t('enable and start {unit}', { unit }), () => systemctlOrFail(['enable', '--now', unit]));
  }
  for (const unit of OPTIONAL_UNITS) {
    if (!unitExists(root, unit) || isActive(unit)) continue;
    plan.change(t('enable and start {unit}', { unit }), () => systemctlOrFail(['enable', '--now', unit]));
  }
}

export async function planCreateServices(root: string, options: { local?: Set<string> } = {}): Promise<Plan> {
  const binding = requireSigstoreServer(root, t('Services cannot be started.'), options.local);
  const plan = new Plan();
  const nginxText = sigstoreNginxConfig({ listen: `${binding.address}:${SIGSTORE_PORT}` });
  const registryText = registryConfig({ addr: `${binding.address}:${REGISTRY_PORT}` });
  checkNginxConfig(nginxText);

  for (const dir of ['/etc', '/etc/podsec', '/etc/podsec/sigstore', '/etc/podsec/registry']) planParentDir(plan, root, dir);
  const before = plan.steps.length;
  planFile(plan, root, NGINX_CONF, nginxText, {
    mode: 0o644,
    what: t('the signature server on {address}:{port}', { address: binding.address, port: SIGSTORE_PORT }),
  });
  const sigstoreChanged = plan.steps.length > before;
  const middle = plan.steps.length;
  planFile(plan, root, REGISTRY_CONF, registryText, {
    mode: 0o644,
    what: t('the registry on {address}:{port}', { address: binding.address, port: REGISTRY_PORT }),
  });
  const registryChanged = plan.steps.length > middle;
  for (const dir of [
    '/var',
    '/var/lib',
    '/var/lib/containers',
    '/var/lib/containers/storage',
    '/var/lib/containers/storage/volumes',
    '/var/lib/containers/storage/volumes/registry',
  ]) {
    planParentDir(plan, root, dir);
  }
  planDir(plan, root, REGISTRY_STORAGE, { mode: 0o700 });
  await planUnits(plan, root, binding, { sigstore: sigstoreChanged, registry: registryChanged });
  return plan;
}
