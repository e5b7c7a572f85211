/**
 * /etc/hosts as data (hosts(5)): one address and its names per line, `#` starts a comment. Names are
 * matched as whole tokens, case-insensitively as the resolver does — never as regular expressions
 * or substrings (upstream's grep matched `registry.local` inside `xregistry.localhost` and
 * `10.0.0.1` inside `10.0.0.10`).
 */
import { join } from 'node:path';
import { readRegularFile } from './safe-fs.ts';

export const HOSTS_FILE = '/etc/hosts';
const MAX_HOSTS_BYTES = 4 * 1024 * 1024;

export interface HostsLine {
  /** 1-based line number. */
  number: number;
  /** The line as written, without its newline. */
  text: string;
  /** The first token, when the line has an address and at least one name. */
  address?: string;
  names: string[];
}

export function parseHosts(text: string): HostsLine[] {
  const raw = text.split('\n');
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop();
  return raw.map((line, index) => {
    const tokens = line
      .replace(/#.*/, '')
      .split(/[ \t\r\f\v]+/)
      .filter(Boolean);
    const [address, ...names] = tokens;
    return names.length > 0 ? { number: index + 1, text: line, address, names } : { number: index + 1, text: line, names: [] };
  });
}

const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export interface Binding {
  address: string;
  line: number;
}

/** Every line that binds `name`, in file order (the resolver uses the first). */
export function bindingsOf(lines: HostsLine[], name: string): Binding[] {
  return lines.filter((l) => l.address !== undefined && l.names.some((n) => sameName(n, name))).map((l) => ({ address: l.address!, line: l.number }));
}

/** The hosts file under `root`: its text, or '' when it does not exist. Symlinks and non-regular files are refused. */
export function readHostsFile(root: string): { path: string; text: string; exists: boolean } {
  const path = join(root, HOSTS_FILE);
  try {
    return { path, text: readRegularFile(path, { maxBytes: MAX_HOSTS_BYTES }).toString('utf8'), exists: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { path, text: '', exists: false };
    throw error;
  }
}
