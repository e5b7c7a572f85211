/**
 * Stage step: the source tree that goes into podsec-<version>.tar. Every file entry of the model
 * is written to tree/<root>/<rest> with the model's mode; programs are bundled, everything else
 * rendered. The programs' TypeScript sources are copied to src/ beside them.
 */
import { chmod, cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { globby } from 'globby';
import { bundleProgram } from './bundle.ts';
import { treePath } from './layout.ts';
import type { ProjectModel } from './model/types.ts';
import { renderContent, type RenderContext } from './render.ts';
import { REPO_ROOT } from './repo.ts';

/** Runtime sources shipped in src/ for those who want to read or rebuild the programs. */
export const RUNTIME_SOURCES = ['bin/**/*.ts', 'package.json', 'package-lock.json', 'tsconfig.json'];

export async function stageTree(model: ProjectModel, context: RenderContext, dir: string): Promise<string[]> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const bundles = new Map<string, Promise<string>>();
  for (const entry of model.packages.flatMap((p) => p.entries)) {
    if (!entry.content) continue;
    const relative = treePath(entry.path);
    const target = join(dir, relative);
    let text: string;
    if ('program' in entry.content) {
      const name = entry.content.program;
      if (!bundles.has(name)) bundles.set(name, bundleProgram(name, `${context.version}-${context.release}`));
      text = await bundles.get(name)!;
    } else {
      text = await renderContent(entry.content, context);
    }
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, text);
    await chmod(target, entry.mode);
    written.push(relative);
  }
  for (const source of await globby(RUNTIME_SOURCES, { cwd: REPO_ROOT })) {
    await cp(join(REPO_ROOT, source), join(dir, 'src', source));
    written.push(`src/${source}`);
  }
  return written.sort();
}
