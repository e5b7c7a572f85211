/**
 * The TOML that CRI-O's configuration needs, and nothing more: tables of strings, booleans,
 * integers and lists of strings. No TOML library is installed (the runtime bundles only what it
 * needs); this writer emits basic strings with TOML's escapes, so no value can end a string or a
 * line. Tests read the output back with a real TOML parser.
 */
export type TomlValue = string | boolean | number | string[];
/** Dotted table name -> keys. */
export type TomlTables = [string, Record<string, TomlValue>][];

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

export function tomlString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function tomlValue(value: TomlValue): string {
  if (typeof value === 'string') return tomlString(value);
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`not an integer: ${value}`);
    return String(value);
  }
  return `[${value.map(tomlString).join(', ')}]`;
}

const key = (name: string) => (BARE_KEY.test(name) ? name : tomlString(name));

export function toToml(tables: TomlTables, header: string[] = []): string {
  const lines = header.map((h) => `# ${h}`);
  for (const [table, entries] of tables) {
    if (lines.length) lines.push('');
    lines.push(`[${table.split('.').map(key).join('.')}]`);
    for (const [name, value] of Object.entries(entries)) lines.push(`${key(name)} = ${tomlValue(value)}`);
  }
  return lines.join('\n') + '\n';
}
