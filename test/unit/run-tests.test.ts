import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseUvuSummary } from '../../scripts/run-tests.ts';

test("uvu's Total leaves skipped tests out: failed = total - passed", () => {
  assert.equal(parseUvuSummary('  Total:     3\n  Passed:    2\n  Skipped:   1\n  Duration:  1ms\n'), { passed: 2, skipped: 1, failed: 1 });
  assert.equal(parseUvuSummary('  Total:     2\n  Passed:    2\n  Skipped:   1\n'), { passed: 2, skipped: 1, failed: 0 });
});

test('colours are ignored and a missing summary is undefined', () => {
  assert.equal(parseUvuSummary('\x1b[1m  Total:     1\x1b[0m\n  Passed:    1\n'), { passed: 1, skipped: 0, failed: 0 });
  assert.is(parseUvuSummary('crashed'), undefined);
});

test.run();
