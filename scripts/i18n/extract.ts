/**
 * Finds every translatable message in the runtime code (bin/), by parsing it with the TypeScript
 * compiler — no hand-kept msgid list:
 *  - the first argument of calls `t('…')` (string or template literal without substitutions), and
 *    the first two of `t.n('{count} image', '{count} images', count)` (a plural message);
 *  - the strings of command definitions: `summary`, `description`, and the values of
 *    `environment`, `files`, `exitCodes`, `examples` object literals, option `description`s.
 * Texts the parser cannot read (a template with substitutions, a conditional, a variable where a
 * command definition expects its text; a template with substitutions as t()'s msgid) are listed
 * in `unextractable`, so a test can name them instead of their staying English unnoticed.
 * A file that creates its own `translator('<domain>')` contributes to that domain, and so does a
 * file that imports its `t` from such a file (`import { t } from './rbac/common.ts'`); a file
 * with neither (shared code such as bin/lib/command.ts, which uses its caller's translate
 * function) contributes to every domain.
 */
import { readFile } from 'node:fs/promises';
import { join, posix, relative } from 'node:path';
import { globby } from 'globby';
import ts from 'typescript';
import { REPO_ROOT } from '../paths.ts';
import { PLURAL_SEPARATOR } from './plural.ts';

const SPEC_TEXT_KEYS = new Set(['summary', 'description', 'otherExitCodes']);
const SPEC_TABLE_KEYS = new Set(['environment', 'files', 'exitCodes', 'examples', 'manSections']);

/** A string literal, or literals joined with `+` (how a text longer than a line is written). */
function literalText(node: ts.Node): string | undefined {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isParenthesizedExpression(node)) return literalText(node.expression);
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    const [left, right] = [literalText(node.left), literalText(node.right)];
    return left === undefined || right === undefined ? undefined : left + right;
  }
  return undefined;
}

export interface FileMessages {
  file: string;
  domain: string | undefined;
  messages: Map<string, string[]>;
  /** The module specifier this file imports its `t` from, when it does not create its own. */
  translateFrom?: string;
  /** `file:line: text` of every message text that is not a literal (see above). */
  unextractable: string[];
}

export function extractFromSource(file: string, source: string): FileMessages {
  const sourceFile = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const messages = new Map<string, string[]>();
  let domain: string | undefined;
  let translateFrom: string | undefined;
  const unextractable: string[] = [];
  const refuse = (node: ts.Node) => {
    const line = sourceFile.getLineAndCharacterOfPosition(node.getStart()).line + 1;
    unextractable.push(`${file}:${line}: ${node.getText().replace(/\s+/g, ' ').slice(0, 120)}`);
  };
  /** A text of a command definition: a literal, or listed as unextractable. */
  const addLiteral = (node: ts.Node) => {
    const text = literalText(node);
    if (text === undefined) refuse(node);
    else add(text, node);
  };
  const add = (text: string | undefined, node: ts.Node) => {
    if (!text) return;
    const line = sourceFile.getLineAndCharacterOfPosition(node.getStart()).line + 1;
    messages.set(text, [...(messages.get(text) ?? []), `${file}:${line}`]);
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const bindings = node.importClause?.namedBindings;
      if (bindings && ts.isNamedImports(bindings) && bindings.elements.some((e) => e.name.text === 't')) translateFrom = node.moduleSpecifier.text;
    }
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.arguments[0]) {
      if (node.expression.text === 't') {
        if (ts.isTemplateExpression(node.arguments[0])) refuse(node.arguments[0]);
        else add(literalText(node.arguments[0]), node);
      }
      if (node.expression.text === 'translator') domain = literalText(node.arguments[0]) ?? domain;
    }
    // t.n('{count} image', '{count} images', count): a plural message, keyed as in the .mo file.
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      ts.isIdentifier(node.expression.expression) &&
      node.expression.expression.text === 't' &&
      node.expression.name.text === 'n'
    ) {
      const [singular, plural] = node.arguments.slice(0, 2).map(literalText);
      if (singular === undefined || plural === undefined) refuse(node);
      else add(`${singular}${PLURAL_SEPARATOR}${plural}`, node);
    }
    if (ts.isPropertyAssignment(node)) {
      const key = ts.isIdentifier(node.name) || ts.isStringLiteral(node.name) ? node.name.text : undefined;
      if (key && SPEC_TEXT_KEYS.has(key)) {
        // A spread (`...THRESHOLD_HELP.description`) is read where it is defined, under a key of its own.
        if (ts.isArrayLiteralExpression(node.initializer)) node.initializer.elements.filter((e) => !ts.isSpreadElement(e)).forEach(addLiteral);
        else addLiteral(node.initializer);
      }
      if (key && SPEC_TABLE_KEYS.has(key) && ts.isObjectLiteralExpression(node.initializer)) {
        for (const property of node.initializer.properties) {
          if (ts.isPropertyAssignment(property)) addLiteral(property.initializer);
          else if (!ts.isSpreadAssignment(property)) refuse(property);
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return { file, domain, messages, unextractable, ...(translateFrom && !domain ? { translateFrom } : {}) };
}

/** Gives files that import their `t` the domain of the file they import it from. */
function resolveImportedDomains(files: FileMessages[]): FileMessages[] {
  const byFile = new Map(files.map((f) => [f.file, f]));
  const domainOf = (f: FileMessages, seen: Set<string>): string | undefined => {
    if (f.domain || !f.translateFrom || !f.translateFrom.startsWith('.') || seen.has(f.file)) return f.domain;
    seen.add(f.file);
    const target = posix.join(posix.dirname(f.file), f.translateFrom);
    const source = byFile.get(target) ?? byFile.get(target.replace(/\.js$/, '.ts'));
    return source ? domainOf(source, seen) : undefined;
  };
  return files.map((f) => ({ ...f, domain: domainOf(f, new Set()) }));
}

/** Every runtime source file's messages. */
export async function extractAll(): Promise<FileMessages[]> {
  const files = (await globby(['bin/**/*.ts'], { cwd: REPO_ROOT })).sort();
  return resolveImportedDomains(
    await Promise.all(files.map(async (file) => extractFromSource(relative(REPO_ROOT, join(REPO_ROOT, file)), await readFile(join(REPO_ROOT, file), 'utf8')))),
  );
}
