/**
 * Finds every translatable message in the runtime code (bin/), by parsing it with the TypeScript
 * compiler — no hand-kept msgid list:
 *  - the first argument of calls `t('…')` (string or template literal without substitutions);
 *  - the strings of command definitions: `summary`, `description`, and the values of
 *    `environment`, `files`, `exitCodes`, `examples` object literals, option `description`s.
 * A file that creates its own `translator('<domain>')` contributes to that domain; a file without
 * one (shared code such as bin/lib/command.ts, which uses its caller's translate function)
 * contributes to every domain.
 */
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { globby } from 'globby';
import ts from 'typescript';
import { REPO_ROOT } from '../repo.ts';

export interface Message {
  msgid: string;
  /** file:line references, for translators. */
  references: string[];
}

const SPEC_TEXT_KEYS = new Set(['summary', 'description']);
const SPEC_TABLE_KEYS = new Set(['environment', 'files', 'exitCodes', 'examples']);

function literalText(node: ts.Node): string | undefined {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  return undefined;
}

export interface FileMessages {
  file: string;
  domain: string | undefined;
  messages: Map<string, string[]>;
}

export function extractFromSource(file: string, source: string): FileMessages {
  const sourceFile = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const messages = new Map<string, string[]>();
  let domain: string | undefined;
  const add = (text: string | undefined, node: ts.Node) => {
    if (!text) return;
    const line = sourceFile.getLineAndCharacterOfPosition(node.getStart()).line + 1;
    messages.set(text, [...(messages.get(text) ?? []), `${file}:${line}`]);
  };
  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.arguments[0]) {
      if (node.expression.text === 't') add(literalText(node.arguments[0]), node);
      if (node.expression.text === 'translator') domain = literalText(node.arguments[0]) ?? domain;
    }
    if (ts.isPropertyAssignment(node)) {
      const key = ts.isIdentifier(node.name) || ts.isStringLiteral(node.name) ? node.name.text : undefined;
      if (key && SPEC_TEXT_KEYS.has(key)) {
        if (ts.isArrayLiteralExpression(node.initializer)) node.initializer.elements.forEach((e) => add(literalText(e), e));
        else add(literalText(node.initializer), node.initializer);
      }
      if (key && SPEC_TABLE_KEYS.has(key) && ts.isObjectLiteralExpression(node.initializer)) {
        for (const property of node.initializer.properties) {
          if (ts.isPropertyAssignment(property)) add(literalText(property.initializer), property.initializer);
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return { file, domain, messages };
}

/** Every runtime source file's messages. */
export async function extractAll(): Promise<FileMessages[]> {
  const files = (await globby(['bin/**/*.ts'], { cwd: REPO_ROOT })).sort();
  return Promise.all(
    files.map(async (file) => extractFromSource(relative(REPO_ROOT, join(REPO_ROOT, file)), await readFile(join(REPO_ROOT, file), 'utf8'))),
  );
}

/** domain -> msgid -> references. Shared files' messages go into every domain. */
export function messagesByDomain(files: FileMessages[]): Map<string, Map<string, string[]>> {
  const domains = new Map<string, Map<string, string[]>>();
  for (const f of files) if (f.domain) domains.set(f.domain, domains.get(f.domain) ?? new Map());
  for (const f of files) {
    const targets = f.domain ? [f.domain] : [...domains.keys()];
    for (const domain of targets) {
      const messages = domains.get(domain)!;
      for (const [msgid, refs] of f.messages) messages.set(msgid, [...(messages.get(msgid) ?? []), ...refs]);
    }
  }
  return domains;
}
