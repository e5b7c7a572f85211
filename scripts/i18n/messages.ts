/**
 * Which messages belong to which text domain: a program's domain is the one its own file passes
 * to translator(); its messages are those of every runtime file it bundles that uses that domain
 * or none of its own (shared code such as the command frame, which uses its caller's function).
 */
import { build } from 'esbuild';
import { join, relative } from 'node:path';
import { programsOf } from '../model/program-modules.ts';
import type { ProjectModel } from '../model/types.ts';
import { REPO_ROOT } from '../paths.ts';
import { extractAll, type FileMessages } from './extract.ts';

function programNames(model: ProjectModel): string[] {
  return [...new Set(model.packages.flatMap((pkg) => programsOf(pkg).map(({ program }) => program)))].sort();
}

/** The repository files esbuild pulls into a program's bundle. */
async function programInputs(program: string): Promise<string[]> {
  const result = await build({
    entryPoints: [join(REPO_ROOT, 'bin', `${program}.ts`)],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    write: false,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: REPO_ROOT,
  });
  return Object.keys(result.metafile.inputs)
    .filter((f) => f.startsWith('bin/'))
    .map((f) => relative(REPO_ROOT, join(REPO_ROOT, f)));
}

interface DomainMessages {
  /** domain -> msgid -> references */
  domains: Map<string, Map<string, string[]>>;
  /** program -> domain */
  programDomains: Map<string, string | undefined>;
}

export async function messagesByDomain(model: ProjectModel): Promise<DomainMessages> {
  const files = new Map<string, FileMessages>((await extractAll()).map((f) => [f.file, f]));
  const domains = new Map<string, Map<string, string[]>>();
  const programDomains = new Map<string, string | undefined>();
  for (const program of programNames(model)) {
    const domain = files.get(`bin/${program}.ts`)?.domain;
    programDomains.set(program, domain);
    if (!domain) continue;
    const messages = domains.get(domain) ?? new Map<string, string[]>();
    for (const input of await programInputs(program)) {
      const f = files.get(input);
      if (!f || (f.domain && f.domain !== domain)) continue;
      for (const [msgid, refs] of f.messages) messages.set(msgid, [...new Set([...(messages.get(msgid) ?? []), ...refs])]);
    }
    domains.set(domain, messages);
  }
  // Files with a domain of their own (e.g. bin/lib/safe-fs.ts uses 'podsec') carry their messages
  // into that domain even when only other domains' programs bundle them.
  for (const f of files.values()) {
    if (!f.domain) continue;
    const messages = domains.get(f.domain) ?? new Map<string, string[]>();
    for (const [msgid, refs] of f.messages) messages.set(msgid, [...new Set([...(messages.get(msgid) ?? []), ...refs])]);
    domains.set(f.domain, messages);
  }
  return { domains, programDomains };
}
