/**
 * The one edit podsec makes to containers-registries.conf(5): a `[[registry]]` table for
 * registry.local with `insecure = true` (plain HTTP), appended at the end of the file as upstream
 * does, so the admin's comments and layout stay. Appending a table is only safe when the file is
 * valid TOML in the v2 format and does not already use the key `registry` for something else, so
 * the file is parsed first (smol-toml, TOML 1.0) and a file it rejects is refused with the line and
 * column. Multi-line strings are refused as well: the table headers are then found line by line
 * (for the line numbers in messages), which a header-like line inside such a string would fool.
 */
import { parse, TomlError } from 'smol-toml';
import { translator } from '../../lib/i18n.ts';
import { REGISTRY_HOST } from '../../lib/names.ts';

const t = translator('podsec');

export class RegistriesConfError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}:${column}: ${reason}`);
  }
}

export interface RegistryTable {
  /** Line of the [[registry]] header. */
  line: number;
  location?: string;
  prefix?: string;
  insecure?: boolean;
}

export interface RegistriesConf {
  registries: RegistryTable[];
  /** Header line of the first v1 table ([registries.search], [registries.insecure], [registries.block]). */
  v1Line?: number;
}

/** A table header or a top-level key, where it is written. */
interface Statement {
  line: number;
  /** `[[name]]` */
  array: boolean;
  /** The header's or the key's dotted name, quotes removed. */
  name: string[];
}

const plainName = (text: string) =>
  text
    .split('.')
    .map((part) => part.trim().replace(/^"(.*)"$|^'(.*)'$/, '$1$2'))
    .filter((part) => part !== '');

/**
 * The table headers and top-level keys of a file smol-toml accepted, with their lines: a small pass
 * over strings, comments and brackets, so that a line of a multi-line array is not taken for a
 * header. Throws at the first multi-line string.
 */
function statements(text: string, file: string): { headers: Statement[]; rootKeys: Statement[] } {
  const headers: Statement[] = [];
  const rootKeys: Statement[] = [];
  let depth = 0;
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      lineStart = i + 1;
      continue;
    }
    if (c === '#') {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
      continue;
    }
    if (depth === 0 && text.slice(lineStart, i).trim() === '') {
      if (c === '[') {
        const end = text.indexOf('\n', i);
        const header = /^\[(\[?)(.*?)\]\]?/.exec(text.slice(i, end < 0 ? undefined : end))!;
        headers.push({ line, array: header[1] === '[', name: plainName(header[2]!) });
        i += header[0].length - 1;
        continue;
      }
      if (headers.length === 0 && c !== ' ' && c !== '\t' && c !== '\r' && !text.startsWith('"""', i) && !text.startsWith("'''", i)) {
        const key = /^[^=]*/.exec(text.slice(i))![0];
        rootKeys.push({ line, array: false, name: plainName(key) });
        i += key.length - 1;
        continue;
      }
    }
    if (c === '"' || c === "'") {
      if (text.startsWith(c.repeat(3), i))
        throw new RegistriesConfError(file, line, i - lineStart + 1, t('multi-line strings are not supported here; edit this file by hand'));
      for (i++; i < text.length && text[i] !== c; i++) if (c === '"' && text[i] === '\\') i++;
      continue;
    }
    if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
  }
  return { headers, rootKeys };
}

/** The innermost bracket open at `offset`: what a missing separator was expected in. */
function openAt(text: string, offset: number): string | undefined {
  const open: string[] = [];
  for (let i = 0; i < offset; i++) {
    const c = text[i]!;
    if (c === '#') {
      while (i + 1 < offset && text[i + 1] !== '\n') i++;
    } else if (c === '"' || c === "'") {
      for (i++; i < offset && text[i] !== c && text[i] !== '\n'; i++) if (c === '"' && text[i] === '\\') i++;
    } else if (c === '[' || c === '{') open.push(c);
    else if (c === ']' || c === '}') open.pop();
  }
  return open.at(-1);
}

/** smol-toml's refusal, in the words podsec has always used where there are such words. */
function refusal(error: TomlError, text: string, file: string): RegistriesConfError {
  const lines = text.split('\n');
  const lineText = lines[error.line - 1] ?? '';
  const rest = lineText.slice(error.column - 1);
  const what = error.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
  const at = (reason: string, column = error.column) => new RegistriesConfError(file, error.line, column, reason);
  if (/control characters are not allowed in strings/.test(what))
    return at(rest.trim() === '' ? t('unterminated string') : t('a control character in a string'));
  if (/redefine/.test(what)) {
    const header = /^\s*\[\[?(.*?)\]/.exec(lineText);
    if (header) return at(t('the table [{name}] is defined twice', { name: plainName(header[1]!).join('.') }), lineText.indexOf('[') + 1);
    return at(t('the key {key} is defined twice in this table', { key: plainName(/^[^=]*/.exec(rest)![0]).join('.') }));
  }
  if (/expected comma or end of structure/.test(what)) {
    const offset = lines.slice(0, error.line - 1).reduce((n, l) => n + l.length + 1, 0) + error.column - 1;
    return at(openAt(text, offset) === '{' ? t('"," or "}" was expected in an inline table') : t('"," or "]" was expected in an array'));
  }
  if (/invalid value/.test(what)) {
    const token = /^[^\s,\]}#]*/.exec(rest)![0];
    return at(token === '' ? t('a value was expected') : t('{token} is not a valid value', { token: JSON.stringify(token) }));
  }
  if (/must be followed by an end-of-line/.test(what)) return at(t('unexpected text after the value'));
  return at(what);
}

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** Parses registries.conf; throws RegistriesConfError with the line and column of the first problem. */
export function scanRegistriesConf(text: string, file: string): RegistriesConf {
  let data: Record<string, unknown>;
  try {
    data = parse(text);
  } catch (error) {
    if (error instanceof TomlError) throw refusal(error, text, file);
    throw error;
  }
  const { headers, rootKeys } = statements(text, file);
  const registryKey = rootKeys.find((k) => k.name[0] === 'registry');
  if (registryKey) throw new RegistriesConfError(file, registryKey.line, 1, t('"registry" must be an array of tables ([[registry]]), not a key'));
  const registryTable = headers.find((h) => !h.array && h.name.length === 1 && h.name[0] === 'registry');
  if (registryTable) throw new RegistriesConfError(file, registryTable.line, 1, t('[registry] must be an array of tables ([[registry]]) in the v2 format'));
  const v1 = [...rootKeys, ...headers].filter((s) => s.name[0] === 'registries').sort((a, b) => a.line - b.line)[0];
  const tables = Array.isArray(data.registry) ? data.registry.filter(isTable) : [];
  const lines = headers.filter((h) => h.array && h.name.length === 1 && h.name[0] === 'registry').map((h) => h.line);
  const registries = tables.map((table, index): RegistryTable => {
    const entry: RegistryTable = { line: lines[index]! };
    if (typeof table.location === 'string') entry.location = table.location;
    if (typeof table.prefix === 'string') entry.prefix = table.prefix;
    if (typeof table.insecure === 'boolean') entry.insecure = table.insecure;
    return entry;
  });
  return { registries, ...(v1 ? { v1Line: v1.line } : {}) };
}

/** The [[registry]] table that configures registry.local, if any. */
function registryLocalTable(conf: RegistriesConf): RegistryTable | undefined {
  return conf.registries.find((r) => (r.prefix ?? r.location) === REGISTRY_HOST);
}

const REGISTRY_LOCAL_TABLE = `[[registry]]\nlocation = "${REGISTRY_HOST}"\ninsecure = true\n`;

export type RegistriesConfPlan = { change: false; table: RegistryTable } | { change: true; text: string };

/**
 * What registries.conf must become. Throws RegistriesConfError for a file podsec can't edit safely
 * (not valid TOML as above, or in the v1 format, which can't be mixed with [[registry]]).
 */
export function planRegistriesConf(text: string | undefined, file: string): RegistriesConfPlan {
  if (text === undefined || text === '') return { change: true, text: REGISTRY_LOCAL_TABLE };
  const conf = scanRegistriesConf(text, file);
  if (conf.v1Line !== undefined) {
    throw new RegistriesConfError(
      file,
      conf.v1Line,
      1,
      t('the file is in the v1 format ([registries.*] tables), which cannot be mixed with a [[registry]] ' + 'table; convert it to the v2 format first'),
    );
  }
  const table = registryLocalTable(conf);
  if (table) return { change: false, table };
  const separator = text.endsWith('\n\n') ? '' : text.endsWith('\n') ? '\n' : '\n\n';
  return { change: true, text: `${text}${separator}${REGISTRY_LOCAL_TABLE}` };
}
