/** A bundled program's own definition of itself (PODSEC_DESCRIBE=1), for man pages, completion and help checks. */
import { execFile } from 'node:child_process';
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
