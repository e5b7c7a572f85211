/**
 * The documentation the model generates for its programs (scripts/model/docs.ts): section-1 pages
 * and completion for the commands in %_bindir, section-8 pages and no completion for the
 * administrative programs that declare it, nothing for the shims; and no SEE ALSO reference (in
 * the command definitions of bin/, or a unit's Documentation=) naming a page of ours we do not ship.
 */
import { posix } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  danglingReferences,
  documentationFromUnit,
  OWN_PROGRAM_NAME,
  seeAlsoFromSource,
  seeAlsoReferences,
  undocumentedOwnPrograms,
  unitDocumentationReferences,
} from '../../scripts/docs/see-also.ts';
import { BRANCHES, resolvePath } from '../../scripts/model/branches.ts';
import { COMPLETIONS_DIR, DOC_DIRS, documentedPrograms, withGeneratedDocs } from '../../scripts/model/docs.ts';
import model from '../../scripts/model/index.ts';
import podsecK8s from '../../scripts/model/packages/podsec-k8s.ts';
import type { Entry, ProjectModel } from '../../scripts/model/types.ts';

const LIBEXEC = '%_libexecdir/podsec/u7s/bin';
const SECTION_8 = ['nsenter_u7s', 'u7s-rootlesskit', 'u7s-crio', 'u7s-kubelet', 'u7s-service-ports', 'u7s-start-stop'];
const SHIMS = ['systemctl', 'rootlessctl'];

const entries = model.packages.flatMap((p) => p.entries);
const programs = entries.filter((e) => e.content && 'program' in e.content);
const at = (path: string): Entry | undefined => entries.find((e) => e.path === path);
const packageOf = (path: string) => model.packages.find((p) => p.entries.some((e) => e.path === path))?.name;

test('every command in %_bindir has en and ru pages in section 1 and a completion, in its own package', () => {
  const commands = programs.filter((e) => e.path.startsWith('%_bindir/'));
  assert.ok(commands.length > 0);
  for (const command of commands) {
    const name = posix.basename(command.path);
    const program = (command.content as { program: string }).program;
    assert.equal(at(`%_man1dir/${name}.1.xz`)?.content, { manPage: program, language: 'en', section: 1 }, name);
    assert.equal(at(`%_mandir/ru/man1/${name}.1.xz`)?.content, { manPage: program, language: 'ru', section: 1 }, name);
    assert.equal(at(`${COMPLETIONS_DIR}/${name}`)?.content, { completion: program }, name);
    for (const path of [`%_man1dir/${name}.1.xz`, `%_mandir/ru/man1/${name}.1.xz`, `${COMPLETIONS_DIR}/${name}`])
      assert.is(packageOf(path), packageOf(command.path), path);
  }
});

test('podsec-k8s: the administrative u7s programs have en and ru pages in section 8 and no completion', () => {
  for (const name of SECTION_8) {
    const path = `${LIBEXEC}/${name}`;
    assert.equal(at(path)?.content, { program: `u7s/${name}`, manSection: 8 }, path);
    assert.equal(at(`%_man8dir/${name}.8.xz`)?.content, { manPage: `u7s/${name}`, language: 'en', section: 8 }, name);
    assert.equal(at(`%_mandir/ru/man8/${name}.8.xz`)?.content, { manPage: `u7s/${name}`, language: 'ru', section: 8 }, name);
    for (const page of [`%_man8dir/${name}.8.xz`, `%_mandir/ru/man8/${name}.8.xz`]) assert.is(packageOf(page), 'podsec-k8s', page);
    assert.is(at(`${COMPLETIONS_DIR}/${name}`), undefined, `${name} is not on PATH: no completion`);
    assert.is(at(`%_man1dir/${name}.1.xz`), undefined, `${name}: no section-1 page`);
  }
});

test('podsec-k8s: the systemctl and rootlessctl shims get no pages and no completion', () => {
  for (const name of SHIMS) {
    assert.equal(at(`${LIBEXEC}/${name}`)?.content, { program: `u7s/${name}` }, name);
    const generated = entries.filter(
      (e) => e.content && ('manPage' in e.content || 'completion' in e.content) && posix.basename(e.path).split('.')[0] === name,
    );
    assert.equal(
      generated.map((e) => e.path),
      [],
      `${name} would clash with the system command's pages`,
    );
  }
});

test('the documented programs are exactly those with pages: 6 in section 8, the %_bindir commands in section 1', () => {
  const documented = documentedPrograms(model);
  assert.equal(
    documented.filter((p) => p.section === 8).map((p) => p.name),
    SECTION_8,
  );
  assert.equal(
    documented.filter((p) => p.section === 1).map((p) => p.path),
    programs.filter((e) => e.path.startsWith('%_bindir/')).map((e) => e.path),
  );
  const pages = entries
    .filter((e) => e.content && 'manPage' in e.content)
    .map((e) => e.path)
    .sort();
  assert.equal(pages, documented.flatMap((p) => [p.pages.en, p.pages.ru]).sort());
  assert.is(programs.length, documented.length + SHIMS.length);
});

test('the page directories resolve on every branch; ru/man8 is owned like ru/man1', () => {
  for (const branch of BRANCHES) {
    assert.is(resolvePath('%_man8dir/nsenter_u7s.8.xz', branch), '/usr/share/man/man8/nsenter_u7s.8.xz');
    assert.is(resolvePath('%_mandir/ru/man8/nsenter_u7s.8.xz', branch), '/usr/share/man/ru/man8/nsenter_u7s.8.xz');
  }
  const owner = (path: string) => DOC_DIRS.find((d) => d.path === path);
  assert.equal(owner('%_mandir/ru/man8'), { ...owner('%_mandir/ru/man1')!, path: '%_mandir/ru/man8' });
});

test('every program named as ours has pages; the undocumented programs are shims named after system commands', () => {
  assert.equal(undocumentedOwnPrograms(model), []);
  for (const name of SHIMS) assert.not.ok(OWN_PROGRAM_NAME.test(name), name);
  for (const name of [...SECTION_8, 'podsec-u7s-kubeadm', 'podsec']) assert.ok(OWN_PROGRAM_NAME.test(name), name);
});

test('SEE ALSO references in bin/ and Documentation= in units/ name only pages we ship, in their section', async () => {
  const references = [...(await seeAlsoReferences()), ...(await unitDocumentationReferences())];
  assert.ok(references.length > 0);
  assert.ok(
    references.some((r) => r.text === 'nsenter_u7s(8)'),
    'the u7s programs refer to nsenter_u7s(8)',
  );
  const problems = danglingReferences(model, references);
  assert.ok(problems.length === 0, `dangling references:\n${problems.join('\n')}`);
});

test('the check finds dangling references: a wrong section, an own page nobody ships, a non-literal', () => {
  const refs = seeAlsoFromSource(
    'bin/demo.ts',
    "runCommand({ name: 'demo', seeAlso: ['nsenter_u7s(1)', 'podsec-u7s-kubeadm(8)', " +
      "'u7s-nothing(8)', 'podsec-nothing(1)', 'systemctl(1)', 'kubelet(8)', 'u7s-start-stop(8)', NAME, " +
      "'plain'] });",
  );
  assert.equal(danglingReferences(model, refs), [
    'bin/demo.ts:1: nsenter_u7s(1): the page of nsenter_u7s is nsenter_u7s(8)',
    'bin/demo.ts:1: podsec-u7s-kubeadm(8): the page of podsec-u7s-kubeadm is podsec-u7s-kubeadm(1)',
    'bin/demo.ts:1: u7s-nothing(8): no package ships a page u7s-nothing',
    'bin/demo.ts:1: podsec-nothing(1): no package ships a page podsec-nothing',
    "bin/demo.ts:1: NAME: not a literal 'name(section)'",
    "bin/demo.ts:1: plain: not a literal 'name(section)'",
  ]);
  const unit = documentationFromUnit('units/demo.service.ejs', '[Unit]\nDocumentation=man:u7s-start-stop(1) https://example.org/\n');
  assert.equal(danglingReferences(model, unit), ['units/demo.service.ejs:2: u7s-start-stop(1): the page of u7s-start-stop is u7s-start-stop(8)']);
});

test('without the section-8 declaration, the references to the u7s programs dangle', async () => {
  const strip = (e: Entry): Entry => (e.content && 'program' in e.content ? { ...e, content: { program: e.content.program } } : e);
  const declared: ProjectModel = { packages: [{ ...podsecK8s, entries: podsecK8s.entries.map(strip) }], externalDirs: [], externalPrograms: [] };
  const withoutSection8 = withGeneratedDocs(declared);
  assert.ok(undocumentedOwnPrograms(withoutSection8).includes(`${LIBEXEC}/nsenter_u7s`));
  const problems = danglingReferences(withoutSection8, await seeAlsoReferences());
  assert.ok(
    problems.some((p) => p.includes('nsenter_u7s(8): no package ships a page nsenter_u7s')),
    problems.join('\n'),
  );
});

test.run();
