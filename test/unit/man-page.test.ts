/**
 * scripts/docs/man.ts with the real Russian catalogs: every page turns hyphenation off right after
 * .TH (groff would break registry.lo-cal, --gpg-pub-lic-key, /var/sig-store), the section titles
 * and the frame's exit-code texts come from each domain's catalog (no English title in a Russian
 * page), and the NAME line is lower-case as man pages write it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exitCodeTable, MAN_SECTIONS, type CommandDescription } from '../../bin/lib/command.ts';
import { readPo, translationsOf } from '../../scripts/i18n/catalog.ts';
import { TEXT_DOMAINS } from '../../scripts/model/docs.ts';
import { renderManPage } from '../../scripts/docs/man.ts';

const CYRILLIC = /[\u0400-\u04ff]/;

/** A command with every part of a page: options, environment, files, its own exit code, examples, SEE ALSO. */
const description: CommandDescription = {
  spec: {
    name: 'podsec-example',
    summary: 'Set up the example of registry.local.',
    usage: ['[--gpg-public-key FILE] IP'],
    options: { 'gpg-public-key': { type: 'string', valueName: 'FILE', description: 'the key' } },
    description: ['Writes /var/sigstore/keys/policy.json.'],
    environment: { U7S_PLATFORM: 'the platform' },
    files: { '/etc/containers/policy.json': 'the policy' },
    exitCodes: { 1: 'it failed' },
    examples: { 'podsec-example 10.0.0.1': 'an example' },
    seeAlso: ['podsec-create-policy(1)'],
  },
  commonOptions: { help: { type: 'boolean', short: 'h', description: 'show this help and exit' } },
  domain: 'podsec',
};

const titles = (page: string) => [...page.matchAll(/^\.SH (.*)$/gm)].map((m) => m[1]!);

test('every page turns hyphenation off (.nh) and justification off (.ad l) right after .TH, in both languages', () => {
  for (const language of ['en', 'ru'] as const) {
    const lines = renderManPage(description, 1, language, (m) => m, '2.0.0', '2026-12-01').split('\n');
    const th = lines.findIndex((l) => l.startsWith('.TH '));
    assert.ok(th >= 0, language);
    assert.equal(lines.slice(th + 1, th + 3), ['.nh', '.ad l'], language);
  }
});

for (const domain of TEXT_DOMAINS) {
  test(`${domain}: the Russian page takes its section titles and the frame's exit-code texts from the catalog`, async () => {
    const catalog = translationsOf(await readPo(domain, 'ru'));
    const t = (msgid: string) => catalog.get(msgid) ?? msgid;
    const page = renderManPage({ ...description, domain }, 1, 'ru', t, '2.0.0', '2026-12-01');
    const english = renderManPage({ ...description, domain }, 1, 'en', (m) => m, '2.0.0', '2026-12-01');
    assert.equal(titles(english), Object.values(MAN_SECTIONS));
    const ru = titles(page);
    assert.is(ru.length, Object.keys(MAN_SECTIONS).length, page);
    for (const title of ru) assert.ok(CYRILLIC.test(title) && !/[A-Za-z]/.test(title), `an English section title in the Russian page: ${title}`);
    assert.ok(ru.includes('КОДЫ ЗАВЕРШЕНИЯ'), ru.join(', '));
    // The frame's rows (0, 2, 66, 70, 141) are Russian; the command's own row is its msgid here.
    for (const [code, meaning] of exitCodeTable(description.spec).filter(([code]) => code !== 1)) {
      const row = page.split('\n').indexOf(`\\fB${code}\\fR`);
      assert.ok(row > 0, `exit code ${code} missing`);
      assert.ok(CYRILLIC.test(page.split('\n')[row + 1]!), `exit code ${code} in English: ${meaning}`);
    }
  });
}

test('the NAME line: no final full stop, lower-case unless the first word is an acronym', () => {
  const nameOf = (summary: string, t: (m: string) => string = (m) => m) =>
    renderManPage({ ...description, spec: { ...description.spec, summary } }, 1, 'en', t, '2.0.0', '2026-12-01')
      .split('\n')
      .find((l) => l.startsWith('podsec\\-example \\- '));
  assert.is(nameOf('Set up the example.'), 'podsec\\-example \\- set up the example');
  assert.is(nameOf('ALT platforms.'), 'podsec\\-example \\- ALT platforms');
  assert.is(
    nameOf('x', () => 'Настроить пример.'),
    'podsec\\-example \\- настроить пример',
  );
  assert.is(
    nameOf('x', () => 'systemctl для узла.'),
    'podsec\\-example \\- systemctl для узла',
  );
});

test.run();
