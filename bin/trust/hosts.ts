/**
 * podsec's names in /etc/hosts (parsed by bin/lib/hosts.ts): podsec binds registry.local, sigstore.local and trivy.local to the master's address on every
 * node. The master is the host that has that address on one of its interfaces.
 */
import { networkInterfaces } from 'node:os';
import { CommandError } from '../lib/command.ts';
import { translator } from '../lib/i18n.ts';
import { REGISTRY_HOST, SIGSTORE_HOST, TRIVY_HOST } from '../lib/names.ts';
import { bindingsOf, HOSTS_FILE, parseHosts, readHostsFile, type Binding, type HostsLine } from '../lib/hosts.ts';

const t = translator('podsec');

const PODSEC_HOST_NAMES = [REGISTRY_HOST, SIGSTORE_HOST, TRIVY_HOST] as const;

/** A podsec name bound to another address than the one asked for; nothing is changed. */
export class HostsConflictError extends CommandError {
  constructor(
    readonly hostName: string,
    readonly binding: Binding,
    readonly file: string,
  ) {
    super(
      t('{name} is already bound to {address} in {file} (line {line}); remove that binding and run the command again', {
        name: hostName,
        address: binding.address,
        file,
        line: binding.line,
      }),
      1,
    );
  }
}

interface HostsPlan {
  text: string;
  changed: boolean;
  /** The names that get bound by this change. */
  added: string[];
}

/**
 * The hosts text with registry.local, sigstore.local and trivy.local bound to `address`. Names
 * already bound to it stay as they are (re-running converges); a name bound to any other address
 * is a conflict. Missing names are added to the line that binds the others, or as upstream's line
 * `<address> registry.local sigstore.local trivy.local` at the end.
 */
export function planHostsBinding(text: string, address: string, file = HOSTS_FILE): HostsPlan {
  const lines = parseHosts(text);
  const missing: string[] = [];
  let ownLine: HostsLine | undefined;
  for (const name of PODSEC_HOST_NAMES) {
    const bindings = bindingsOf(lines, name);
    const other = bindings.find((b) => b.address !== address);
    if (other) throw new HostsConflictError(name, other, file);
    if (bindings.length === 0) missing.push(name);
    else ownLine ??= lines.find((l) => l.number === bindings[0]!.line);
  }
  if (missing.length === 0) return { text, changed: false, added: [] };
  if (ownLine === undefined) {
    const separator = text === '' || text.endsWith('\n') ? '' : '\n';
    return { text: `${text}${separator}${address} ${missing.join(' ')}\n`, changed: true, added: missing };
  }
  // Insert after the last name of that line, before any comment.
  const line = ownLine.text;
  const comment = line.indexOf('#');
  const body = comment < 0 ? line : line.slice(0, comment);
  const end = body.replace(/[ \t\r\f\v]+$/, '').length;
  const edited = `${line.slice(0, end)} ${missing.join(' ')}${line.slice(end)}`;
  const all = text.split('\n');
  all[ownLine.number - 1] = edited;
  return { text: all.join('\n'), changed: true, added: missing };
}

/** The address registry.local and sigstore.local are bound to, or undefined when neither is. */
export function sigstoreServerBinding(lines: HostsLine[], file = HOSTS_FILE): Binding | undefined {
  const registry = bindingsOf(lines, REGISTRY_HOST)[0];
  const sigstore = bindingsOf(lines, SIGSTORE_HOST)[0];
  if (registry && sigstore && registry.address !== sigstore.address) {
    throw new CommandError(
      t('{file}: {registry} (line {registryLine}) and {sigstore} (line {sigstoreLine}) are bound to different addresses', {
        file,
        registry: REGISTRY_HOST,
        registryLine: registry.line,
        sigstore: SIGSTORE_HOST,
        sigstoreLine: sigstore.line,
      }),
      1,
    );
  }
  return registry ?? sigstore;
}

/** The IPv4 and IPv6 addresses of this host's interfaces (of the network namespace we run in). */
function localAddresses(): Set<string> {
  const addresses = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const info of list ?? []) addresses.add(info.address);
  return addresses;
}

export function isLocalAddress(address: string, local: Set<string> = localAddresses()): boolean {
  return local.has(address);
}

type ServerRole = { role: 'master'; binding: Binding } | { role: 'node'; binding: Binding } | { role: 'unconfigured' };

/** Is this host the registry/signature server according to `<root>/etc/hosts` and its interfaces? */
function sigstoreServerRole(root: string, local: Set<string> = localAddresses()): ServerRole {
  const { text } = readHostsFile(root);
  const binding = sigstoreServerBinding(parseHosts(text), HOSTS_FILE);
  if (!binding) return { role: 'unconfigured' };
  return { role: isLocalAddress(binding.address, local) ? 'master' : 'node', binding };
}

/**
 * The guard of the master-only commands (upstream's isSigstoreServer, which printed a warning and
 * carried on): returns the master's binding, or throws with exit 1 and `refusal` appended, e.g.
 * t('Services cannot be started.').
 */
export function requireSigstoreServer(root: string, refusal: string, local?: Set<string>): Binding {
  const role = sigstoreServerRole(root, local);
  const names = { registry: REGISTRY_HOST, sigstore: SIGSTORE_HOST, file: HOSTS_FILE, refusal };
  if (role.role === 'unconfigured')
    throw new CommandError(t('{registry} and {sigstore} are not bound in {file}; run podsec-create-policy first. {refusal}', names), 1);
  if (role.role === 'node') {
    throw new CommandError(
      t('{registry} and {sigstore} are bound in {file} to the remote server {address}, not to this host. ' + '{refusal}', {
        ...names,
        address: role.binding.address,
      }),
      1,
    );
  }
  return role.binding;
}
