/**
 * The SEE ALSO references of the command definitions in bin/ (`seeAlso: ['name(section)', …]`),
 * read with the TypeScript parser, and the ones that point at a page of ours we do not ship.
 * A reference to one of our own programs must name a page the model generates, in its section
 * (scripts/model/docs.ts): `nsenter_u7s(8)`, `podsec-u7s-kubeadm(1)`. The units' Documentation=
 * lines (`man:podsec-u7s-kubeadm(1)`) are references of the same kind.
 */
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { globby } from 'globby';
import ts from 'typescript';
import { documentedPrograms } from '../model/docs.ts';
import type { ProjectModel } from '../model/types.ts';
import { REPO_ROOT } from '../paths.ts';

interface SeeAlsoReference {
  /** `file:line` of the reference. */
  at: string;
  /** The reference as written, e.g. `nsenter_u7s(8)`; a non-literal element is its source text. */
  text: string;
  /** Parsed `name(section)`; absent when the reference does not have that form. */
  name?: string;
  section?: number;
}

const REFERENCE = /^([A-Za-z0-9_.:@+-]+)\(([1-9])\)$/;

/**
 * Names our own programs have: podsec-*, u7s-*, *_u7s. A program of ours named otherwise is a shim
 * standing in for the system command of that name (u7s's systemctl, rootlessctl): a reference to
 * that name means the system command's page.
 */
export const OWN_PROGRAM_NAME = /^podsec(-|$)|^u7s-|_u7s$/;

export function seeAlsoFromSource(file: string, source: string): SeeAlsoReference[] {
  const sourceFile = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const references: SeeAlsoReference[] = [];
  const at = (node: ts.Node) => `${file}:${sourceFile.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
  const visit = (node: ts.Node) => {
    if (ts.isPropertyAssignment(node) && (ts.isIdentifier(node.name) || ts.isStringLiteral(node.name)) && node.name.text === 'seeAlso') {
      const elements = ts.isArrayLiteralExpression(node.initializer) ? [...node.initializer.elements] : [node.initializer];
      for (const element of elements) {
        const text = ts.isStringLiteral(element) || ts.isNoSubstitutionTemplateLiteral(element) ? element.text : undefined;
        const match = text === undefined ? null : REFERENCE.exec(text);
        references.push({
          at: at(element),
          text: text ?? element.getText(),
          ...(match ? { name: match[1]!, section: Number(match[2]) } : {}),
        });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return references;
}

/** Every SEE ALSO reference in bin/**\/*.ts, in file order. */
export async function seeAlsoReferences(): Promise<SeeAlsoReference[]> {
  const files = (await globby(['bin/**/*.ts'], { cwd: REPO_ROOT })).sort();
  const all = await Promise.all(files.map(async (file) => seeAlsoFromSource(file, await readFile(join(REPO_ROOT, file), 'utf8'))));
  return all.flat();
}

/** The `man:` pages of units' Documentation= lines (`Documentation=man:podsec-u7s-kubeadm(1)`). */
export function documentationFromUnit(file: string, text: string): SeeAlsoReference[] {
  return text.split('\n').flatMap((line, i) => {
    const value = /^\s*Documentation\s*=(.*)$/.exec(line)?.[1];
    if (value === undefined) return [];
    return value
      .trim()
      .split(/\s+/)
      .filter((uri) => uri.startsWith('man:'))
      .map((uri) => {
        const text = uri.slice('man:'.length);
        const match = REFERENCE.exec(text);
        return { at: `${file}:${i + 1}`, text, ...(match ? { name: match[1]!, section: Number(match[2]) } : {}) };
      });
  });
}

/** Every man page the unit templates (units/**) name in Documentation=. */
export async function unitDocumentationReferences(): Promise<SeeAlsoReference[]> {
  const files = (await globby(['units/**/*'], { cwd: REPO_ROOT })).sort();
  const all = await Promise.all(files.map(async (file) => documentationFromUnit(file, await readFile(join(REPO_ROOT, file), 'utf8'))));
  return all.flat();
}

/**
 * One line per reference that is no literal `name(section)`, or that names one of our programs
 * (a documented one, or any own-named one) other than as a page the model ships.
 */
export function danglingReferences(model: ProjectModel, references: SeeAlsoReference[]): string[] {
  const shipped = new Map(documentedPrograms(model).map((p) => [p.name, p.section]));
  const problems: string[] = [];
  for (const ref of references) {
    if (ref.name === undefined || ref.section === undefined) {
      problems.push(`${ref.at}: ${ref.text}: not a literal 'name(section)'`);
      continue;
    }
    const section = shipped.get(ref.name);
    if (section === undefined) {
      if (OWN_PROGRAM_NAME.test(ref.name)) problems.push(`${ref.at}: ${ref.text}: no package ships a page ${ref.name}`);
    } else if (section !== ref.section) {
      problems.push(`${ref.at}: ${ref.text}: the page of ${ref.name} is ${ref.name}(${section})`);
    }
  }
  return problems;
}

/** Programs of the model named as ours (OWN_PROGRAM_NAME) that get no man pages: a reference to one would dangle. */
export function undocumentedOwnPrograms(model: ProjectModel): string[] {
  const documented = new Set(documentedPrograms(model).map((p) => p.path));
  return model.packages
    .flatMap((p) => p.entries)
    .filter((e) => e.content && 'program' in e.content && !documented.has(e.path) && OWN_PROGRAM_NAME.test(posix.basename(e.path)))
    .map((e) => e.path);
}
