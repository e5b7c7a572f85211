/**
 * The translations: bin/po/<language>/<domain>.po, one per text domain, written and read with
 * gettext-parser, compiled to .mo for the packages. `npm run i18n` brings them up to date with
 * the code (new msgids added untranslated, vanished ones dropped, translations kept).
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import gettext, { type GetTextTranslations } from 'gettext-parser';
import { REPO_ROOT } from '../paths.ts';

export const LANGUAGES = ['ru'] as const;
export type Language = (typeof LANGUAGES)[number];

export const poFile = (domain: string, language: Language) => join(REPO_ROOT, 'bin', 'po', language, `${domain}.po`);

export async function readPo(domain: string, language: Language): Promise<GetTextTranslations | undefined> {
  try {
    return gettext.po.parse(await readFile(poFile(domain, language)));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** msgid -> translation, without fuzzy or empty entries (what gettext would use). */
export function translationsOf(po: GetTextTranslations | undefined): Map<string, string> {
  const result = new Map<string, string>();
  for (const entry of Object.values(po?.translations[''] ?? {})) {
    const text = entry.msgstr[0] ?? '';
    if (entry.msgid === '' || text === '' || entry.comments?.flag?.includes('fuzzy')) continue;
    result.set(entry.msgid, text);
  }
  return result;
}

/** The .mo the packages install (an empty catalog when no translation exists yet). */
export async function compileMo(domain: string, language: Language): Promise<Buffer> {
  const translations = translationsOf(await readPo(domain, language));
  const table: GetTextTranslations = {
    charset: 'utf-8',
    headers: { 'Content-Type': 'text/plain; charset=UTF-8', Language: language },
    translations: { '': { '': { msgid: '', msgstr: [''] } } },
  };
  for (const [msgid, msgstr] of [...translations].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    table.translations['']![msgid] = { msgid, msgstr: [msgstr] };
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
      'Plural-Forms': 'nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);',
    },
    translations: { '': { '': { msgid: '', msgstr: [''] } } },
  };
  let added = 0;
  for (const [msgid, references] of messages) {
    const previous = old[msgid];
    if (!previous) added++;
    table.translations['']![msgid] = {
      msgid,
      msgstr: previous?.msgstr ?? [''],
      comments: {
        reference: [...new Set(references.map((r) => r.replace(/:\d+$/, '')))].join('\n'),
        ...(previous?.comments?.flag ? { flag: previous.comments.flag } : {}),
      },
    };
  }
  const dropped = Object.keys(old).filter((msgid) => msgid !== '' && !messages.has(msgid)).length;
  await mkdir(dirname(poFile(domain, language)), { recursive: true });
  await writeFile(poFile(domain, language), gettext.po.compile(table, { foldLength: 0 }));
  return { added, dropped };
}
