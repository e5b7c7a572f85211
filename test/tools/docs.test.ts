/**
 * Man pages, --help and bash completion of every documented program, checked with the real
 * consumers (man/groff, bash's compgen, msgfmt), in English and Russian. What is checked comes
 * from the commands' own definitions (PODSEC_DESCRIBE=1), never from a list kept here.
 */
import { access, readFile, readdir, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import type { CommandDescription } from '../../bin/lib/command.ts';
import type { BuildResult } from '../../scripts/build.ts';
import { completionFunctionName } from '../../scripts/docs/completion.ts';
import { describeProgram } from '../../scripts/docs/describe.ts';
import { treePath } from '../../scripts/layout.ts';
import { COMPLETIONS_DIR, documentedPrograms } from '../../scripts/model/docs.ts';
import { resolvePath } from '../../scripts/model/branches.ts';
import model from '../../scripts/model/index.ts';
import { REPO_ROOT } from '../../scripts/paths.ts';
import { ensureBuild, unpackRpms } from '../support/build.ts';
import { run } from '../support/exec.ts';
import { withTools } from '../support/tools.ts';

const test = withTools(base, ['man', 'groff', 'xz', 'bash', 'msgfmt']);

/**
 * Every documented program (scripts/model/docs.ts): the commands in %_bindir (section 1, with a
 * completion) and the administrative programs (section 8, not on PATH: no completion), with the
 * tree paths of its bundle, pages and completion.
 */
const commands = documentedPrograms(model).map((p) => ({
  name: p.name,
  section: p.section,
  program: p.path,
  manEn: treePath(p.pages.en),
  manRu: treePath(p.pages.ru),
  completion: p.completion && treePath(p.completion),
}));

let built: BuildResult;
let tree: string;
/** The built packages unpacked: the programs as %build made them. */
let installed: string;
const bundleOf = (c: { program: string }) => join(installed, resolvePath(c.program, 'p11'));
const descriptions = new Map<string, CommandDescription>();

base.before(async () => {
  built = await ensureBuild('p11');
  tree = join(built.tarball, '..', 'source', posix.basename(built.tarball, '.tar'));
  installed = await unpackRpms(built.rpms);
  for (const c of commands) descriptions.set(c.name, await describeProgram(bundleOf(c)));
});

const optionNames = (d: CommandDescription) => Object.keys({ ...d.spec.options, ...d.commonOptions });

const CYRILLIC = /[\u0400-\u04ff]/;
/** The text of a rendered page's first section (NAME): `name - summary`. */
const nameLine = (rendered: string) =>
  rendered
    .split('\n')
    .slice(1)
    .find((l) => /^\s+\S/.test(l))
    ?.trim() ?? '';

test('there are commands to check, in section 1 and in section 8', () => {
  assert.ok(commands.some((c) => c.section === 1));
  assert.ok(commands.some((c) => c.section === 8));
});

for (const c of commands) {
  for (const [language, page] of [
    ['en', c.manEn],
    ['ru', c.manRu],
  ] as const) {
    test(
      `${c.name}(${c.section}): ${language} man page renders without warnings, names every option` + `, is in ${language === 'ru' ? 'Russian' : 'English'}`,
      async () => {
        const source = (await run('xz', ['-dc', join(tree, page)])).stdout;
        assert.match(source, new RegExp(`^\\.TH \\S+ ${c.section} `, 'm'));
        const rendered = await run('groff', ['-K', 'utf8', '-man', '-Tutf8', '-ww', '-z'], { input: source });
        assert.is(rendered.stderr, '', rendered.stderr);
        const man = await run('man', ['-l', '-E', 'UTF-8', '-'], { input: source, env: { MANWIDTH: '100', LC_ALL: 'C.UTF-8', MAN_DISABLE_SECCOMP: '1' } });
        assert.is(man.exitCode, 0, man.stderr);
        assert.ok(man.stdout.startsWith(`${c.name.toUpperCase()}(${c.section})`), man.stdout.split('\n')[0]);
        // Names, options and paths are never hyphenated across lines (groff marks a break with U+2010).
        assert.match(source, /^\.nh$/m);
        const narrow = await run('man', ['-l', '-E', 'UTF-8', '-'], { input: source, env: { MANWIDTH: '60', LC_ALL: 'C.UTF-8', MAN_DISABLE_SECCOMP: '1' } });
        assert.not.ok(
          narrow.stdout.includes('\u2010'),
          `hyphenated: ${narrow.stdout
            .split('\n')
            .filter((l) => l.includes('\u2010'))
            .join(' | ')}`,
        );
        for (const option of optionNames(descriptions.get(c.name)!))
          assert.ok(man.stdout.includes(`--${option}`), `--${option} missing from the ${language} page`);
        // The summary, not only the headings, is in the page's language.
        const summary = nameLine(man.stdout);
        assert.ok(summary.startsWith(`${c.name} `), summary);
        if (language === 'ru') assert.ok(CYRILLIC.test(summary), `the Russian page's NAME is not Russian: ${summary}`);
        else assert.not.ok(CYRILLIC.test(man.stdout), `Cyrillic in the English page of ${c.name}`);
        // Section titles come from the catalog: none is left in English in a Russian page.
        const titles = [...source.matchAll(/^\.SH (.*)$/gm)].map((m) => m[1]!);
        assert.ok(titles.length >= 4, source);
        if (language === 'ru')
          assert.equal(
            titles.filter((title) => /[A-Za-z]/.test(title)),
            [],
            'English section titles in the Russian page',
          );
      },
    );
  }

  test(`${c.name}: --help lists every option the parser defines`, async () => {
    const help = await run(process.execPath, ['-e', 'require(process.argv[1])', bundleOf(c), '--help'], { env: { LC_ALL: 'C' } });
    assert.is(help.exitCode, 0, help.stderr);
    for (const option of optionNames(descriptions.get(c.name)!)) assert.ok(help.stdout.includes(`--${option}`), `--${option} missing from --help`);
  });

  if (!c.completion) {
    test(`${c.name}: not on PATH, so no bash completion`, async () => {
      await access(join(tree, treePath(`${COMPLETIONS_DIR}/${c.name}`))).then(
        () => assert.unreachable(`a completion for ${c.name}`),
        () => undefined,
      );
    });
    continue;
  }
  const completion = c.completion;

  test(`${c.name}: bash completion loads cleanly and completes its options`, async () => {
    const script = join(tree, completion);
    const fn = completionFunctionName(c.name);
    const result = await run('bash', [
      '--norc',
      '-c',
      'set -u; source "$1"; complete -p "$2" >/dev/null; COMP_WORDS=("$2" --); COMP_CWORD=1; "$3"; printf "%s\\n" "${COMPREPLY[@]}"',
      'bash',
      script,
      c.name,
      fn,
    ]);
    assert.is(result.stderr, '');
    assert.is(result.exitCode, 0);
    const completed = result.stdout.trim().split('\n').sort();
    assert.equal(
      completed,
      optionNames(descriptions.get(c.name)!)
        .map((o) => `--${o}`)
        .sort(),
    );
  });
}

test('every PO file passes msgfmt --check', async () => {
  const poDir = join(REPO_ROOT, 'bin', 'po');
  const languages = await readdir(poDir).catch(() => [] as string[]);
  for (const language of languages) {
    for (const file of await readdir(join(poDir, language))) {
      const result = await run('msgfmt', ['--check', '-o', '/dev/null', join(poDir, language, file)]);
      assert.is(result.exitCode, 0, `${language}/${file}: ${result.stderr}`);
    }
  }
});

test('the catalogs in the packages are valid gettext files', async () => {
  for (const entry of model.packages.flatMap((p) => p.entries).filter((e) => e.content && 'catalog' in e.content)) {
    const data = await readFile(join(tree, treePath(entry.path)));
    assert.is(data.readUInt32LE(0), 0x950412de, entry.path);
  }
});

base.after(async () => {
  if (installed) await rm(installed, { recursive: true, force: true });
});

test.run();
