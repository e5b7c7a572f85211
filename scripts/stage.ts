/**
 * Stage step: the source tree that goes into podsec-<version>.tar. Every file entry of the model
 * but the programs is written to tree/<root>/<rest> with the model's mode: templates rendered,
 * then what is generated from the programs' own definitions (man pages, completion; the programs
 * are bundled into a scratch directory for that, and describe themselves in one process while the
 * templates render) and from the translations (message catalogs).
 * The programs themselves are built by the spec's %build from src/: their TypeScript sources and
 * the sources of the runtime dependencies they bundle (src/node_modules/).
 */
import { chmod, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { globby } from 'globby';
import { bundleForDescribing } from './bundle.ts';
import { mapLimit } from './concurrency.ts';
import { xzFiles } from './compress.ts';
import { renderCompletion } from './docs/completion.ts';
import { describePrograms } from './docs/describe.ts';
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

/** Files written, compressors and copies run at once (each an xz or a copy: little memory, mostly waiting). */
const CONCURRENCY = 8;

export async function stageTree(model: ProjectModel, context: RenderContext, dir: string): Promise<string[]> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  /** Writes an entry's file; `as`: another name under which it is written for now (a man page before xz). */
  const write = async (entry: Entry, data: string | Buffer, as?: string) => {
    const relative = treePath(entry.path);
    const target = join(dir, as ?? relative);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, data);
    await chmod(target, entry.mode);
    written.push(relative);
    return target;
  };

  const entries = model.packages.flatMap((p) => p.entries).filter((e) => e.content);
  const programs = [...new Set(entries.flatMap((e) => (e.content && 'program' in e.content ? [e.content.program] : [])))];
  const scratch = await mkdtemp(join(tmpdir(), 'podsec-bundles-'));
  let dependencyFiles: string[];
  try {
    dependencyFiles = await stageFiles();
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const sources = [...(await globby(RUNTIME_SOURCES, { cwd: REPO_ROOT })), ...dependencyFiles].sort();
  await mapLimit(sources, CONCURRENCY, async (source) => {
    await mkdir(dirname(join(dir, 'src', source)), { recursive: true });
    await cp(join(REPO_ROOT, source), join(dir, 'src', source));
    written.push(`src/${source}`);
  });
  return written.sort();

  /** Everything but src/; returns the runtime dependency files for src/node_modules. */
  async function stageFiles(): Promise<string[]> {
    const bundles = await bundleForDescribing(programs, `${context.version}-${context.release}`, scratch);
    // The programs describe themselves in another process while the templates render here.
    const described = describePrograms(bundles.files);
    described.catch(() => {}); // awaited below, after the templates
    await mapLimit(
      entries.filter((entry) => !isGenerated(entry.content!) && !('program' in entry.content!)),
      CONCURRENCY,
      async (entry) => write(entry, await renderContent(entry.content!, context)),
    );
    const descriptions = new Map((await described).map((description, i) => [programs[i]!, description]));

    /** The man pages, written uncompressed: one xz makes them <page>.xz (each keeps its mode). */
    const pages: string[] = [];
    const translations = new Map<string, Promise<Map<string, string>>>();
    const russian = (domain: string | undefined) => {
      if (!domain) return Promise.resolve(new Map<string, string>());
      if (!translations.has(domain)) translations.set(domain, readPo(domain, 'ru').then(translationsOf));
      return translations.get(domain)!;
    };
    await mapLimit(
      entries.filter((entry) => isGenerated(entry.content!)),
      CONCURRENCY,
      async (entry) => {
        const content = entry.content as Generated;
        if ('catalog' in content) {
          await write(entry, await compileMo(content.catalog, content.language));
        } else if ('completion' in content) {
          await write(entry, renderCompletion(descriptions.get(content.completion)!));
        } else {
          const description = descriptions.get(content.manPage)!;
          const catalog = content.language === 'ru' ? await russian(description.domain) : new Map<string, string>();
          const page = renderManPage(
            description,
            content.section,
            content.language,
            (msgid) => catalog.get(msgid) || msgid,
            `${context.version}-${context.release}`,
            context.date ?? '1970-01-01',
          );
          const path = treePath(entry.path);
          if (!path.endsWith('.xz')) throw new Error(`${entry.path}: a man page's path ends in .xz`);
          pages.push(await write(entry, page, path.slice(0, -'.xz'.length)));
        }
      },
    );
    await xzFiles(pages, 9);
    return bundles.dependencyFiles;
  }
}
