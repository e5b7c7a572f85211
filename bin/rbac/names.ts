/**
 * Validation of the names podsec-k8s-rbac takes from its command line. Names are data: they go
 * into argument arrays, JSON objects and DER-encoded certificate subjects, never into a shell or a
 * program text, so validation is about what Linux and Kubernetes accept, not about quoting.
 */

/** A local account name: what useradd accepts on ALT and Debian by default, no leading '-'. */
const USER_NAME = /^[a-z_][a-z0-9_.-]{0,31}$/;
/** A Kubernetes namespace: an RFC 1123 DNS label. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** RBAC group names become O= attributes of the client certificate; Kubernetes takes them verbatim. */
const GROUP_NAME = /^[A-Za-z0-9]([A-Za-z0-9_.:@-]{0,126}[A-Za-z0-9])?$/;
/** Kubernetes RBAC object names are path segment names (no '/', no '%', not '.' or '..'); we are stricter. */
const RBAC_OBJECT_NAME = /^[A-Za-z0-9]([A-Za-z0-9_.:@-]{0,251}[A-Za-z0-9])?$/;

const SYSTEM_PREFIX = 'system:';

type NameKind = 'user' | 'group' | 'namespace' | 'role' | 'binding';

export class InvalidNameError extends Error {
  constructor(
    readonly kind: NameKind,
    readonly value: string,
  ) {
    super(`invalid ${kind} name ${JSON.stringify(value)}`);
  }
}

export function isSystemName(name: string): boolean {
  return name.startsWith(SYSTEM_PREFIX);
}

/**
 * A user name: a local account name, or (only when allowed) a Kubernetes system identity such as
 * `system:kube-proxy` or `system:serviceaccount:ns:name`, taken verbatim (upstream stripped the prefix).
 */
export function checkUserName(name: string, allowSystem = false): string {
  if (USER_NAME.test(name)) return name;
  if (allowSystem && isSystemName(name) && GROUP_NAME.test(name)) return name;
  throw new InvalidNameError('user', name);
}

export function checkGroupName(name: string): string {
  if (!GROUP_NAME.test(name)) throw new InvalidNameError('group', name);
  return name;
}

export function checkNamespace(name: string): string {
  if (!NAMESPACE.test(name)) throw new InvalidNameError('namespace', name);
  return name;
}

export function checkRbacName(kind: 'role' | 'binding', name: string): string {
  if (!RBAC_OBJECT_NAME.test(name)) throw new InvalidNameError(kind, name);
  return name;
}

/**
 * One command-line argument as a POSIX shell reads it back unchanged: bare when it holds only safe
 * characters, single-quoted otherwise. Used for the copy-and-paste `unbindCmd` strings, whose names
 * come from the cluster and may contain anything a path segment allows.
 */
export function shellQuote(argument: string): string {
  if (/^[A-Za-z0-9_.:@%+=,\/-]+$/.test(argument)) return argument;
  return `'${argument.replaceAll("'", `'\\''`)}'`;
}

export function shellCommand(argv: string[]): string {
  return argv.map(shellQuote).join(' ');
}

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;
const IPV6 = /^\[?[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]?$/;

/** `[user@]host` for scp: a host name, an IPv4 address or an IPv6 literal (bare or bracketed). */
export function isRemoteHost(value: string): boolean {
  const at = value.lastIndexOf('@');
  const user = at >= 0 ? value.slice(0, at) : undefined;
  const host = at >= 0 ? value.slice(at + 1) : value;
  if (user !== undefined && !USER_NAME.test(user)) return false;
  return HOST_NAME.test(host) || IPV6.test(host);
}

/** The scp operand `[user@]host:path`, IPv6 literals in brackets. */
export function remoteOperand(value: string, path: string): string {
  const at = value.lastIndexOf('@');
  const user = at >= 0 ? value.slice(0, at + 1) : '';
  const host = at >= 0 ? value.slice(at + 1) : value;
  return `${user}${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${path}`;
}
