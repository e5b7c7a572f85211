/**
 * The ALT conventions lint (scripts/lint/rules.ts) on the command line:
 *
 *   npx tsx scripts/lint/cli.ts SPEC [--tree DIR] [--known-dir D]... [--root-macro M]...
 *
 * Prints `FILE:LINE: RULE: message` per finding on stderr; exits 1 if there is any finding.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runScript, UsageError } from '../script-cli.ts';
import { lintSpec, lintTree, type LintOptions } from './rules.ts';

/** Base-system directory macros the CLI assumes when no --root-macro is given. */
const DEFAULT_ROOT_MACROS = [
  '%_bindir',
  '%_sbindir',
  '%_sysconfdir',
  '%_datadir',
  '%_docdir',
  '%_libexecdir',
  '%_localstatedir',
  '%_unitdir',
  '%_userunitdir',
  '%_modules_loaddir',
  '%_tmpfilesdir',
  '%_sysctldir',
  '%_mandir',
  '%_man1dir',
  '%_man5dir',
  '%_man8dir',
];

const USAGE = 'usage: scripts/lint/cli.ts SPEC [--tree DIR] [--known-dir D]... [--root-macro M]...';

runScript(
  {
    name: 'lint',
    usage: USAGE,
    options: {
      tree: { type: 'string' },
      'known-dir': { type: 'string', multiple: true, default: [] },
      'root-macro': { type: 'string', multiple: true },
    },
    positionals: true,
  },
  async ({ values, positionals }) => {
    const [specPath] = positionals;
    if (positionals.length !== 1 || !specPath) throw new UsageError('one SPEC is needed');
    const options: LintOptions = { knownDirs: values['known-dir'], rootMacros: values['root-macro'] ?? DEFAULT_ROOT_MACROS };
    const reports = lintSpec(await readFile(specPath, 'utf8'), options).map((finding) => ({ ...finding, file: specPath }));
    if (values.tree) reports.push(...(await lintTree(values.tree)).map((finding) => ({ ...finding, file: join(values.tree!, finding.file!) })));
    for (const finding of reports) console.error(`${finding.file}:${finding.line}: ${finding.rule}: ${finding.message}`);
    return reports.length > 0 ? 1 : 0;
  },
);
