/**
 * Every installed program, its output piped into a reader that has already gone (`| head` after
 * its lines): the program stops quietly with the SIGPIPE status, never with a stack trace. The
 * reader closes its end before the program starts (a FIFO orders the two), so the first write
 * meets the closed pipe on every run. The programs come from the model, never from a list here.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { test as base } from 'uvu';
import * as assert from 'uvu/assert';
import { EXIT_CLOSED_PIPE } from '../../bin/lib/command.ts';
import { resolvePath } from '../../scripts/model/branches.ts';
import { documentedPrograms } from '../../scripts/model/docs.ts';
import model from '../../scripts/model/index.ts';
import { ensureBuild, unpackRpms } from '../support/build.ts';
import { run } from '../support/exec.ts';
import { withTools } from '../support/tools.ts';

const test = withTools(base, ['bash', 'mkfifo']);

/**
 * Runs `node -e require(bundle) ARGS` with the stream `closed` (stdout or stderr) on a pipe whose
 * reader closed it before the program ran; the other stream is captured (stdout) or discarded.
 * Prints the program's exit status on stdout, its stderr (when stdout is the closed one) after it.
 */
const CLOSED_READER = `
fifo=$1; closed=$2; shift 2
if [ "$closed" = stdout ]; then
  { read -r _ < "$fifo"; exec "$@" 2>"$fifo.err"; } | { exec 0<&-; echo go > "$fifo"; }
else
  { read -r _ < "$fifo"; exec "$@" 2>&1 >/dev/null; } | { exec 0<&-; echo go > "$fifo"; }
fi
echo "\${PIPESTATUS[0]}"
[ -f "$fifo.err" ] && cat "$fifo.err"
exit 0
`;

/** The built packages unpacked: the programs as %build made them, at their installed paths. */
let installed: string;
let work: string;

base.before(async () => {
  const built = await ensureBuild('p11');
  installed = await unpackRpms(built.rpms);
  work = await mkdtemp(join(tmpdir(), 'podsec-pipe-'));
});
base.after(async () => {
  for (const dir of [work, installed]) if (dir) await rm(dir, { recursive: true, force: true });
});

async function runIntoClosedPipe(bundle: string, closed: 'stdout' | 'stderr', args: string[]) {
  const fifo = join(work, `fifo-${posix.basename(bundle)}-${closed}`);
  await run('mkfifo', [fifo]);
  const result = await run('bash', ['-c', CLOSED_READER, 'closed-reader', fifo, closed, process.execPath, '-e', 'require(process.argv[1])', bundle, ...args], {
    env: { ...process.env, LC_ALL: 'C' },
  });
  assert.is(result.exitCode, 0, result.stderr);
  const [status, ...stderr] = result.stdout.split('\n');
  return { status: Number(status), stderr: stderr.join('\n') };
}

const programs = documentedPrograms(model);

test('there are programs to pipe', () => {
  assert.ok(programs.length > 20, `${programs.length} programs`);
});

for (const p of programs) {
  test(`${p.name} --help | (a reader that has closed): quiet, exit ${EXIT_CLOSED_PIPE}`, async () => {
    const { status, stderr } = await runIntoClosedPipe(join(installed, resolvePath(p.path, 'p11')), 'stdout', ['--help']);
    assert.is(stderr.trim(), '', 'nothing on stderr, no stack trace');
    assert.is(status, EXIT_CLOSED_PIPE);
  });
}

test('an error message into a closed stderr ends with the same quiet status', async () => {
  const p = programs.find((program) => program.name === 'podsec-get-platform')!;
  const { status } = await runIntoClosedPipe(join(installed, resolvePath(p.path, 'p11')), 'stderr', ['--no-such-option']);
  assert.is(status, EXIT_CLOSED_PIPE);
});

test.run();
