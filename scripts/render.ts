/**
 * Render step: turns an entry's Content declaration into bytes. Programs are not rendered here
 * (the bundle step compiles them); everything else is a template (ejs) or a typed document
 * serialized by a real serializer (yaml, JSON.stringify).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ejs from 'ejs';
import YAML from 'yaml';
import type { Branch } from './model/branches.ts';
import type { Content } from './model/types.ts';
import { REPO_ROOT } from './repo.ts';

export interface RenderContext {
  branch: Branch;
  version: string;
  release: string;
}

/** YAML output style shared by every generated document: block style, 2-space indent, no line folding. */
export const YAML_OPTIONS = { indent: 2, lineWidth: 0 } as const;

export function toYaml(documents: unknown, multiDocument = false): string {
  if (!multiDocument) return YAML.stringify(documents, YAML_OPTIONS);
  if (!Array.isArray(documents)) throw new Error('a multi-document YAML source must export an array');
  return documents.map((document) => new YAML.Document(document).toString(YAML_OPTIONS)).join('---\n');
}

export function toJson(document: unknown): string {
  return JSON.stringify(document, null, 2) + '\n';
}

/** Our templates produce config files, not HTML: `<%= %>` must not HTML-escape. */
export const plainText = (value: unknown): string => String(value);

async function loadDefault(modulePath: string): Promise<unknown> {
  const module = (await import(pathToFileURL(join(REPO_ROOT, modulePath)).href)) as { default?: unknown };
  if (module.default === undefined) throw new Error(`${modulePath}: no default export`);
  return module.default;
}

/** The rendered text of a non-program content source. */
export async function renderContent(content: Content, context: RenderContext): Promise<string> {
  if ('program' in content) throw new Error(`program ${content.program} is bundled, not rendered`);
  if ('ejs' in content) {
    const template = await readFile(join(REPO_ROOT, content.ejs), 'utf8');
    return ejs.render(template, { ...context, ...content.data }, { filename: join(REPO_ROOT, content.ejs), escape: plainText });
  }
  if ('yaml' in content) return toYaml(await loadDefault(content.yaml), content.multiDocument);
  return toJson(await loadDefault(content.json));
}

/** The repository files a content source reads (for the build's input hash and for gear). */
export function contentSources(content: Content): string[] {
  if ('program' in content) return [`bin/${content.program}.ts`];
  if ('ejs' in content) return [content.ejs];
  if ('yaml' in content) return [content.yaml];
  return [content.json];
}
