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
type Catalog = Map<string, string>;

const DEFAULT_LOCALEDIR = '/usr/share/locale';

const catalogs = new Map<string, Catalog>(); // `${domain}/${language}` -> catalog

/** For tests and for catalogs compiled in: use this catalog for a domain and language. */
export function registerCatalog(domain: string, language: string, catalog: Record<string, string>): void {
  catalogs.set(`${domain}/${language}`, new Map(Object.entries(catalog)));
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
 * Reads a GNU .mo file: a header (magic, revision, count, offsets of the original and translated
 * string tables) and two tables of (length, offset) pairs. Only singular, context-free messages
 * are used; the header entry (empty msgid) is skipped. Written here because gettext-parser (the
 * build's .po compiler) would add its dependencies to every bundled program for these 25 lines.
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

/** A message of shared code, translated later by the program that shows it (in its own domain). */
export interface Message {
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
  /** The text domain, e.g. 'podsec-k8s'. */
  readonly domain: string;
}

export function translator(domain: string, env: NodeJS.ProcessEnv = process.env): Translate {
  const translate = (msgid: string, params: Params = {}): string => {
    // gettext looks each message up in the languages in order and falls back to the msgid.
    let translated: string | undefined;
    for (const language of messageLanguages(env)) {
      translated = loadCatalog(domain, language, env)?.get(msgid);
      if (translated) break;
    }
    return interpolate(translated || msgid, params);
  };
  return Object.assign(translate, { domain });
}
