/**
 * The one translation function every message goes through. Msgids are English with `{name}`
 * placeholders; the language is chosen as gettext does (LC_ALL, then LC_MESSAGES, then LANG;
 * C/POSIX or unset means English) and its catalog is the compiled gettext file
 * <localedir>/<language>/LC_MESSAGES/<domain>.mo, read once, when the first message needs it.
 * Severity prefixes that monitoring parses (`Critical:` …) are never passed through here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

type Params = Record<string, string | number>;

/**
 * A language's messages: msgid -> translation; a plural message is keyed `singular\0plural` and
 * its forms are joined by \0 (as in the .mo file). `plural` picks the form for a count, from the
 * catalog's Plural-Forms header.
 */
interface Catalog {
  messages: Map<string, string>;
  plural: (n: number) => number;
}

/** English and every language without a Plural-Forms header: one thing, or many. */
const germanicPlural = (n: number) => (n === 1 ? 0 : 1);

const DEFAULT_LOCALEDIR = '/usr/share/locale';

const catalogs = new Map<string, Catalog>(); // `${domain}/${language}` -> catalog

/** For tests and for catalogs compiled in: use this catalog for a domain and language. */
export function registerCatalog(domain: string, language: string, catalog: Record<string, string>, pluralForms = ''): void {
  catalogs.set(`${domain}/${language}`, { messages: new Map(Object.entries(catalog)), plural: pluralForms ? pluralRule(pluralForms) : germanicPlural });
}

const languageOf = (locale: string) => /^[a-z]{2,3}/.exec(locale)?.[0];

/**
 * The languages to look messages up in, in order, as gettext chooses them: the locale from
 * LC_ALL, then LC_MESSAGES, then LANG (C/POSIX or unset: none, English, and LANGUAGE is then
 * ignored); otherwise the LANGUAGE priority list (`de:ru`), else the locale's own language.
 */
export function messageLanguages(env: NodeJS.ProcessEnv = process.env): string[] {
  const locale = env.LC_ALL || env.LC_MESSAGES || env.LANG || '';
  if (locale === '' || locale === 'C' || locale === 'POSIX' || locale.startsWith('C.')) return [];
  const listed = (env.LANGUAGE ?? '')
    .split(':')
    .map(languageOf)
    .filter((l): l is string => l !== undefined);
  const languages = listed.length ? listed : [languageOf(locale)].filter((l): l is string => l !== undefined);
  return [...new Set(languages)];
}

/** The first language of messageLanguages(), or undefined for English. */
export function messageLanguage(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return messageLanguages(env)[0];
}

/**
 * The plural rule of a Plural-Forms header (`nplurals=3; plural=(n%10==1 && ... ? 0 : ...);`): the
 * C expression in n, parsed here (never evaluated as code), with C's operators and precedence.
 */
export function pluralRule(header: string): (n: number) => number {
  const expression = /plural\s*=\s*([^;]+)/.exec(header)?.[1];
  if (!expression) throw new Error(`no plural= in ${JSON.stringify(header)}`);
  const tokens = expression.match(/\d+|n|&&|\|\||[=!<>]=|[-+*/%<>!?:()]/g) ?? [];
  if (tokens.join('') !== expression.replace(/\s+/g, '')) throw new Error(`not a plural expression: ${expression}`);
  let at = 0;
  type Node = (n: number) => number;
  const next = () => tokens[at++];
  const accept = (token: string) => tokens[at] === token && (at++, true);
  const binary =
    (operand: () => Node, operators: Record<string, (a: number, b: number) => number>): (() => Node) =>
    () => {
      let left = operand();
      for (let op = tokens[at]; op !== undefined && op in operators; op = tokens[at]) {
        at++;
        const [l, r, f] = [left, operand(), operators[op]!];
        left = (n) => f(l(n), r(n));
      }
      return left;
    };
  const primary = (): Node => {
    const token = next();
    if (token === '(') {
      const inner = conditional();
      if (!accept(')')) throw new Error(`unbalanced parentheses in ${expression}`);
      return inner;
    }
    if (token === '!') {
      const operand = primary();
      return (n) => (operand(n) ? 0 : 1);
    }
    if (token === 'n') return (n) => n;
    if (token !== undefined && /^\d+$/.test(token)) return () => Number(token);
    throw new Error(`not a plural expression: ${expression}`);
  };
  const int = (x: number) => Math.trunc(x);
  const multiplicative = binary(primary, { '*': (a, b) => a * b, '/': (a, b) => int(a / b), '%': (a, b) => a % b });
  const additive = binary(multiplicative, { '+': (a, b) => a + b, '-': (a, b) => a - b });
  const relational = binary(additive, { '<': (a, b) => +(a < b), '>': (a, b) => +(a > b), '<=': (a, b) => +(a <= b), '>=': (a, b) => +(a >= b) });
  const equality = binary(relational, { '==': (a, b) => +(a === b), '!=': (a, b) => +(a !== b) });
  const and = binary(equality, { '&&': (a, b) => +(a !== 0 && b !== 0) });
  const or = binary(and, { '||': (a, b) => +(a !== 0 || b !== 0) });
  function conditional(): Node {
    const test = or();
    if (!accept('?')) return test;
    const yes = conditional();
    if (!accept(':')) throw new Error(`? without : in ${expression}`);
    const no = conditional();
    return (n) => (test(n) ? yes(n) : no(n));
  }
  const rule = conditional();
  if (at !== tokens.length) throw new Error(`not a plural expression: ${expression}`);
  return (n) => rule(Math.abs(Math.trunc(n)));
}

/**
 * Reads a GNU .mo file: a header (magic, revision, count, offsets of the original and translated
 * string tables) and two tables of (length, offset) pairs. Singular and plural messages are used
 * (no context); the header entry (empty msgid) gives the plural rule. Written here because
 * gettext-parser (the build's .po compiler) would add its dependencies to every bundled program.
 */
export function parseMo(data: Buffer): Catalog {
  const magic = data.readUInt32LE(0);
  const little = magic === 0x950412de;
  if (!little && magic !== 0xde120495) throw new Error('not a gettext .mo file');
  const u32 = (offset: number) => (little ? data.readUInt32LE(offset) : data.readUInt32BE(offset));
  const count = u32(8);
  const originals = u32(12);
  const translations = u32(16);
  const text = (table: number, index: number) => {
    const length = u32(table + index * 8);
    const offset = u32(table + index * 8 + 4);
    if (offset + length > data.length) throw new Error('truncated .mo file');
    return data.toString('utf8', offset, offset + length);
  };
  const catalog: Catalog = { messages: new Map(), plural: germanicPlural };
  for (let i = 0; i < count; i++) {
    const msgid = text(originals, i);
    if (msgid === '') {
      const pluralForms = /^Plural-Forms:(.*)$/m.exec(text(translations, i))?.[1];
      if (pluralForms) catalog.plural = pluralRule(pluralForms);
      continue;
    }
    if (msgid.includes('\u0004')) continue;
    catalog.messages.set(msgid, text(translations, i));
  }
  return catalog;
}

function loadCatalog(domain: string, language: string, env: NodeJS.ProcessEnv): Catalog | undefined {
  const key = `${domain}/${language}`;
  if (!catalogs.has(key)) {
    const localedir = env.PODSEC_LOCALEDIR || DEFAULT_LOCALEDIR;
    let catalog: Catalog = { messages: new Map(), plural: germanicPlural };
    try {
      catalog = parseMo(readFileSync(join(localedir, language, 'LC_MESSAGES', `${domain}.mo`)));
    } catch {
      // No catalog (or an unreadable one): messages stay English, as with gettext.
    }
    catalogs.set(key, catalog);
  }
  return catalogs.get(key);
}

function interpolate(text: string, params: Params): string {
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** A message of shared code, translated later by the program that shows it (in its own domain). */
interface Message {
  msgid: string;
  params: Params;
}

/**
 * Marks a msgid in shared code, which has no text domain of its own: import it as `t`
 * (`import { message as t }`), so the extractor puts the msgid into every domain's catalog.
 */
export const message = (msgid: string, params: Params = {}): Message => ({ msgid, params });

/**
 * An error of shared code whose message the reporting program translates: `error.in(t)`. Its
 * plain `message` is the English text. The frame (bin/lib/command.ts) prints it translated.
 */
export class TranslatableError extends Error {
  constructor(readonly text: Message) {
    super(interpolate(text.msgid, text.params));
  }

  in(translate: (msgid: string, params?: Params) => string): string {
    return translate(this.text.msgid, this.text.params);
  }
}

export interface Translate {
  (msgid: string, params?: Params): string;
  /**
   * ngettext: the form of `singular`/`plural` for `count` in the user's language (Russian has
   * three), with {count} and `params` filled in.
   */
  n(singular: string, plural: string, count: number, params?: Params): string;
  /** The text domain, e.g. 'podsec-k8s'. */
  readonly domain: string;
}

export function translator(domain: string, env: NodeJS.ProcessEnv = process.env): Translate {
  // gettext looks each message up in the languages in order and falls back to the msgid.
  const lookUp = (key: string): [string, Catalog] | undefined => {
    for (const language of messageLanguages(env)) {
      const catalog = loadCatalog(domain, language, env);
      const translated = catalog?.messages.get(key);
      if (translated) return [translated, catalog!];
    }
    return undefined;
  };
  const translate = (msgid: string, params: Params = {}): string => interpolate(lookUp(msgid)?.[0] ?? msgid, params);
  const n = (singular: string, plural: string, count: number, params: Params = {}): string => {
    const found = lookUp(`${singular}\0${plural}`);
    const text = found ? found[0].split('\0')[found[1].plural(count)] : undefined;
    return interpolate(text || (count === 1 ? singular : plural), { count, ...params });
  };
  return Object.assign(translate, { domain, n });
}
