/**
 * Plan.carryOut, what the podsec-create-* commands do with their plans: the changes applied unless
 * it is a dry run, each warning on stderr as soon as it is known, the report on stdout.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Plan } from '../../bin/lib/plan.ts';

process.env.LANG = 'C';
process.env.LC_ALL = 'C';

/** What `run` writes on stdout and stderr, in order, with the steps it applies. */
async function captured(run: (events: string[]) => Promise<void>): Promise<string[]> {
  const events: string[] = [];
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = ((chunk: string) => events.push(`out ${chunk}`) > 0) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => events.push(`err ${chunk}`) > 0) as typeof process.stderr.write;
  try {
    await run(events);
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  return events;
}

function planWithWarnings(events: string[]): Plan {
  const plan = new Plan();
  plan.warn('planned');
  plan.change('first', () => {
    events.push('apply first');
    plan.warn('while applying');
  });
  return plan;
}

test('the warnings of planning come before the changes, those of applying after them, then the report', async () => {
  const events = await captured((events) => planWithWarnings(events).carryOut('cmd', false));
  assert.equal(events, ['err cmd: warning: planned\n', 'apply first', 'err cmd: warning: while applying\n', 'out Changes made:\n  - first\n']);
});

test('a dry run applies nothing and reports what would change', async () => {
  const events = await captured((events) => planWithWarnings(events).carryOut('cmd', true));
  assert.equal(events, ['err cmd: warning: planned\n', 'out Dry run: nothing is changed. These changes would be made:\n  - first\n']);
});

test('a failing change: the warnings of planning are out, no report', async () => {
  const plan = new Plan();
  plan.warn('planned');
  plan.change('broken', () => {
    throw new Error('no');
  });
  let thrown: unknown;
  const events = await captured(() => plan.carryOut('cmd', false).catch((error) => void (thrown = error)));
  assert.equal(events, ['err cmd: warning: planned\n']);
  assert.is((thrown as Error).message, 'no');
});

test.run();
