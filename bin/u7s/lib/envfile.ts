/**
 * The node's environment file (/etc/podsec/u7s/config/env), read and written as data.
 *
 * Format: KEY=VALUE lines; every value the wrapper writes is in single quotes, so the file means
 * the same to our parser, to systemd's EnvironmentFile= and to a shell that sources it (admins'
 * habit upstream): a value such as `$(touch /tmp/x)` stays those characters everywhere. A value
 * that cannot be single-quoted (a quote, a newline, a NUL) is refused when writing. Reading
 * accepts unquoted, single- and double-quoted values; nothing is ever expanded or executed.
 * Hand-written: dotenv's quoting and expansion rules differ from systemd's EnvironmentFile= and the shell's.
 */
import { translator } from '../../lib/i18n.ts';

const t = translator('podsec-k8s');

class EnvFileError extends Error {
  readonly expected = true;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseEnvFile(text: string, file: string): Map<string, string> {
  const values = new Map<string, string>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${file}:${index + 1}`;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq) : '';
    if (!KEY.test(key)) throw new EnvFileError(t('{where}: not a KEY=VALUE line', { where }));
    const rest = line.slice(eq + 1);
    let value: string;
    if (rest.startsWith("'")) {
      if (rest.length < 2 || !rest.endsWith("'") || rest.slice(1, -1).includes("'")) throw new EnvFileError(t('{where}: unterminated quote', { where }));
      value = rest.slice(1, -1);
    } else if (rest.startsWith('"')) {
      const body = rest.slice(1, -1);
      if (rest.length < 2 || !rest.endsWith('"') || /(^|[^\\])(\\\\)*"/.test(body)) throw new EnvFileError(t('{where}: unterminated quote', { where }));
      value = body.replace(/\\([$"\\`])/g, '$1');
    } else {
      // Unquoted: a shell would split or expand these; refuse rather than guess.
      if (/[\s'"`$\\;&|<>(){}]/.test(rest)) throw new EnvFileError(t('{where}: unquoted value with special characters', { where }));
      value = rest;
    }
    values.set(key, value);
  });
  return values;
}

export function formatEnvFile(entries: [string, string][], header: string[] = []): string {
  const lines = header.map((h) => `# ${h}`);
  for (const [key, value] of entries) {
    if (!KEY.test(key)) throw new EnvFileError(t('{key}: not a variable name', { key }));
    if (/['\n\r\0]/.test(value)) throw new EnvFileError(t('{key}: the value contains a quote or a line break', { key }));
    lines.push(`${key}='${value}'`);
  }
  return lines.join('\n') + '\n';
}
