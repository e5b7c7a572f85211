/**
 * What a booted node must look like, derived from the model, and how to read it from inside the
 * node. A small collector program runs on the node's own Node (in an nspawn container through
 * exec, in a VM from a oneshot unit) and prints facts as JSON: accounts, lstat of every declared
 * path, `systemctl is-enabled` of every system unit, `systemd-analyze verify` of every unit.
 * compareFacts() turns facts into a list of problems (empty = the node equals the model).
 */
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { type Branch, resolvePath } from '../../scripts/model/branches.ts';
import type { ProjectModel } from '../../scripts/model/types.ts';
import { expectedRows } from './model-expectations.ts';

interface CheckRequest {
  paths: string[];
  systemUnits: string[];
  userUnits: string[];
  verify: boolean;
}

export interface Facts {
  users: Record<string, { uid: number; gid: number; home: string }>;
  groups: Record<string, { gid: number; members: string[] }>;
  paths: Record<string, { type: string; mode: string; owner: string; group: string; target?: string } | { missing: string }>;
  enabled: Record<string, string>;
  verify: Record<string, { code: number | null; stderr: string }>;
  state: string;
  failedUnits: string[];
  /** Guest seconds since boot when multi-user.target became active (0 if not yet). */
  multiUserSeconds: number;
}

/** Every system and user unit the model declares, as installed paths on `branch`. */
export function modelUnits(model: ProjectModel, branch: Branch): { system: string[]; user: string[] } {
  const entries = model.packages.flatMap((p) => p.entries);
  const paths = (kind: string) =>
    entries
      .filter((e) => e.kind === kind)
      .map((e) => resolvePath(e.path, branch))
      .sort();
  return { system: paths('system-unit'), user: paths('user-unit') };
}

export function checkRequest(model: ProjectModel, branch: Branch, verify = true): CheckRequest {
  const units = modelUnits(model, branch);
  return {
    paths: model.packages.flatMap((p) => expectedRows(p, branch).map((r) => r.path)),
    systemUnits: units.system,
    userUnits: units.user,
    verify,
  };
}

/**
 * The collector (CommonJS for the node's Node 18): `node collect.cjs REQUEST.json [OUT]`.
 * Reads only; every command has a timeout.
 */
export const COLLECTOR = String.raw`'use strict';
const fs = require('fs');
const { spawnSync } = require('child_process');
const req = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const run = (cmd, args, extraEnv) => {
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '', ...extraEnv };
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60000, env });
  return { code: r.status, stdout: r.stdout || '', stderr: (r.stderr || '') + (r.error ? String(r.error) : '') };
};
const table = (f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => l.split(':'));
const passwd = table('/etc/passwd');
const group = table('/etc/group');
const userName = new Map(passwd.map((f) => [Number(f[2]), f[0]]));
const groupName = new Map(group.map((f) => [Number(f[2]), f[0]]));
const facts = { users: {}, groups: {}, paths: {}, enabled: {}, verify: {}, state: '', failedUnits: [], multiUserSeconds: 0 };
for (const f of passwd) facts.users[f[0]] = { uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
for (const f of group) facts.groups[f[0]] = { gid: Number(f[2]), members: (f[3] || '').split(',').filter(Boolean) };
const typeOf = (st) => st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
for (const p of req.paths) {
  try {
    const st = fs.lstatSync(p);
    const owner = userName.get(st.uid) || String(st.uid);
    facts.paths[p] = { type: typeOf(st), mode: st.mode.toString(8), owner, group: groupName.get(st.gid) || String(st.gid) };
    if (st.isSymbolicLink()) facts.paths[p].target = fs.readlinkSync(p);
  } catch (e) {
    facts.paths[p] = { missing: String(e.code || e) };
  }
}
// One systemctl for all units (it answers one line per unit, in order): cheap under TCG.
const unitNames = req.systemUnits.map((p) => p.slice(p.lastIndexOf('/') + 1));
if (unitNames.length) {
  const states = run('systemctl', ['is-enabled', ...unitNames]).stdout.split('\n');
  unitNames.forEach((name, i) => (facts.enabled[name] = (states[i] || '').trim()));
}
if (req.verify) {
  for (const p of req.systemUnits) {
    const r = run('systemd-analyze', ['verify', '--man=no', p]);
    facts.verify[p] = { code: r.code, stderr: r.stderr };
  }
  // A user manager needs a runtime directory; verify gets a private one.
  const xdg = req.userUnits.length ? fs.mkdtempSync('/tmp/podsec-check-xdg-') : '';
  for (const p of req.userUnits) {
    const r = run('systemd-analyze', ['--user', 'verify', '--man=no', p], { XDG_RUNTIME_DIR: xdg, HOME: '/root' });
    facts.verify[p] = { code: r.code, stderr: r.stderr };
  }
  if (xdg) fs.rmSync(xdg, { recursive: true, force: true });
}
facts.state = run('systemctl', ['is-system-running']).stdout.trim();
const failed = run('systemctl', ['list-units', '--failed', '--plain', '--no-legend', '--no-pager']).stdout;
facts.failedUnits = failed.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
const mono = Number(run('systemctl', ['show', '-P', 'ActiveEnterTimestampMonotonic', 'multi-user.target']).stdout.trim()) || 0;
facts.multiUserSeconds = mono / 1e6;
const out = JSON.stringify(facts);
if (process.argv[3]) fs.writeFileSync(process.argv[3], out + '\n'); else process.stdout.write(out + '\n');
`;

/** Where the collector and its request go inside a node (a path not under /run or /tmp). */
export const COLLECTOR_DIR = '/usr/local/lib/podsec-check';

// ---- preset policy: what %post_systemd's `systemctl preset` leaves behind ----

const PRESET_DIRS = [
  'etc/systemd/system-preset',
  'run/systemd/system-preset',
  'usr/local/lib/systemd/system-preset',
  'usr/lib/systemd/system-preset',
  'lib/systemd/system-preset',
];

interface PresetRule {
  action: 'enable' | 'disable';
  pattern: RegExp;
  file: string;
}

/** fnmatch(3) without flags: `*`, `?` and bracket expressions, anchored. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The preset rules of a root, in systemd's order: files by name, a name in an earlier dir masks later ones. */
export function presetRules(root: string): PresetRule[] {
  const files = new Map<string, string>();
  const seenDirs = new Set<string>();
  for (const dir of PRESET_DIRS) {
    const abs = join(root, dir);
    if (!existsSync(abs)) continue;
    const real = realpathSync(abs);
    if (seenDirs.has(real)) continue;
    seenDirs.add(real);
    for (const name of readdirSync(abs).filter((n) => n.endsWith('.preset'))) if (!files.has(name)) files.set(name, join(abs, name));
  }
  const rules: PresetRule[] = [];
  for (const name of [...files.keys()].sort()) {
    for (const raw of readFileSync(files.get(name)!, 'utf8').split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#') || line.startsWith(';')) continue;
      const [action, pattern] = line.split(/\s+/);
      if ((action === 'enable' || action === 'disable') && pattern) rules.push({ action, pattern: globToRegExp(pattern), file: name });
    }
  }
  return rules;
}

/** Whether a unit file has installation info ([Install] with WantedBy, RequiredBy, UpheldBy or Alias). */
export function isInstallable(unitText: string): boolean {
  const section = /^\s*\[Install\]\s*$([\s\S]*?)(?=^\s*\[|(?![\s\S]))/m.exec(unitText)?.[1] ?? '';
  return /^\s*(WantedBy|RequiredBy|UpheldBy|Alias)\s*=\s*\S/m.test(section);
}

/**
 * What `systemctl is-enabled` must say after `systemctl preset` on first install: `static`
 * without installation info; otherwise the first matching preset rule decides, and with none
 * systemd's built-in default is `enable`.
 */
export function expectedEnablement(unitName: string, unitText: string, rules: PresetRule[]): { state: string; why: string } {
  if (!isInstallable(unitText)) return { state: 'static', why: 'no [Install] section' };
  const rule = rules.find((r) => r.pattern.test(unitName));
  if (!rule) return { state: 'enabled', why: 'no preset rule matches (systemd default: enable)' };
  return { state: rule.action === 'enable' ? 'enabled' : 'disabled', why: `${rule.file}: ${rule.action} ${rule.pattern.source}` };
}

/**
 * Problems of a node against the model. `root` is a host path of the node's tree (the overlay or
 * the rootfs) for the unit texts and preset files.
 */
export function compareFacts(facts: Facts, model: ProjectModel, branch: Branch, root: string): string[] {
  const problems: string[] = [];
  for (const pkg of model.packages) {
    for (const g of pkg.groups) if (!facts.groups[g]) problems.push(`${pkg.name}: group ${g} missing`);
    for (const u of pkg.users) {
      const user = facts.users[u.name];
      if (!user) {
        problems.push(`${pkg.name}: user ${u.name} missing`);
        continue;
      }
      if (user.home !== resolvePath(u.home, branch)) problems.push(`user ${u.name}: home ${user.home}, model ${u.home}`);
      if (facts.groups[u.group]?.gid !== user.gid) problems.push(`user ${u.name}: primary group is not ${u.group}`);
      for (const g of u.supplementaryGroups) {
        if (!facts.groups[g]?.members.includes(u.name)) problems.push(`user ${u.name}: not a member of ${g}`);
      }
    }
    for (const row of expectedRows(pkg, branch)) {
      const got = facts.paths[row.path];
      if (!got || 'missing' in got) {
        problems.push(`${row.path}: missing (${got && 'missing' in got ? got.missing : 'not collected'})`);
        continue;
      }
      if (got.mode !== row.mode) problems.push(`${row.path}: mode ${got.mode}, model ${row.mode}`);
      if (got.owner !== row.owner || got.group !== row.group) problems.push(`${row.path}: owner ${got.owner}:${got.group}, model ${row.owner}:${row.group}`);
    }
    for (const e of pkg.entries.filter((x) => x.kind === 'symlink')) {
      const got = facts.paths[resolvePath(e.path, branch)];
      if (got && 'target' in got && got.target !== e.target) problems.push(`${e.path}: -> ${got.target}, model -> ${e.target}`);
    }
  }
  const rules = presetRules(root);
  const units = modelUnits(model, branch);
  for (const path of units.system) {
    const name = path.slice(path.lastIndexOf('/') + 1);
    const text = readFileSync(join(root, path), 'utf8');
    const expected = expectedEnablement(name, text, rules);
    if (facts.enabled[name] !== expected.state) {
      problems.push(`${name}: is-enabled ${facts.enabled[name] || '(nothing)'}, expected ${expected.state} (${expected.why})`);
    }
  }
  for (const path of [...units.system, ...units.user]) {
    const v = facts.verify[path];
    if (!v) continue;
    if (v.code !== 0 || v.stderr.trim()) problems.push(`systemd-analyze verify ${path}: exit ${v.code}: ${v.stderr.trim()}`);
  }
  return problems;
}
