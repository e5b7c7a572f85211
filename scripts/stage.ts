/**
 * Stage step: the source tree that goes into podsec-<version>.tar. Every file entry of the model
 * is written to tree/<root>/<rest> with the model's mode: programs bundled, templates rendered,
 * then what is generated from the bundled programs' own definitions (man pages, completion) and
 * from the translations (message catalogs). The programs' TypeScript sources go to src/.
 */
import { chmod, cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { globby } from 'globby';
import type { CommandDescription } from '../bin/lib/command.ts';
import { bundleProgram } from './bundle.ts';
import { xz } from './compress.ts';
import { renderCompletion } from './docs/completion.ts';
import { describeProgram } from './docs/describe.ts';
import { renderManPage } from './docs/man.ts';
import { compileMo, readPo, translationsOf } from './i18n/catalog.ts';
import { treePath } from './layout.ts';
import type { Content, Entry, ProjectModel } from './model/types.ts';
import { renderContent, type RenderContext } from './render.ts';
import { REPO_ROOT } from './paths.ts';

/** Runtime sources shipped in src/ for those who want to read or rebuild the programs. */
export const RUNTIME_SOURCES = ['bin/**/*.ts', 'bin/po/**/*.po', 'package.json', 'package-lock.json', 'tsconfig.json'];

type Generated = Extract<Content, { manPage: string } | { completion: string } | { catalog: string }>;
const isGenerated = (content: Content): content is Generated => 'manPage' in content || 'completion' in content || 'catalog' in content;

export async function stageTree(model: ProjectModel, context: RenderContext, dir: string): Promise<string[]> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const write = async (entry: Entry, data: string | Buffer) => {
    const relative = treePath(entry.path);
    const target = join(dir, relative);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, data);
    await chmod(target, entry.mode);
    written.push(relative);
    return target;
  };

  const entries = model.packages.flatMap((p) => p.entries).filter((e) => e.content);
  const bundlePaths = new Map<string, string>();
  const bundles = new Map<string, Promise<string>>();
  for (const entry of entries) {
    const content = entry.content!;
    if (isGenerated(content)) continue;
    if ('program' in content) {
      const name = content.program;
      if (!bundles.has(name)) bundles.set(name, bundleProgram(name, `${context.version}-${context.release}`));
      bundlePaths.set(name, await write(entry, await bundles.get(name)!));
    } else {
      await write(entry, await renderContent(content, context));
    }
  }

  const descriptions = new Map<string, Promise<CommandDescription>>();
  const describe = (program: string) => {
    if (!descriptions.has(program)) descriptions.set(program, describeProgram(bundlePaths.get(program)!));
    return descriptions.get(program)!;
  };
  const translations = new Map<string, Map<string, string>>();
  const russian = async (domain: string | undefined) => {
    if (!domain) return new Map<string, string>();
    if (!translations.has(domain)) translations.set(domain, translationsOf(await readPo(domain, 'ru')));
    return translations.get(domain)!;
  };
  for (const entry of entries) {
    const content = entry.content!;
    if (!isGenerated(content)) continue;
    if ('catalog' in content) {
      await write(entry, await compileMo(content.catalog, content.language));
    } else if ('completion' in content) {
      await write(entry, renderCompletion(await describe(content.completion)));
    } else {
      const description = await describe(content.manPage);
      const catalog = content.language === 'ru' ? await russian(description.domain) : new Map<string, string>();
      const page = renderManPage(
        description,
        content.section,
        content.language,
        (msgid) => catalog.get(msgid) || msgid,
        `${context.version}-${context.release}`,
        context.date ?? '1970-01-01',
      );
      await write(entry, await xz(page, 9));
    }
  }

  for (const source of await globby(RUNTIME_SOURCES, { cwd: REPO_ROOT })) {
    await cp(join(REPO_ROOT, source), join(dir, 'src', source));
    written.push(`src/${source}`);
  }
  return written.sort();
}
