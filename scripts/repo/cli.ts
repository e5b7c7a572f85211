/**
 * Indexes a directory of RPMs as an apt-rpm repository (see index.ts):
 *   tsx scripts/repo/cli.ts --repo-only DIR --out TOPDIR [--component podsec] [--arch noarch]
 *                           [--origin O] [--label L] [--sign KEYID]
 * --sign uses the keyring in $GNUPGHOME. Exit 0 when indexed, 1 when a package is unreadable
 * (one `repo: FILE: reason` line each on stderr, nothing published), 2 on a usage error.
 */
import { runScript, UsageError } from '../script-cli.ts';
import { indexRepository, RepoIndexError } from './index.ts';

const USAGE = 'usage: tsx scripts/repo/cli.ts --repo-only DIR --out TOPDIR [--component podsec] [--arch noarch] [--origin O] [--label L] [--sign KEYID]';

runScript(
  {
    name: 'repo',
    usage: USAGE,
    options: {
      'repo-only': { type: 'string' },
      out: { type: 'string' },
      component: { type: 'string', default: 'podsec' },
      arch: { type: 'string', default: 'noarch' },
      origin: { type: 'string' },
      label: { type: 'string' },
      sign: { type: 'string' },
    },
  },
  async ({ values }) => {
    if (!values['repo-only'] || !values.out) throw new UsageError('--repo-only DIR and --out TOPDIR are required');
    try {
      const result = await indexRepository({
        topDir: values.out,
        rpmDir: values['repo-only'],
        arch: values.arch,
        component: values.component,
        origin: values.origin,
        label: values.label,
        signKey: values.sign,
      });
      if (result.packages === 0) process.stderr.write(`repo: warning: no .rpm files in ${values['repo-only']}; the index is empty\n`);
      process.stdout.write(`indexed ${result.packages} package(s) into ${result.archDir}${result.signed ? ' (release signed)' : ''}\n`);
      return 0;
    } catch (error) {
      const lines = error instanceof RepoIndexError ? error.problems : [(error as Error).message];
      for (const line of lines) process.stderr.write(`repo: ${line}\n`);
      return 1;
    }
  },
);
