/**
 * The translations, checked against the code and the built programs:
 *  - every message text in the code is a literal the extractor can read, and every msgid it finds
 *    (scripts/i18n/messages.ts) has a Russian translation that is neither empty nor fuzzy, with the
 *    same {placeholders} as the msgid;
 *  - every documented program (the commands in %_bindir, the administrative programs with
 *    section-8 pages) answers --help in Russian under LANG=ru_RU.UTF-8 and in English under
 *    LANG=C (the bundles of the built tree, with its compiled catalogs);
 *  - what monitoring parses stays English: severity prefixes are no msgids, and the Nagios plugin
 *    output of podsec-inotify-check-policy under LANG=ru_RU.UTF-8 starts with its status word.
 */
import { rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeStatusWith } from '../support/u7s-fixtures.ts';
import type { BuildResult } from '../../scripts/build.ts';
import { LANGUAGES, readPo, translationsOf } from '../../scripts/i18n/catalog.ts';
import { extractAll, extractFromSource } from '../../scripts/i18n/extract.ts';
import { messagesByDomain } from '../../scripts/i18n/messages.ts';
import { treePath } from '../../scripts/layout.ts';
import { documentedPrograms, TEXT_DOMAINS } from '../../scripts/model/docs.ts';
import { resolvePath } from '../../scripts/model/branches.ts';
import model from '../../scripts/model/index.ts';
import { COMPLIANT_POLICY, podsecTree } from '../support/inotify-tree.ts';
import { ensureBuild, unpackRpms } from '../support/build.ts';
import { run } from '../support/exec.ts';
import { withTools } from '../support/tools.ts';

const test = withTools(base, ['msgfmt']);

/**
 * Every documented program (scripts/model/docs.ts) — the commands in %_bindir and the
 * administrative programs with section-8 pages — with the tree path of its bundle. (The u7s
 * systemctl and rootlessctl shims pass --help on to the commands they stand in for.)
 */
const commands = documentedPrograms(model).map((p) => ({ name: p.name, section: p.section, bundle: resolvePath(p.path, 'p11') }));

/** Severity words monitoring parses at the start of a line (`Critical:`, `Critical(102):`). */
const SEVERITY = /^(Crash|Fatal|Critical|High|Middle|Medium|Warning|Low|Debug|Info|Notice|Error)(\(\d+\))?:/;
const CYRILLIC = /[\u0400-\u04ff]/;
const placeholders = (text: string) => [...new Set([...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!))].sort();

let tree: string;
/** The built packages unpacked: the programs as %build made them, at their installed paths. */
let installed: string;
let domains: Map<string, Map<string, string[]>>;

base.before(async () => {
  const built: BuildResult = await ensureBuild('p11');
  tree = join(built.tarball, '..', 'source', posix.basename(built.tarball, '.tar'));
  installed = await unpackRpms(built.rpms);
  domains = (await messagesByDomain(model)).domains;
});

const localeEnv = (lang: string) => ({
  LANG: lang,
  LC_ALL: '',
  LC_MESSAGES: '',
  LANGUAGE: '',
  PODSEC_LOCALEDIR: join(tree, treePath('%_localedir')),
});

const help = (bundle: string, lang: string) =>
  run(process.execPath, ['-e', 'require(process.argv[1])', join(installed, bundle), '--help'], { env: localeEnv(lang) });

test('the extractor finds the text domains of the packages, each with messages', () => {
  assert.equal([...domains.keys()].sort(), [...TEXT_DOMAINS].sort());
  for (const [domain, messages] of domains) assert.ok(messages.size > 0, domain);
});

test('a text split into literals joined with + is one message; one with a variable in it is refused', () => {
  const source = "const t = translator('podsec');\nconst spec = { summary: 'Makes ' + 'a policy.' };\nt('one ' + ('long ' + 'line'));\nt('no ' + name);\n";
  const found = extractFromSource('bin/x.ts', source);
  assert.equal([...found.messages.keys()], ['Makes a policy.', 'one long line']);
  assert.is(found.unextractable.length, 0, 't() with a variable is not a msgid the extractor claims');
});

test('every message text of a command definition or t() call is a literal the extractor can read', async () => {
  const unextractable = (await extractAll()).flatMap((f) => f.unextractable);
  assert.ok(unextractable.length === 0, `texts that stay English (write each as a string literal; no \${...} in a msgid):\n${unextractable.join('\n')}`);
});

test('every msgid in the code has a Russian translation, neither empty nor fuzzy', async () => {
  const missing: string[] = [];
  for (const language of LANGUAGES) {
    for (const [domain, messages] of [...domains].sort(([a], [b]) => a.localeCompare(b))) {
      const translations = translationsOf(await readPo(domain, language));
      const lacking = [...messages.keys()].filter((msgid) => !translations.has(msgid));
      if (lacking.length)
        missing.push(
          `${language}/${domain}.po: ${lacking.length} missing (npm run i18n, then translate):` +
            `\n${lacking.map((m) => `  ${JSON.stringify(m)}  [${messages.get(m)![0]}]`).join('\n')}`,
        );
    }
  }
  assert.ok(missing.length === 0, `untranslated messages:\n${missing.join('\n')}`);
});

test('every translation keeps the {placeholders} of its msgid', async () => {
  const problems: string[] = [];
  for (const language of LANGUAGES) {
    for (const domain of domains.keys()) {
      for (const [msgid, msgstr] of translationsOf(await readPo(domain, language))) {
        if (placeholders(msgid).join() !== placeholders(msgstr).join())
          problems.push(`${language}/${domain}.po: ${JSON.stringify(msgid)} -> ${JSON.stringify(msgstr)}`);
      }
    }
  }
  assert.ok(problems.length === 0, problems.join('\n'));
});

test('no msgid (in the PO files or the code) starts with a severity prefix or is Nagios plugin output', async () => {
  const problems: string[] = [];
  for (const language of LANGUAGES) {
    for (const domain of domains.keys()) {
      const msgids = new Set([...Object.keys((await readPo(domain, language))?.translations[''] ?? {}), ...domains.get(domain)!.keys()]);
      for (const msgid of msgids) {
        if (SEVERITY.test(msgid))
          problems.push(`${language}/${domain}.po: severity prefix in msgid ${JSON.stringify(msgid)}: monitoring parses it, it must not go through t()`);
        if (/^POLICY /.test(msgid))
          problems.push(`${language}/${domain}.po: Nagios plugin output in msgid ${JSON.stringify(msgid)}: it must not go through t()`);
      }
    }
  }
  assert.ok(problems.length === 0, problems.join('\n'));
});

test('there are commands to check, in section 1 and in section 8', () => {
  assert.ok(commands.some((c) => c.section === 1));
  assert.ok(commands.some((c) => c.section === 8));
});

for (const c of commands) {
  test(`${c.name}: --help is Russian under LANG=ru_RU.UTF-8 and English under LANG=C`, async () => {
    const ru = await help(c.bundle, 'ru_RU.UTF-8');
    const en = await help(c.bundle, 'C');
    assert.is(en.exitCode, 0, en.stderr);
    assert.is(ru.exitCode, 0, ru.stderr);
    assert.not.ok(CYRILLIC.test(en.stdout), `Cyrillic in the LANG=C help:\n${en.stdout}`);
    assert.ok(CYRILLIC.test(ru.stdout), `no Russian in the LANG=ru_RU.UTF-8 help:\n${ru.stdout}`);
    assert.is.not(ru.stdout, en.stdout);
    // Not only the headings: the summary and every option's description are translated.
    const ruLines = ru.stdout.split('\n');
    const enLines = en.stdout.split('\n');
    assert.is(ruLines.length, enLines.length, ru.stdout);
    const summary = enLines.indexOf('') + 1;
    const options = enLines.indexOf('Options:') + 1;
    assert.ok(summary > 0 && options > summary, en.stdout);
    const same = [summary, ...enLines.map((_, i) => i).filter((i) => i >= options)].filter(
      (i) => /[a-z]{3}/.test(enLines[i]!.replace(/^\s*(-\w, )?\s*--\S+( \S+)?\s/, '')) && enLines[i] === ruLines[i],
    );
    assert.equal(
      same.map((i) => enLines[i]),
      [],
      `untranslated in the Russian help:\n${ru.stdout}`,
    );
  });
}

test('severity prefixes and the Nagios plugin output stay English under LANG=ru_RU.UTF-8', async () => {
  const program = commands.find((c) => c.name === 'podsec-inotify-check-policy');
  assert.ok(program, 'podsec-inotify-check-policy is not a documented program');
  const check = (root: string, ...args: string[]) =>
    run(process.execPath, ['-e', 'require(process.argv[1])', join(installed, program!.bundle), '--root', root, ...args], {
      env: { ...localeEnv('ru_RU.UTF-8'), PODSEC_INOTIFY_JOURNAL: 'stderr' },
    });

  const compliant = podsecTree();
  try {
    const ok = await check(compliant.root);
    assert.is(ok.exitCode, 0, ok.stderr);
    assert.ok(ok.stdout.startsWith('POLICY OK: '), ok.stdout);
    const unknown = await check(compliant.root, '-c', 'bogus');
    assert.is(unknown.exitCode, 3, unknown.stdout + unknown.stderr);
    assert.match(unknown.stdout + unknown.stderr, /POLICY UNKNOWN: /);
    assert.not.ok(CYRILLIC.test(unknown.stdout + unknown.stderr), unknown.stdout + unknown.stderr);
  } finally {
    compliant.cleanup();
  }

  const drifted = podsecTree();
  try {
    drifted.write('etc/containers/policy.json', JSON.stringify({ ...COMPLIANT_POLICY, default: [{ type: 'insecureAcceptAnything' }] }));
    const bad = await check(drifted.root);
    assert.is(bad.exitCode, 2, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /^POLICY CRITICAL\(\d+\): /);
    assert.not.ok(CYRILLIC.test(bad.stdout), bad.stdout);
    const journal = bad.stderr.split('\n').filter((l) => l !== '');
    assert.ok(journal.length > 0, 'nothing in the journal');
    for (const line of journal) assert.match(line, /^<\d>(Crash|Fatal|Critical|High|Middle|Warning|Low|Debug): /);
    // nagwad's filters match the English journal text.
    assert.not.ok(CYRILLIC.test(bad.stderr), bad.stderr);
  } finally {
    drifted.cleanup();
  }
});

/** Latin words of a Russian message, leaving out options, paths, variables, the program's name and the user's own words. */
const englishWords = (line: string, program: string, given: string[] = []) =>
  line
    .replace(`${program}: `, '')
    .split(/\s+/)
    .filter((word) => !/^-|[/_=.]|\d/.test(word) && !given.some((g) => word.startsWith(g)))
    .filter((word) => /[A-Za-z]{2,}/.test(word));

const runRu = (bundle: string, args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['-e', 'require(process.argv[1])', join(installed, bundle), ...args], { env: { ...localeEnv('ru_RU.UTF-8'), ...env } });

for (const c of commands) {
  test(`${c.name}: the option parser's refusal is Russian under LANG=ru_RU.UTF-8`, async () => {
    const refused = await runRu(c.bundle, ['--root']);
    assert.is.not(refused.exitCode, 0);
    assert.ok(CYRILLIC.test(refused.stderr), refused.stderr);
    assert.equal(englishWords(refused.stderr.trim(), c.name), [], refused.stderr);
  });
}

test('podsec-get-platform: every refusal of the option parser, and no platform, in Russian, naming the fix', async () => {
  const program = commands.find((c) => c.name === 'podsec-get-platform')!;
  for (const args of [['--bogus'], ['--json=yes'], ['--root', '--json'], ['extra']]) {
    const refused = await runRu(program.bundle, args);
    assert.is(refused.exitCode, 2, refused.stderr);
    assert.ok(CYRILLIC.test(refused.stderr), refused.stderr);
    assert.equal(englishWords(refused.stderr.trim(), program.name, args), [], refused.stderr);
  }
  const empty = podsecTree();
  try {
    const unknown = await runRu(program.bundle, ['--root', empty.root], { U7S_PLATFORM: '' });
    assert.is(unknown.exitCode, 1, unknown.stderr);
    assert.match(unknown.stderr, 'U7S_PLATFORM');
    assert.equal(englishWords(unknown.stderr.trim(), program.name), [], unknown.stderr);
  } finally {
    empty.cleanup();
  }
});

test('u7s-start-stop status: systemd states in Russian in the text, as systemd says them in --json', async () => {
  const { statusText } = await import('../../bin/u7s/lib/node-status.ts');
  const saved = { ...process.env };
  Object.assign(process.env, localeEnv('ru_RU.UTF-8'));
  try {
    const unit = { unit: 'kubelet.service', activeState: 'failed', subState: 'failed', result: 'exit-code', mainPid: null, activeSince: null, restarts: 2 };
    const status = nodeStatusWith([unit], { linger: false, userManager: 'inactive' });
    const text = statusText(status);
    for (const state of ['inactive', 'active', 'enabled', 'failed', 'exit-code']) assert.not.match(text, new RegExp(`\\b${state}\\b`), text);
    assert.ok(CYRILLIC.test(text), text);
  } finally {
    for (const key of Object.keys(localeEnv(''))) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  }
});

test('plural forms from the built catalogs: 1, 2, 5 and 21 in Russian and English, and every plural message has three Russian forms', async () => {
  const { translator } = await import('../../bin/lib/i18n.ts');
  const ru = translator('podsec', localeEnv('ru_RU.UTF-8'));
  const en = translator('podsec', localeEnv('C'));
  const pushed = (t: typeof ru) => [1, 2, 5, 21].map((count) => t.n('{count} image pushed and signed.', '{count} images pushed and signed.', count));
  assert.equal(pushed(ru), [
    '1 образ отправлен и подписан.',
    '2 образа отправлены и подписаны.',
    '5 образов отправлены и подписаны.',
    '21 образ отправлен и подписан.',
  ]);
  assert.equal(pushed(en), ['1 image pushed and signed.', '2 images pushed and signed.', '5 images pushed and signed.', '21 images pushed and signed.']);
  const k8s = translator('podsec-k8s', localeEnv('ru_RU.UTF-8'));
  assert.equal(
    [1, 2, 5, 21].map((count) => k8s.n('{count} restart', '{count} restarts', count)),
    ['1 перезапуск', '2 перезапуска', '5 перезапусков', '21 перезапуск'],
  );
  for (const domain of domains.keys()) {
    for (const [key, forms] of translationsOf(await readPo(domain, 'ru'))) {
      if (key.includes('\0')) assert.is(forms.split('\0').length, 3, `${domain}: ${key}`);
    }
    const plurals = [...domains.get(domain)!.keys()].filter((key) => key.includes('\0'));
    if (domain === 'podsec') assert.ok(plurals.length > 0, 'the extractor finds the plural messages of t.n()');
  }
});

test('no count is put into a singular message: a {count} msgid is plural, or says the count after a colon', () => {
  const problems: string[] = [];
  for (const [domain, messages] of domains) {
    for (const key of messages.keys()) if (!key.includes('\0') && /\{count\} [a-z]/.test(key)) problems.push(`${domain}: ${key}`);
  }
  assert.equal(problems, []);
});

/** Words a terminology review of the Russian catalogs ruled out, each with the term to use instead. */
const RULED_OUT = [
  ['регистратор', 'registry is «реестр»'],
  ['находк', 'a finding is «нарушение» (or «обнаруженные уязвимости» for trivy)'],
  ['мастеры', 'control-plane nodes are «узлы плоскости управления»'],
  ['менеджер пользователя', 'the user manager is «менеджер служб пользователя»'],
  ['rootless-контейнер', 'rootless containers are «контейнеры без прав root»'],
  ['возврата', 'an exit code is «код завершения»'],
  ['модуль Nagios', 'a Nagios plugin is «плагин Nagios»'],
  ['пространства имён пользователей', 'a user namespace is «пространство имён пользователя»'],
  ['в одной строке', '"one line says why" is «указывается в сообщении»'],
  ['называет образ', '"names the image" is «указывает образ в сообщении»'],
  ['сообщение называет', '"the message names" is «указывается в сообщении»'],
  ['подсов', '"replayed" is «повторная подстановка», not slang'],
  ['подсун', '"replayed" is «повторная подстановка», not slang'],
  ['отказ ', '"refusing to" is said as the result: «… не используется: …»'],
  // (Upstream's «скрипт оболочки» is a script indeed.)
  ['скрипт должен', 'the programs are commands, not scripts'],
  ['скрипт вызван', 'the programs are commands, not scripts'],
  ['вызовите скрипт', 'the programs are commands, not scripts'],
  ['образов в узел', 'images are pulled «на узел»'],
  ['Формат: {', 'a synopsis is introduced by «Использование:»'],
] as const;

test('the Russian terminology holds in every catalog', async () => {
  const problems: string[] = [];
  for (const domain of domains.keys()) {
    for (const [msgid, msgstr] of translationsOf(await readPo(domain, 'ru'))) {
      for (const [word, rule] of RULED_OUT)
        if (msgstr.toLowerCase().includes(word.toLowerCase())) problems.push(`${domain}: ${rule}: ${JSON.stringify(msgid)}`);
    }
  }
  assert.equal(problems, []);
});

/**
 * Where "host" is not the machine, so «хост» is not the word: network host bits are «биты узла»,
 * as in Russian networking texts.
 */
const HOST_NOT_THE_MACHINE = new Set(['{what}: {value} has host bits set; the network is {network}']);

test('host (the machine) is «хост» and node is «узел»: a msgid about a host says «хост», one about a node only never does', async () => {
  const problems: string[] = [];
  for (const domain of domains.keys()) {
    for (const [msgid, msgstr] of translationsOf(await readPo(domain, 'ru'))) {
      // /etc/hosts, a {host} placeholder and the literal HOST of a synopsis are no words to translate.
      const words = msgid.replace(/\/etc\/hosts|\{host\}|localhost/g, '');
      const host = /\bhosts?\b/.test(words);
      if (host && !HOST_NOT_THE_MACHINE.has(msgid) && !/хост/i.test(msgstr))
        problems.push(`${domain}: host without «хост»: ${JSON.stringify(msgid)} -> ${msgstr}`);
      if (!host && /\bnodes?\b/i.test(words) && /хост/i.test(msgstr)) problems.push(`${domain}: a node said as «хост»: ${JSON.stringify(msgid)} -> ${msgstr}`);
    }
  }
  assert.equal(problems, []);
  assert.ok(HOST_NOT_THE_MACHINE.size <= 1, 'the allow-list stays small: translate host as «хост»');
});

test('podsec-k8s: the Linux namespace of the u7s node is always named as the node’s (or rootlesskit’s, a user namespace, …)', async () => {
  // Next to Kubernetes namespaces a bare «пространство имён» is ambiguous.
  const QUALIFIED_AFTER = /^\s+(узла|rootlesskit|RootlessKit|пользовател|контейнера|user|cgroup|Kubernetes)/;
  const QUALIFIED_BEFORE = /(этого|этом|своего|своём|собственном)\s+$/;
  const bare: string[] = [];
  for (const [msgid, msgstr] of translationsOf(await readPo('podsec-k8s', 'ru'))) {
    for (const m of msgstr.matchAll(/пространств\S* имён/g)) {
      const before = msgstr.slice(Math.max(0, m.index! - 20), m.index!);
      if (!QUALIFIED_AFTER.test(msgstr.slice(m.index! + m[0].length)) && !QUALIFIED_BEFORE.test(before)) bare.push(`${JSON.stringify(msgid)} -> ${msgstr}`);
    }
  }
  assert.equal(bare, []);
});

test('every yes/no question asks in one style in Russian, ending with «(y/N) » (y means yes; an empty answer means no)', async () => {
  const questions: string[] = [];
  let asked = 0;
  for (const domain of domains.keys())
    for (const [msgid, msgstr] of translationsOf(await readPo(domain, 'ru')))
      if (/\by\/N\b|\(Yes\/no\)/.test(msgid)) {
        asked++;
        if (!msgstr.endsWith('? (y/N) ')) questions.push(`${domain}: ${JSON.stringify(msgstr)}`);
      }
  assert.equal(questions, []);
  assert.ok(asked >= 3, `${asked} questions found`);
});

test('the change-list steps (plan.change) say what is done as verbal nouns, never as infinitives, in Russian', async () => {
  const { extractAll } = await import('../../scripts/i18n/extract.ts');
  const { readFile } = await import('node:fs/promises');
  const { REPO_ROOT } = await import('../../scripts/paths.ts');
  const steps = new Set<string>();
  for (const file of await extractAll()) {
    const source = await readFile(join(REPO_ROOT, file.file), 'utf8');
    for (const m of source.matchAll(/\.change\(\s*t\(\s*'((?:[^'\\]|\\.)*)'/g)) steps.add(m[1]!);
  }
  assert.ok(steps.size > 15, `${steps.size} steps found`);
  const translations = new Map<string, string>();
  for (const domain of domains.keys()) for (const [msgid, msgstr] of translationsOf(await readPo(domain, 'ru'))) translations.set(msgid, msgstr);
  const infinitives = [...steps].filter((step) => /^[а-яё]+(ть|ти|чь)(ся)?(\s|$)/i.test(translations.get(step) ?? ''));
  assert.equal(infinitives, [], 'steps in the infinitive');
  assert.is(translations.get('Changes made:'), 'Внесённые изменения:');
});

base.after(async () => {
  if (installed) await rm(installed, { recursive: true, force: true });
});

test.run();
