/**
 * The one translation function every message goes through. Msgids are English with `{name}`
 * placeholders; the language is chosen as gettext does (LC_ALL, then LC_MESSAGES, then LANG;
 * C/POSIX or unset means English) and its catalog is the compiled gettext file
 * <localedir>/<language>/LC_MESSAGES/<domain>.mo, read once, when the first message needs it.
 * Severity prefixes that monitoring parses (`Critical:` …) are never passed through here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type Params = Record<string, string | number>;
export type Catalog = Map<string, string>;

export const DEFAULT_LOCALEDIR = '/usr/share/locale';

const catalogs = new Map<string, Catalog>(); // `${domain}/${language}` -> catalog

/** For tests and for catalogs compiled in: use this catalog for a domain and language. */
export function registerCatalog(domain: string, language: string, catalog: Record<string, string>): void {
  catalogs.set(`${domain}/${language}`, new Map(Object.entries(catalog)));
}

/** The language part of the effective message locale (`ru` for ru_RU.UTF-8), or undefined for C/POSIX. */
export function messageLanguage(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const locale = env.LC_ALL || env.LC_MESSAGES || env.LANG || '';
  if (locale === '' || locale === 'C' || locale === 'POSIX' || locale.startsWith('C.')) return undefined;
  return /^[a-z]{2,3}/.exec(locale)?.[0];
}

/**
 * Reads a GNU .mo file: a header (magic, revision, count, offsets of the original and translated
 * string tables) and two tables of (length, offset) pairs. Only singular, context-free messages
 * are used; the header entry (empty msgid) is skipped.
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
  const catalog: Catalog = new Map();
  for (let i = 0; i < count; i++) {
    const msgid = text(originals, i);
    if (msgid === '' || msgid.includes('\u0004') || msgid.includes('\u0000')) continue;
    catalog.set(msgid, text(translations, i));
  }
  return catalog;
}

function loadCatalog(domain: string, language: string, env: NodeJS.ProcessEnv): Catalog | undefined {
  const key = `${domain}/${language}`;
  if (!catalogs.has(key)) {
    const localedir = env.PODSEC_LOCALEDIR || DEFAULT_LOCALEDIR;
    let catalog: Catalog = new Map();
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

export interface Translate {
  (msgid: string, params?: Params): string;
  /** The text domain, e.g. 'podsec-k8s'. */
  readonly domain: string;
}

export function translator(domain: string, env: NodeJS.ProcessEnv = process.env): Translate {
  const translate = (msgid: string, params: Params = {}): string => {
    const language = messageLanguage(env);
    const translated = language ? loadCatalog(domain, language, env)?.get(msgid) : undefined;
    return interpolate(translated || msgid, params);
  };
  return Object.assign(translate, { domain });
}
