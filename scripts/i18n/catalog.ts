/**
 * The translations: bin/po/<language>/<domain>.po, one per text domain, written and read with
 * gettext-parser, compiled to .mo for the packages. `npm run i18n` brings them up to date with
 * the code (new msgids added untranslated, vanished ones dropped, translations kept).
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import gettext, { type GetTextTranslations } from 'gettext-parser';
import { REPO_ROOT } from '../paths.ts';
// Not from extract.ts: that one loads the TypeScript compiler, which the build's catalogs do not need.
import { PLURAL_SEPARATOR } from './plural.ts';

export const LANGUAGES = ['ru'] as const;
export type Language = (typeof LANGUAGES)[number];

const poFile = (domain: string, language: Language) => join(REPO_ROOT, 'bin', 'po', language, `${domain}.po`);

export async function readPo(domain: string, language: Language): Promise<GetTextTranslations | undefined> {
  try {
    return gettext.po.parse(await readFile(poFile(domain, language)));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

const RUSSIAN_PLURAL_FORMS = 'nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);';
const PLURAL_FORMS: Record<Language, { header: string; count: number }> = { ru: { header: RUSSIAN_PLURAL_FORMS, count: 3 } };

/**
 * msgid -> translation, without fuzzy or empty entries (what gettext would use). A plural message
 * is keyed `singular\0plural` and its forms are joined by \0; one with an empty form is left out.
 */
export function translationsOf(po: GetTextTranslations | undefined): Map<string, string> {
  const result = new Map<string, string>();
  for (const entry of Object.values(po?.translations[''] ?? {})) {
    if (entry.msgid === '' || entry.comments?.flag?.includes('fuzzy')) continue;
    const forms = entry.msgid_plural ? entry.msgstr : entry.msgstr.slice(0, 1);
    if (forms.length === 0 || forms.some((form) => form === '')) continue;
    result.set(entry.msgid_plural ? entry.msgid + PLURAL_SEPARATOR + entry.msgid_plural : entry.msgid, forms.join(PLURAL_SEPARATOR));
  }
  return result;
}

/** A .po entry for a message key (plural keys carry msgid_plural). */
function entryOf(key: string, msgstr: string[]): GetTextTranslations['translations'][string][string] {
  const [msgid, plural] = key.split(PLURAL_SEPARATOR) as [string, string | undefined];
  return plural === undefined ? { msgid, msgstr } : { msgid, msgid_plural: plural, msgstr };
}

/** The .mo the packages install from a domain's translations (translationsOf; an empty catalog when there are none yet). */
export function compileMo(translations: ReadonlyMap<string, string>, language: Language): Buffer {
  const table: GetTextTranslations = {
    charset: 'utf-8',
    headers: { 'Content-Type': 'text/plain; charset=UTF-8', Language: language, 'Plural-Forms': PLURAL_FORMS[language].header },
    translations: { '': { '': { msgid: '', msgstr: [''] } } },
  };
  for (const [key, msgstr] of [...translations].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const entry = entryOf(key, msgstr.split(PLURAL_SEPARATOR));
    table.translations['']![entry.msgid] = entry;
  }
  return gettext.mo.compile(table);
}

/** Rewrites a PO file for the given msgids (in order), keeping existing translations. */
export async function updatePo(domain: string, language: Language, messages: Map<string, string[]>): Promise<{ added: number; dropped: number }> {
  const existing = await readPo(domain, language);
  const old = existing?.translations[''] ?? {};
  const table: GetTextTranslations = {
    charset: 'utf-8',
    // The translators' header fields (Last-Translator, PO-Revision-Date, ...) are kept; the ones
    // the build relies on are always set.
    headers: {
      'Project-Id-Version': domain,
      ...existing?.headers,
      'MIME-Version': '1.0',
      'Content-Type': 'text/plain; charset=UTF-8',
      'Content-Transfer-Encoding': '8bit',
      Language: language,
      'Plural-Forms': PLURAL_FORMS[language].header,
    },
    translations: { '': { '': { msgid: '', msgstr: [''] } } },
  };
  let added = 0;
  for (const [key, references] of messages) {
    const blank = entryOf(key, []);
    const found = old[blank.msgid];
    const previous = found && found.msgid_plural === blank.msgid_plural ? found : undefined;
    if (!previous) added++;
    const forms = blank.msgid_plural === undefined ? 1 : PLURAL_FORMS[language].count;
    table.translations['']![blank.msgid] = {
      ...entryOf(key, previous?.msgstr ?? Array<string>(forms).fill('')),
      comments: {
        reference: [...new Set(references.map((r) => r.replace(/:\d+$/, '')))].join('\n'),
        ...(previous?.comments?.flag ? { flag: previous.comments.flag } : {}),
      },
    };
  }
  const kept = new Set([...messages.keys()].map((key) => entryOf(key, []).msgid));
  const dropped = Object.keys(old).filter((msgid) => msgid !== '' && !kept.has(msgid)).length;
  await mkdir(dirname(poFile(domain, language)), { recursive: true });
  await writeFile(poFile(domain, language), gettext.po.compile(table, { foldLength: 0 }));
  return { added, dropped };
}
