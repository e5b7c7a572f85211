/** A bundled program's own definition of itself (PODSEC_DESCRIBE=1), for man pages, completion and help checks. */
import { execFile } from 'node:child_process';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { type CommandDescription, DESCRIBE_ENV } from '../../bin/lib/command.ts';

const run = promisify(execFile);

export async function describeProgram(bundlePath: string): Promise<CommandDescription> {
  // require() keeps the bundle CommonJS even inside this repository, whose package.json says
  // "type": "module" (an extensionless file run directly would be taken as ESM here).
  const { stdout } = await run(process.execPath, ['-e', 'require(process.argv[1])', bundlePath], {
    env: { ...process.env, [DESCRIBE_ENV]: '1', LC_ALL: 'C' },
    timeout: 30_000,
  });
  return JSON.parse(stdout) as CommandDescription;
}

/** Imports each module in turn; each program, described, writes its one line. */
const DESCRIBE_ALL = `process.stdout.setMaxListeners(0);
for (const file of process.argv.slice(1)) await import(file);`;

/**
 * The descriptions of programs bundled by bundleForDescribing (scripts/bundle.ts), in the order
 * given: one Node process imports them all, each writing its description as one line.
 */
export async function describePrograms(moduleFiles: string[]): Promise<CommandDescription[]> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', DESCRIBE_ALL, ...moduleFiles.map((f) => pathToFileURL(f).href)], {
    env: { ...process.env, [DESCRIBE_ENV]: '1', LC_ALL: 'C' },
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const lines = stdout.split('\n').filter(Boolean);
  if (lines.length !== moduleFiles.length) throw new Error(`describing ${moduleFiles.length} programs gave ${lines.length} lines`);
  return lines.map((line, i) => {
    const description = JSON.parse(line) as CommandDescription;
    const expected = basename(moduleFiles[i]!, '.mjs');
    if (description.spec.name !== expected) throw new Error(`described ${description.spec.name} where ${expected} was expected`);
    return description;
  });
}
