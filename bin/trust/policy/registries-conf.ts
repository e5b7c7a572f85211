/**
 * The one edit podsec makes to containers-registries.conf(5): a `[[registry]]` table for
 * registry.local with `insecure = true` (plain HTTP), appended at the end of the file as upstream
 * does. Appending a table is only safe when the file is valid TOML in the v2 format and does not
 * already use the key `registry` for something else, so the file is scanned first.
 *
 * This is not a general TOML parser. It reads the subset registries.conf files are written in —
 * comments, [tables], [[arrays of tables]], keys (bare, quoted, dotted) with strings, booleans,
 * numbers, dates, arrays and inline tables — and refuses everything else (multi-line strings, for
 * example) with the line and column, so podsec never edits a file it can't prove it understands.
 */
import { REGISTRY_HOST } from '../../lib/names.ts';
import { translator } from '../../lib/i18n.ts';

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

type Value = { kind: 'string'; value: string } | { kind: 'boolean'; value: boolean } | { kind: 'other' };

const BARE_KEY = /[A-Za-z0-9_-]/;

class Scanner {
  pos = 0;
  line = 1;
  column = 1;

  constructor(
    readonly text: string,
    readonly file: string,
  ) {}

  fail(reason: string, line = this.line, column = this.column): never {
    throw new RegistriesConfError(this.file, line, column, reason);
  }

  peek(offset = 0): string {
    return this.text[this.pos + offset] ?? '';
  }

  startsWith(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }

  next(): string {
    const c = this.text[this.pos++] ?? '';
    if (c === '\n') {
      this.line++;
      this.column = 1;
    } else this.column++;
    return c;
  }

  /** Spaces and tabs (and a \r before a newline). */
  skipBlank(): void {
    while (this.peek() === ' ' || this.peek() === '\t' || (this.peek() === '\r' && this.peek(1) === '\n')) this.next();
  }

  skipComment(): void {
    if (this.peek() !== '#') return;
    while (this.pos < this.text.length && this.peek() !== '\n') {
      const c = this.next();
      if (c !== '\t' && c < ' ' && c !== '\r') this.fail(t('a control character in a comment'));
    }
  }

  /** Blank space, comments and newlines (between statements and inside arrays). */
  skipSpace(): void {
    for (;;) {
      this.skipBlank();
      this.skipComment();
      if (this.peek() === '\n') this.next();
      else return;
    }
  }

  /** After a statement: only blank space and a comment until the end of the line. */
  endOfLine(): void {
    this.skipBlank();
    this.skipComment();
    if (this.pos >= this.text.length) return;
    if (this.peek() !== '\n') this.fail(t('unexpected text after the value'));
    this.next();
  }

  key(): string[] {
    const parts: string[] = [];
    for (;;) {
      this.skipBlank();
      const c = this.peek();
      if (c === '"' || c === "'") {
        if (this.startsWith(c.repeat(3))) this.fail(t('a multi-line string is not allowed in a key'));
        parts.push(this.singleLineString());
      } else if (BARE_KEY.test(c)) {
        let key = '';
        while (BARE_KEY.test(this.peek())) key += this.next();
        parts.push(key);
      } else this.fail(t('a key was expected'));
      this.skipBlank();
      if (this.peek() !== '.') return parts;
      this.next();
    }
  }

  singleLineString(): string {
    const quote = this.next();
    let value = '';
    for (;;) {
      const c = this.peek();
      if (c === '' || c === '\n') this.fail(t('unterminated string'));
      this.next();
      if (c === quote) return value;
      if (c < ' ' && c !== '\t') this.fail(t('a control character in a string'));
      if (c === '\\' && quote === '"') {
        const e = this.next();
        const simple: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };
        if (e in simple) value += simple[e];
        else if (e === 'u' || e === 'U') {
          const digits = e === 'u' ? 4 : 8;
          let hex = '';
          for (let i = 0; i < digits; i++) hex += this.next();
          if (!/^[0-9A-Fa-f]+$/.test(hex) || hex.length !== digits) this.fail(t('invalid \\u escape in a string'));
          const code = parseInt(hex, 16);
          if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) this.fail(t('invalid \\u escape in a string'));
          value += String.fromCodePoint(code);
        } else this.fail(t('invalid escape sequence in a string'));
      } else value += c;
    }
  }

  value(): Value {
    this.skipBlank();
    const c = this.peek();
    if (c === '"' || c === "'") {
      if (this.startsWith(c.repeat(3))) this.fail(t('multi-line strings are not supported here; edit this file by hand'));
      return { kind: 'string', value: this.singleLineString() };
    }
    if (c === '[') {
      this.next();
      for (;;) {
        this.skipSpace();
        if (this.peek() === ']') break;
        this.value();
        this.skipSpace();
        if (this.peek() === ',') this.next();
        else if (this.peek() !== ']') this.fail(t('"," or "]" was expected in an array'));
      }
      this.next();
      return { kind: 'other' };
    }
    if (c === '{') {
      this.next();
      const keys = new Set<string>();
      this.skipBlank();
      if (this.peek() === '}') {
        this.next();
        return { kind: 'other' };
      }
      for (;;) {
        const line = this.line;
        const column = this.column;
        const key = this.key().join('.');
        if (keys.has(key)) this.fail(t('the key {key} is defined twice', { key }), line, column);
        keys.add(key);
        if (this.next() !== '=') this.fail(t('"=" was expected after a key'));
        this.value();
        this.skipBlank();
        const d = this.next();
        if (d === '}') return { kind: 'other' };
        if (d !== ',') this.fail(t('"," or "}" was expected in an inline table'));
      }
    }
    let token = '';
    while (/[0-9A-Za-z_:.+-]/.test(this.peek()) || (this.peek() === ' ' && /^\d{4}-\d\d-\d\d$/.test(token) && /\d/.test(this.peek(1)))) token += this.next();
    if (token === 'true' || token === 'false') return { kind: 'boolean', value: token === 'true' };
    const number = /^[+-]?(?:0|[1-9](?:_?\d)*)(?:\.\d(?:_?\d)*)?(?:[eE][+-]?\d(?:_?\d)*)?$/;
    const radix = /^0(?:x[0-9A-Fa-f](?:_?[0-9A-Fa-f])*|o[0-7](?:_?[0-7])*|b[01](?:_?[01])*)$/;
    const special = /^[+-]?(?:inf|nan)$/;
    const date = /^\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?)?$|^\d\d:\d\d:\d\d(?:\.\d+)?$/i;
    if (token !== '' && (number.test(token) || radix.test(token) || special.test(token) || date.test(token))) return { kind: 'other' };
    return this.fail(token === '' ? t('a value was expected') : t('{token} is not a valid value', { token: JSON.stringify(token) }));
  }
}

/** Scans registries.conf; throws RegistriesConfError with the line and column of the first problem. */
export function scanRegistriesConf(text: string, file: string): RegistriesConf {
  const s = new Scanner(text, file);
  if (text.includes('\0')) {
    const before = text.slice(0, text.indexOf('\0')).split('\n');
    s.fail(t('a NUL character'), before.length, (before[before.length - 1]?.length ?? 0) + 1);
  }
  const result: RegistriesConf = { registries: [] };
  const standardTables = new Set<string>();
  let keys = new Set<string>(); // keys of the current table instance
  let table: string[] = [];
  let current: RegistryTable | undefined;
  const rootKeys = new Map<string, number>();
  for (;;) {
    s.skipSpace();
    if (s.pos >= text.length) break;
    const line = s.line;
    const column = s.column;
    if (s.peek() === '[') {
      const array = s.startsWith('[[');
      s.next();
      if (array) s.next();
      const path = s.key();
      if (s.next() !== ']' || (array && s.next() !== ']')) s.fail(array ? t('"]]" was expected') : t('"]" was expected'));
      s.endOfLine();
      const name = path.join('.');
      if (!array) {
        if (standardTables.has(name)) s.fail(t('the table [{name}] is defined twice', { name }), line, column);
        standardTables.add(name);
      }
      if (path[0] === 'registries' && result.v1Line === undefined) result.v1Line = line;
      if (path[0] === 'registry') {
        if (!array && path.length === 1) s.fail(t('[registry] must be an array of tables ([[registry]]) in the v2 format'), line, column);
        if (rootKeys.has('registry')) s.fail(t('"registry" is already defined as a key on line {line}', { line: rootKeys.get('registry')! }), line, column);
      }
      table = path;
      keys = new Set();
      current = array && name === 'registry' ? { line } : undefined;
      if (current) result.registries.push(current);
      continue;
    }
    const key = s.key();
    const name = key.join('.');
    if (keys.has(name)) s.fail(t('the key {key} is defined twice in this table', { key: name }), line, column);
    keys.add(name);
    if (table.length === 0) {
      rootKeys.set(key[0]!, line);
      if (key[0] === 'registry') s.fail(t('"registry" must be an array of tables ([[registry]]), not a key'), line, column);
      if (key[0] === 'registries' && result.v1Line === undefined) result.v1Line = line;
    }
    s.skipBlank();
    if (s.next() !== '=') s.fail(t('"=" was expected after a key'));
    const value = s.value();
    s.endOfLine();
    if (current && key.length === 1) {
      if ((name === 'location' || name === 'prefix') && value.kind === 'string') current[name] = value.value;
      if (name === 'insecure' && value.kind === 'boolean') current.insecure = value.value;
    }
  }
  return result;
}

/** The [[registry]] table that configures registry.local, if any. */
export function registryLocalTable(conf: RegistriesConf): RegistryTable | undefined {
  return conf.registries.find((r) => (r.prefix ?? r.location) === REGISTRY_HOST);
}

export const REGISTRY_LOCAL_TABLE = `[[registry]]\nlocation = "${REGISTRY_HOST}"\ninsecure = true\n`;

export type RegistriesConfPlan =
  | { change: false; table: RegistryTable }
  | { change: true; text: string };

/**
 * What registries.conf must become. Throws RegistriesConfError for a file podsec can't edit safely
 * (not valid in the subset above, or in the v1 format, which can't be mixed with [[registry]]).
 */
export function planRegistriesConf(text: string | undefined, file: string): RegistriesConfPlan {
  if (text === undefined || text === '') return { change: true, text: REGISTRY_LOCAL_TABLE };
  const conf = scanRegistriesConf(text, file);
  if (conf.v1Line !== undefined) {
    throw new RegistriesConfError(file, conf.v1Line, 1, t('the file is in the v1 format ([registries.*] tables), which cannot be mixed with a [[registry]] table; convert it to the v2 format first'));
  }
  const table = registryLocalTable(conf);
  if (table) return { change: false, table };
  const separator = text.endsWith('\n\n') ? '' : text.endsWith('\n') ? '\n' : '\n\n';
  return { change: true, text: `${text}${separator}${REGISTRY_LOCAL_TABLE}` };
}
