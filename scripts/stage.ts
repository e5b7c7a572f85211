/**
 * Stage step: the source tree that goes into podsec-<version>.tar. Every file entry of the model
 * but the programs is written to tree/<root>/<rest> with the model's mode: templates rendered,
 * then what is generated from the programs' own definitions (man pages, completion; the programs
 * are bundled into a scratch directory for that while the templates render, and describe themselves
 * in one process while src/ is copied) and from the translations (message catalogs).
 * The programs themselves are built by the spec's %build from src/: their TypeScript sources and
 * the sources of the runtime dependencies they bundle (src/node_modules/).
 */
import { chmod, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { globby } from 'globby';
import { bundleForDescribing } from './bundle.ts';
import { allOrFirstError, mapLimit } from './concurrency.ts';
import { xzFiles } from './compress.ts';
import { renderCompletion } from './docs/completion.ts';
import type { CommandDescription } from '../bin/lib/command.ts';
import { describePrograms } from './docs/describe.ts';
import { renderManPage } from './docs/man.ts';
import { compileMo, readPo, translationsOf, type Language } from './i18n/catalog.ts';
import { treePath } from './layout.ts';
import { programsOf } from './model/program-modules.ts';
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
  const programs = [...new Set(model.packages.flatMap(programsOf).map(({ program }) => program))];
  /** Each domain's catalog of a language, read once for its .mo and its man pages. */
  const catalogs = new Map<string, Promise<Map<string, string>>>();
  const catalogOf = (domain: string, language: Language) => {
    const key = `${domain}/${language}`;
    if (!catalogs.has(key)) catalogs.set(key, readPo(domain, language).then(translationsOf));
    return catalogs.get(key)!;
  };
  const scratch = await mkdtemp(join(tmpdir(), 'podsec-bundles-'));
  try {
    // esbuild bundles the programs in its own process while the templates render and the catalogs
    // are read here; then the programs describe themselves in another process while src/ is copied.
    const [bundles] = await allOrFirstError([
      bundleForDescribing(programs, `${context.version}-${context.release}`, scratch),
      mapLimit(
        entries.filter((entry) => !isGenerated(entry.content!) && !('program' in entry.content!)),
        CONCURRENCY,
        async (entry) => write(entry, await renderContent(entry.content!, context)),
      ),
      Promise.all(entries.flatMap(({ content }) => (content && 'catalog' in content ? [catalogOf(content.catalog, content.language)] : []))),
    ]);
    await allOrFirstError([describePrograms(bundles.files).then(writeGenerated), copySources(bundles.dependencyFiles)]);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return written.sort();

  async function copySources(dependencyFiles: string[]): Promise<void> {
    const sources = [...(await globby(RUNTIME_SOURCES, { cwd: REPO_ROOT })), ...dependencyFiles].sort();
    await mapLimit(sources, CONCURRENCY, async (source) => {
      await mkdir(dirname(join(dir, 'src', source)), { recursive: true });
      await cp(join(REPO_ROOT, source), join(dir, 'src', source));
      written.push(`src/${source}`);
    });
  }

  /** The man pages, completions and message catalogs. */
  async function writeGenerated(described: CommandDescription[]): Promise<void> {
    const descriptions = new Map(described.map((description, i) => [programs[i]!, description]));

    /** The man pages, written uncompressed: one xz makes them <page>.xz (each keeps its mode). */
    const pages: string[] = [];
    await mapLimit(
      entries.filter((entry) => isGenerated(entry.content!)),
      CONCURRENCY,
      async (entry) => {
        const content = entry.content as Generated;
        if ('catalog' in content) {
          await write(entry, compileMo(await catalogOf(content.catalog, content.language), content.language));
        } else if ('completion' in content) {
          await write(entry, renderCompletion(descriptions.get(content.completion)!));
        } else {
          const description = descriptions.get(content.manPage)!;
          const catalog = content.language !== 'en' && description.domain ? await catalogOf(description.domain, content.language) : new Map<string, string>();
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
  }
}
