/**
 * The exit-code table of every documented program, from its own definition (PODSEC_DESCRIBE=1):
 * a command line the frame refuses (--root on no directory: wrappers pass unknown options on) exits with the code the table gives invalid arguments, --help
 * lists the table, and a command whose own table gives the frame's usage code another meaning
 * (create-policy's 2: "not four dot-separated fields") must name its usage code explicitly.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { exitCodeTable, usageExitCode, type CommandDescription } from '../../bin/lib/command.ts';
import { describeProgram } from '../../scripts/docs/describe.ts';
import { resolvePath } from '../../scripts/model/branches.ts';
import { documentedPrograms } from '../../scripts/model/docs.ts';
import model from '../../scripts/model/index.ts';
import { ensureBuild, unpackRpms } from '../support/build.ts';
import { run } from '../support/exec.ts';

const test = base;
const programs = documentedPrograms(model).map((p) => ({ name: p.name, bundle: resolvePath(p.path, 'p11') }));
/** The built packages unpacked: the programs as %build made them, at their installed paths. */
let tree: string;
const descriptions = new Map<string, CommandDescription>();

base.before(async () => {
  const built = await ensureBuild('p11');
  tree = await unpackRpms(built.rpms);
  for (const p of programs) descriptions.set(p.name, await describeProgram(join(tree, p.bundle)));
});

base.after(async () => {
  if (tree) await rm(tree, { recursive: true, force: true });
});

const runBundle = (bundle: string, args: string[]) =>
  run(process.execPath, ['-e', 'require(process.argv[1])', join(tree, bundle), ...args], { env: { ...process.env, LC_ALL: 'C' } });

for (const p of programs) {
  test(`${p.name}: a refused command line (--root on no directory) exits with the table's usage code; --help lists the table`, async () => {
    const { spec } = descriptions.get(p.name)!;
    const own = spec.exitCodes ?? {};
    assert.ok(spec.usageExitCode !== undefined || !(2 in own), `its own table gives 2 a meaning (${own[2]}): set usageExitCode`);
    const refused = await runBundle(p.bundle, ['--root', '/nonexistent/podsec-test']);
    assert.is(refused.exitCode, usageExitCode(spec), refused.stderr);
    assert.is(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    const help = await runBundle(p.bundle, ['--help']);
    const section = help.stdout.slice(help.stdout.indexOf('Exit status:'));
    for (const [code] of exitCodeTable(spec)) assert.match(section, new RegExp(`^ +${code}  \\S`, 'm'), `code ${code} in --help`);
  });
}

test.run();
