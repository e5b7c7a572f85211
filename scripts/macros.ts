/** The ALT macro emulation for one branch: generated path macros + specs/macros/alt.macros. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Branch, BRANCH_MACROS, SPEC_DEFINED_MACROS } from './model/branches.ts';
import { REPO_ROOT } from './paths.ts';

const ALT_MACROS = 'specs/macros/alt.macros';

export async function renderMacros(branch: Branch): Promise<string> {
  const paths = Object.entries(BRANCH_MACROS[branch])
    .filter(([name]) => !SPEC_DEFINED_MACROS.includes(name as never))
    .map(([name, value]) => `%${name} ${value}`);
  const body = await readFile(join(REPO_ROOT, ALT_MACROS), 'utf8');
  return `# ALT ${branch} path macros (scripts/model/branches.ts)\n${paths.join('\n')}\n\n${body}`;
}
