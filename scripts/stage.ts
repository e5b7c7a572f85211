/**
 * Stage step: the source tree that goes into podsec-<version>.tar. Every file entry of the model
 * but the programs is written to tree/<root>/<rest> with the model's mode: templates rendered,
 * then what is generated from the programs' own definitions (man pages, completion; the programs
 * are bundled into a scratch directory for that) and from the translations (message catalogs).
 * The programs themselves are built by the spec's %build from src/: their TypeScript sources and
 * the sources of the runtime dependencies they bundle (src/node_modules/).
 */
import { chmod, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { globby } from 'globby';
import type { CommandDescription } from '../bin/lib/command.ts';
import { bundleProgram, runtimeDependencyFiles } from './bundle.ts';
import { xz } from './compress.ts';
import { renderCompletion } from './docs/completion.ts';
import { describeProgram } from './docs/describe.ts';
import { renderManPage } from './docs/man.ts';
import { compileMo, readPo, translationsOf } from './i18n/catalog.ts';
import { treePath } from './layout.ts';
import type { Content, Entry, ProjectModel } from './model/types.ts';
import { renderContent, type RenderContext } from './render.ts';
import { REPO_ROOT } from './paths.ts';

/** The programs' sources shipped in src/, which %build bundles (with the runtime dependencies' files). */
const RUNTIME_SOURCES = ['bin/**/*.ts', 'bin/po/**/*.po', 'package.json', 'package-lock.json', 'tsconfig.json'];

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
  const programs = [...new Set(entries.flatMap((e) => (e.content && 'program' in e.content ? [e.content.program] : [])))];
  const scratch = await mkdtemp(join(tmpdir(), 'podsec-bundles-'));
  try {
    await stageFiles();
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  for (const source of [...(await globby(RUNTIME_SOURCES, { cwd: REPO_ROOT })), ...(await runtimeDependencyFiles(programs))].sort()) {
    await mkdir(dirname(join(dir, 'src', source)), { recursive: true });
    await cp(join(REPO_ROOT, source), join(dir, 'src', source));
    written.push(`src/${source}`);
  }
  return written.sort();

  async function stageFiles(): Promise<void> {
    const bundlePaths = new Map<string, string>();
    for (const program of programs) {
      const path = join(scratch, `${program.replaceAll('/', '_')}.js`);
      await writeFile(path, await bundleProgram(program, `${context.version}-${context.release}`), { mode: 0o755 });
      bundlePaths.set(program, path);
    }
    for (const entry of entries) {
      const content = entry.content!;
      if (isGenerated(content) || 'program' in content) continue;
      await write(entry, await renderContent(content, context));
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
  }
}
