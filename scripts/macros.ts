/** The ALT macro emulation for one branch: generated path macros + specs/macros/alt.macros. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Branch, BRANCH_MACROS, MACRO_PACKAGE, SPEC_DEFINED_MACROS } from './model/branches.ts';
import { REPO_ROOT } from './paths.ts';

const ALT_MACROS = 'specs/macros/alt.macros';

/** The branch's path macros, grouped under the ALT package defining them, then specs/macros/alt.macros. */
export async function renderMacros(branch: Branch): Promise<string> {
  const paths = Object.entries(BRANCH_MACROS[branch]).filter(([name]) => !SPEC_DEFINED_MACROS.includes(name as never));
  const groups = ['rpm-build', 'rpm-macros-systemd'].map((pkg) => {
    const lines = paths.filter(([name]) => MACRO_PACKAGE[name as keyof typeof MACRO_PACKAGE] === pkg).map(([name, value]) => `%${name} ${value}`);
    return `# ${pkg}\n${lines.join('\n')}`;
  });
  const body = await readFile(join(REPO_ROOT, ALT_MACROS), 'utf8');
  return `# ALT ${branch} path macros (scripts/model/branches.ts), by the ALT package defining them\n${groups.join('\n')}\n\n${body}`;
}
