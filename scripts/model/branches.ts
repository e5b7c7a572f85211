/**
 * ALT branches and what the path macros expand to on each. This table is the one place these
 * values live: the ALT macro emulation for Debian's rpm (dist/macros/<branch>.macros) is generated
 * from it, and the model resolves installed paths with it.
 *
 * Source: ALT's rpm-build macros.in and platform.in, and podsec's Makefile.
 * p10 and p11 keep systemd's files under /lib; Sisyphus moved to merged /usr in 2024
 * (rpm-build 4.0.4.198–201, rpm-macros-systemd >= 6). Verify on a node with
 * `rpm --eval '%_unitdir %_modules_loaddir'` before relying on p11's values.
 */

export const BRANCHES = ['p10', 'p11', 'sisyphus'] as const;
export type Branch = (typeof BRANCHES)[number];
export const DEFAULT_BRANCH: Branch = 'p11';

const common = {
  _prefix: '/usr',
  _bindir: '/usr/bin',
  _sbindir: '/usr/sbin',
  _datadir: '/usr/share',
  _mandir: '/usr/share/man',
  _man1dir: '/usr/share/man/man1',
  _man8dir: '/usr/share/man/man8',
  _docdir: '/usr/share/doc',
  _localedir: '/usr/share/locale',
  _sysconfdir: '/etc',
  _var: '/var',
  _localstatedir: '/var/lib',
  _sharedstatedir: '/var/lib',
  _logdir: '/var/log',
  _userunitdir: '/usr/lib/systemd/user',
  // ALT's default is /usr/lib; podsec's spec overrides it (see the spec template).
  _libexecdir: '/usr/libexec',
} as const;

const systemdUnderLib = {
  _unitdir: '/lib/systemd/system',
  _modules_loaddir: '/lib/modules-load.d',
  _sysctldir: '/lib/sysctl.d',
  _tmpfilesdir: '/lib/tmpfiles.d',
  _presetdir: '/lib/systemd/system-preset',
} as const;

const systemdUnderUsr = {
  _unitdir: '/usr/lib/systemd/system',
  _modules_loaddir: '/usr/lib/modules-load.d',
  _sysctldir: '/usr/lib/sysctl.d',
  _tmpfilesdir: '/usr/lib/tmpfiles.d',
  _presetdir: '/usr/lib/systemd/system-preset',
} as const;

type RootMacro = keyof typeof common | keyof typeof systemdUnderLib;

export const BRANCH_MACROS: Record<Branch, Record<RootMacro, string>> = {
  p10: { ...common, ...systemdUnderLib },
  p11: { ...common, ...systemdUnderLib },
  sisyphus: { ...common, ...systemdUnderUsr },
};

/**
 * Macros the spec itself defines; they are not written to the emulation file. `_libexecdir` is
 * overridden; `_localedir` is defined only where rpm-build lacks it (4.0.4-alt135 has none).
 */
export const SPEC_DEFINED_MACROS: readonly RootMacro[] = ['_libexecdir', '_localedir'];

/** The ALT package defining each path macro (since rpm-build 4.0.4.201 the systemd paths live in rpm-macros-systemd). */
export const MACRO_PACKAGE: Record<RootMacro, 'rpm-build' | 'rpm-macros-systemd' | 'the spec'> = {
  ...(Object.fromEntries(Object.keys(common).map((name) => [name, 'rpm-build'])) as Record<keyof typeof common, 'rpm-build'>),
  ...(Object.fromEntries(Object.keys(systemdUnderLib).map((name) => [name, 'rpm-macros-systemd'])) as Record<
    keyof typeof systemdUnderLib,
    'rpm-macros-systemd'
  >),
  _userunitdir: 'rpm-macros-systemd',
  _libexecdir: 'the spec',
  _localedir: 'the spec',
};

export function isBranch(value: string): value is Branch {
  return (BRANCHES as readonly string[]).includes(value);
}

const MACRO_PREFIX = /^%\{?(_[a-z_0-9]+)\}?(?=\/|$)/;

/** `%_bindir/x` -> `/usr/bin/x` on the given branch. Throws on an unknown root macro. */
export function resolvePath(path: string, branch: Branch): string {
  if (path.startsWith('/')) return path;
  const match = MACRO_PREFIX.exec(path);
  if (!match) throw new Error(`not an absolute path or root macro: ${path}`);
  const name = match[1] as RootMacro;
  const value = BRANCH_MACROS[branch][name];
  if (value === undefined) throw new Error(`unknown root macro %${name} in ${path}`);
  return value + path.slice(match[0].length);
}

/** The root macro a path starts with, or undefined for a literal absolute path. */
export function rootMacroOf(path: string): string | undefined {
  return MACRO_PREFIX.exec(path)?.[1];
}
