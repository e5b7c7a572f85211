/**
 * The Debian mirror this machine's apt uses, read from its own deb822 sources at run time (the
 * first URIs of a `deb` stanza for the main archive, not -security): packages of other suites
 * (trixie) come from the same place, whatever it is. No mirror is named in the repository.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function hostDebianMirror(sourcesDir = '/etc/apt/sources.list.d'): string {
  for (const name of readdirSync(sourcesDir)
    .filter((n) => n.endsWith('.sources'))
    .sort()) {
    for (const stanza of readFileSync(join(sourcesDir, name), 'utf8').split(/\n\s*\n/)) {
      const field = (key: string) => new RegExp(`^${key}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
      if (field('Types').includes('deb') && !field('Suites').some((suite) => suite.endsWith('-security'))) {
        const uri = field('URIs')[0];
        if (uri) return uri.replace(/\/+$/, '');
      }
    }
  }
  throw new Error(`no Debian archive in ${sourcesDir}/*.sources`);
}
