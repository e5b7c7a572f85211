/**
 * Reads os-release(5) as data. Upstream sourced the file into a shell; here a value like
 * `$(reboot)` stays a literal string. Format: KEY=VALUE lines, values optionally in single or
 * double quotes; inside double quotes, backslash escapes $ " \ and `.
 * Hand-written: dotenv and ini parsers expand, trim or unquote differently from os-release(5)'s shell subset.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { message as t, TranslatableError } from './i18n.ts';

export class OsReleaseSyntaxError extends TranslatableError {}

function unquote(raw: string, file: string, lineNumber: number): string {
  const quote = raw[0];
  if (quote !== '"' && quote !== "'") {
    if (/[\s"'`$\\;]/.test(raw)) throw new OsReleaseSyntaxError(t('{file}: line {line}: unquoted value with special characters', { file, line: lineNumber }));
    return raw;
  }
  if (raw.length < 2 || !raw.endsWith(quote)) throw new OsReleaseSyntaxError(t('{file}: line {line}: unterminated quote', { file, line: lineNumber }));
  const body = raw.slice(1, -1);
  return quote === "'" ? body : body.replace(/\\([$"\\`])/g, '$1');
}

export function parseOsRelease(text: string, file = 'os-release'): Record<string, string> {
  const fields: Record<string, string> = {};
  text.split('\n').forEach((line, index) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(trimmed);
    if (!match) throw new OsReleaseSyntaxError(t('{file}: line {line}: not a KEY=VALUE assignment', { file, line: index + 1 }));
    fields[match[1]!] = unquote(match[2]!, file, index + 1);
  });
  return fields;
}

/** /etc/os-release, falling back to /usr/lib/os-release as os-release(5) says; under `root`. */
export function readOsRelease(root: string): { path: string; fields: Record<string, string> } {
  const candidates = ['etc/os-release', 'usr/lib/os-release'].map((p) => join(root, p));
  for (const path of candidates) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    return { path, fields: parseOsRelease(text, path) };
  }
  throw Object.assign(new Error(`no os-release file: ${candidates.join(', ')}`), { code: 'ENOENT' });
}
