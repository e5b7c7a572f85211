/**
 * bin/lib/i18n.ts: the .mo reader against catalogs compiled by the real msgfmt (both byte orders),
 * the choice of language as gettext makes it (LC_ALL, then LC_MESSAGES, then LANG; C, POSIX or
 * nothing set means English), and the translator's fallback to the English msgid.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { messageLanguage, messageLanguages, parseMo, pluralRule, registerCatalog, translator } from '../../bin/lib/i18n.ts';
import { withTools } from '../support/tools.ts';

const test = withTools(base, ['msgfmt']);

const PO = `msgid ""
msgstr ""
"Project-Id-Version: podsec-test\\n"
"PO-Revision-Date: 2024-01-01 00:00+0000\\n"
"Last-Translator: podsec tests\\n"
"Language-Team: Russian\\n"
"MIME-Version: 1.0\\n"
"Content-Type: text/plain; charset=UTF-8\\n"
"Content-Transfer-Encoding: 8bit\\n"
"Language: ru\\n"
"Plural-Forms: nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);\\n"

msgid "Usage:"
msgstr "Использование:"

msgid "invalid user name {name}: {reason}"
msgstr "недопустимое имя пользователя {name}: {reason}"

msgid "a \\"quoted\\" word\\nand a second line"
msgstr "«слово» в кавычках\\nи вторая строка"

msgid "a long message that msgfmt reads from several "
"string parts"
msgstr "длинное сообщение, которое msgfmt читает из нескольких "
"частей строки"

#, fuzzy
msgid "a fuzzy entry"
msgstr "неточный перевод"

msgid "an untranslated entry"
msgstr ""

msgctxt "menu"
msgid "Open"
msgstr "Открыть (контекст)"

msgid "{count} image"
msgid_plural "{count} images"
msgstr[0] "{count} образ"
msgstr[1] "{count} образа"
msgstr[2] "{count} образов"
`;

let dir = '';
base.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'podsec-i18n-'));
  writeFileSync(join(dir, 'test.po'), PO);
});
base.after(() => rmSync(dir, { recursive: true, force: true }));

/** Compiles the fixture with msgfmt into <localedir>/ru/LC_MESSAGES/<domain>.mo; returns its bytes. */
function compile(domain: string, extra: string[] = [], localedir = join(dir, 'locale')): Buffer {
  const out = join(localedir, 'ru', 'LC_MESSAGES', `${domain}.mo`);
  mkdirSync(join(localedir, 'ru', 'LC_MESSAGES'), { recursive: true });
  execFileSync('msgfmt', ['--check', ...extra, '-o', out, join(dir, 'test.po')]);
  return readFileSync(out);
}

const EXPECTED = new Map([
  ['Usage:', 'Использование:'],
  ['invalid user name {name}: {reason}', 'недопустимое имя пользователя {name}: {reason}'],
  ['a "quoted" word\nand a second line', '«слово» в кавычках\nи вторая строка'],
  ['a long message that msgfmt reads from several string parts', 'длинное сообщение, которое msgfmt читает из нескольких частей строки'],
  ['{count} image\0{count} images', '{count} образ\0{count} образа\0{count} образов'],
]);

test('parseMo reads what msgfmt compiles: UTF-8, escapes, joined strings, plural forms; no header, fuzzy, empty or context entries', () => {
  const catalog = parseMo(compile('little'));
  assert.equal(new Map([...catalog.messages].sort()), new Map([...EXPECTED].sort()));
  assert.equal([1, 2, 5, 21].map(catalog.plural), [0, 1, 2, 0], 'the Plural-Forms rule of the header');
});

test('parseMo reads a big-endian catalog (msgfmt --endianness=big) the same way', () => {
  const data = compile('big', ['--endianness=big']);
  assert.is(data.readUInt32BE(0), 0x950412de);
  assert.equal(new Map([...parseMo(data).messages].sort()), new Map([...EXPECTED].sort()));
});

test('parseMo refuses what is not a .mo file, and a truncated one', () => {
  assert.throws(() => parseMo(Buffer.from('msgid "x"\nmsgstr "y"\n')), /not a gettext \.mo file/);
  const data = compile('truncated');
  for (const length of [10, 30, Math.floor(data.length / 2), data.length - 120]) {
    assert.throws(() => parseMo(data.subarray(0, length)), /truncated|out of range/i, String(length));
  }
});

test('messageLanguage: LC_ALL, then LC_MESSAGES, then LANG, as gettext; C, POSIX or nothing means English', () => {
  const cases: [NodeJS.ProcessEnv, string | undefined][] = [
    [{}, undefined],
    [{ LANG: 'ru_RU.UTF-8' }, 'ru'],
    [{ LANG: 'ru_RU' }, 'ru'],
    [{ LANG: 'ru' }, 'ru'],
    [{ LANG: 'ru_UA.KOI8-U' }, 'ru'],
    [{ LANG: 'en_US.UTF-8' }, 'en'],
    [{ LANG: 'C' }, undefined],
    [{ LANG: 'POSIX' }, undefined],
    [{ LANG: 'C.UTF-8' }, undefined],
    [{ LANG: '' }, undefined],
    // LC_MESSAGES wins over LANG, LC_ALL over both, in either direction.
    [{ LANG: 'C', LC_MESSAGES: 'ru_RU.UTF-8' }, 'ru'],
    [{ LANG: 'ru_RU.UTF-8', LC_MESSAGES: 'C' }, undefined],
    [{ LANG: 'ru_RU.UTF-8', LC_MESSAGES: 'POSIX' }, undefined],
    [{ LANG: 'C', LC_MESSAGES: 'C', LC_ALL: 'ru_RU.UTF-8' }, 'ru'],
    [{ LANG: 'ru_RU.UTF-8', LC_MESSAGES: 'ru_RU.UTF-8', LC_ALL: 'C' }, undefined],
    [{ LANG: 'ru_RU.UTF-8', LC_ALL: 'C.UTF-8' }, undefined],
    [{ LC_ALL: 'en_US.UTF-8', LANG: 'ru_RU.UTF-8' }, 'en'],
    // An empty variable counts as unset (gettext skips it).
    [{ LC_ALL: '', LC_MESSAGES: '', LANG: 'ru_RU.UTF-8' }, 'ru'],
    [{ LC_ALL: '', LC_MESSAGES: 'ru_RU.UTF-8', LANG: 'C' }, 'ru'],
    // Other categories do not choose the message language.
    [{ LC_CTYPE: 'ru_RU.UTF-8', LC_TIME: 'ru_RU.UTF-8' }, undefined],
    // LANGUAGE is a priority list, honoured only when the locale is not C.
    [{ LANG: 'en_US.UTF-8', LANGUAGE: 'ru:en' }, 'ru'],
    [{ LANG: 'C', LANGUAGE: 'ru' }, undefined],
  ];
  for (const [env, expected] of cases) assert.is(messageLanguage(env), expected, JSON.stringify(env));
});

test('LANGUAGE: each message is looked up in the listed languages in order, then falls back to English', () => {
  registerCatalog('podsec-language-test', 'ru', { Hello: 'Привет' });
  assert.equal(messageLanguages({ LANG: 'de_DE.UTF-8', LANGUAGE: 'de:ru' }), ['de', 'ru']);
  const t = translator('podsec-language-test', { LANG: 'de_DE.UTF-8', LANGUAGE: 'de:ru', PODSEC_LOCALEDIR: '/nonexistent' });
  assert.is(t('Hello'), 'Привет');
  assert.is(t('Bye'), 'Bye');
});

test('translator: Russian from the compiled catalog under ru_RU.UTF-8, with placeholders filled', () => {
  compile('podsec-test-ru');
  const t = translator('podsec-test-ru', { LANG: 'ru_RU.UTF-8', PODSEC_LOCALEDIR: join(dir, 'locale') });
  assert.is(t.domain, 'podsec-test-ru');
  assert.is(t('Usage:'), 'Использование:');
  assert.is(
    t('invalid user name {name}: {reason}', { name: 'Ivan', reason: 'it starts with a digit' }),
    'недопустимое имя пользователя Ivan: it starts with a digit',
  );
});

test('translator: English when the catalog lacks the msgid, has it fuzzy or empty, or the locale is C', () => {
  compile('podsec-test-fallback');
  const env = { LANG: 'ru_RU.UTF-8', PODSEC_LOCALEDIR: join(dir, 'locale') };
  const t = translator('podsec-test-fallback', env);
  assert.is(t('a message no catalog has: {n}', { n: 3 }), 'a message no catalog has: 3');
  assert.is(t('a fuzzy entry'), 'a fuzzy entry');
  assert.is(t('an untranslated entry'), 'an untranslated entry');
  assert.is(t('Open'), 'Open');
  const c = translator('podsec-test-fallback', { ...env, LC_ALL: 'C' });
  assert.is(c('Usage:'), 'Usage:');
  assert.is(c('invalid user name {name}: {reason}', { name: 'x', reason: 'y' }), 'invalid user name x: y');
});

test('translator: English when the domain has no catalog or an unreadable one', () => {
  const localedir = join(dir, 'broken');
  mkdirSync(join(localedir, 'ru', 'LC_MESSAGES'), { recursive: true });
  writeFileSync(join(localedir, 'ru', 'LC_MESSAGES', 'podsec-test-broken.mo'), 'not a catalog');
  const env = { LANG: 'ru_RU.UTF-8', PODSEC_LOCALEDIR: localedir };
  assert.is(translator('podsec-test-broken', env)('Usage:'), 'Usage:');
  assert.is(translator('podsec-test-missing', env)('Usage:'), 'Usage:');
});

test('translator: placeholders the caller does not give stay as they are; values are not re-expanded', () => {
  const t = translator('podsec-test-none', { LANG: 'C' });
  assert.is(t('{a} and {b}', { a: '{b}' }), '{b} and {b}');
  assert.is(t('{a} and {b}', { a: 1, b: 0 }), '1 and 0');
});

const RUSSIAN_PLURAL = 'nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);';

test('pluralRule: Russian three forms, English two, C precedence, refuses what is no plural expression', () => {
  const russian = pluralRule(RUSSIAN_PLURAL);
  const counts = [0, 1, 2, 4, 5, 11, 12, 14, 21, 22, 25, 101, 111, 112, 1001];
  assert.equal(counts.map(russian), [2, 0, 1, 1, 2, 2, 2, 2, 0, 1, 2, 0, 2, 2, 0]);
  assert.equal([0, 1, 2, 21].map(pluralRule('nplurals=2; plural=(n != 1);')), [1, 0, 1, 1]);
  assert.equal([0, 1, 2].map(pluralRule('nplurals=1; plural=0;')), [0, 0, 0]);
  assert.is(pluralRule('plural=1 + 2 * 3 - 4 % 3;')(0), 6);
  assert.is(pluralRule('plural=!(n > 1) || n == 7 && n >= 7;')(7), 1);
  for (const bad of ['plural=n + process.exit(1);', 'plural=(n == 1;', 'plural=n ? 1;', 'plural=constructor;', 'nplurals=2;']) {
    assert.throws(() => pluralRule(bad)(1), undefined, bad);
  }
});

test("ngettext (t.n) with msgfmt's catalog: 1, 2, 5 and 21 in Russian and English", () => {
  compile('podsec-plural-test');
  const ru = translator('podsec-plural-test', { LANG: 'ru_RU.UTF-8', PODSEC_LOCALEDIR: join(dir, 'locale') });
  const en = translator('podsec-plural-test', { LANG: 'C' });
  const forms = (t: typeof ru) => [1, 2, 5, 21].map((count) => t.n('{count} image', '{count} images', count));
  assert.equal(forms(ru), ['1 образ', '2 образа', '5 образов', '21 образ']);
  assert.equal(forms(en), ['1 image', '2 images', '5 images', '21 images']);
  assert.is(ru.n('{count} file', '{count} files', 2), '2 files', 'an untranslated plural falls back to English');
});

test.run();
