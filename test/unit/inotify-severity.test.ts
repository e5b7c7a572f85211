/** Nagios ranges and the severity order of podsec-inotify thresholds: a truth table. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { alerts, JOURNAL_LEVELS, legacyArgs, levelFor, monitorOptions, NAGIOS_LEVELS, parseRange } from '../../bin/inotify/severity.ts';
import { forbidden } from '../../bin/inotify/audit.ts';
import { classify, locate } from '../../bin/inotify/containers.ts';
import { countSeverities } from '../../bin/inotify/trivy.ts';

test('range truth table (nagios-plugins guidelines; alert outside, @ inverts)', () => {
  // Per range: the values that alert and the values that do not.
  const table: Record<string, { alert: number[]; quiet: number[] }> = {
    '100': { alert: [101, -1], quiet: [100, 0] },
    '100:': { alert: [99], quiet: [100, 1e9] },
    '~:100': { alert: [101], quiet: [-1e9] },
    '20:100': { alert: [19, 101], quiet: [20, 100] },
    '@20:100': { alert: [50], quiet: [19, 101] },
    '0': { alert: [1, 102], quiet: [0] },
    '10.5': { alert: [10.6], quiet: [10.5] },
  };
  for (const [range, { alert, quiet }] of Object.entries(table)) {
    for (const value of alert) assert.is(alerts(parseRange(range), value), true, `${range} ${value}`);
    for (const value of quiet) assert.is(alerts(parseRange(range), value), false, `${range} ${value}`);
  }
  for (const bad of ['20-100', '', 'abc', '10:5', '@', '1:2:3']) assert.throws(() => parseRange(bad), bad);
});

test('levels are tried in severity order: Critical over High over Warning', () => {
  const o = monitorOptions({ warning: '0', high: '0', critical: '100' });
  assert.is(levelFor(JOURNAL_LEVELS, o.journal, 101)?.word, 'Critical');
  assert.is(levelFor(JOURNAL_LEVELS, o.journal, 50)?.word, 'High');
  assert.is(levelFor(JOURNAL_LEVELS, o.journal, 0), undefined);
  assert.is(levelFor(NAGIOS_LEVELS, o.nagios, 101)?.word, 'CRITICAL');
  assert.is(levelFor(NAGIOS_LEVELS, o.nagios, 50)?.word, 'WARNING');
  const all = monitorOptions({ crash: '1000', fatal: '500', critical: '100', high: '50', middle: '20', low: '10', debug: '0' });
  const words = [2000, 600, 200, 60, 30, 15, 5, 0].map((v) => levelFor(JOURNAL_LEVELS, all.journal, v)?.word ?? '-');
  assert.equal(words, ['Crash', 'Fatal', 'Critical', 'High', 'Middle', 'Low', 'Debug', '-']);
  const defaults = monitorOptions({}, { journal: { c: '100' }, nagios: { c: '100' } });
  assert.is(levelFor(NAGIOS_LEVELS, defaults.nagios, 101)?.word, 'CRITICAL');
  assert.is(
    levelFor(NAGIOS_LEVELS, monitorOptions({ low: '0' }, { nagios: { c: '100' } }).nagios, 101),
    undefined,
    'defaults only without any threshold option',
  );
});

test('upstream letters: -vvv, -c, -h (High, not help), -M; everything else untouched', () => {
  assert.equal(legacyArgs(['-vvv', '-c', '100', '-h', '5', '-M', 'a@b', '--root', '/x']), [
    '--verbose',
    '--verbose',
    '--verbose',
    '--critical',
    '100',
    '--high',
    '5',
    '--mail',
    'a@b',
    '--root',
    '/x',
  ]);
  assert.equal(legacyArgs(['-h']), ['-h'], 'a lone -h is still --help');
  const o = monitorOptions({ verbose: [true, true, true, true], mail: 'root' });
  assert.is(o.verbose, 3);
  assert.is(o.mailTo, 'root');
  assert.throws(() => monitorOptions({ mail: '-oX' }));
});

test('audit events: only completed 401/403; user, verb, resource', () => {
  const e = (code: number, stage = 'ResponseComplete') =>
    JSON.stringify({
      kind: 'Event',
      stage,
      verb: 'list',
      user: { username: 'u' },
      objectRef: { resource: 'pods', apiGroup: '' },
      responseStatus: { code },
      requestReceivedTimestamp: 't',
      sourceIPs: ['1.2.3.4'],
    });
  assert.is(forbidden(e(403))?.user, 'u');
  assert.is(forbidden(e(403))?.resource, 'pods');
  assert.ok(forbidden(e(401)));
  assert.is(forbidden(e(404)), undefined);
  assert.is(forbidden(e(200)), undefined);
  assert.is(forbidden(e(403, 'RequestReceived')), undefined);
  assert.is(forbidden('not json'), undefined);
});

test('container paths: layer and inner path; classes', () => {
  const roots = ['/var/lib/containers/storage/overlay'];
  assert.equal(locate('/var/lib/containers/storage/overlay/abc/diff/usr/bin/x', roots), { overlay: roots[0], layer: 'abc', inner: '/usr/bin/x' });
  assert.equal(locate('/var/lib/containers/storage/overlay/abc', roots), { overlay: roots[0], layer: 'abc' });
  assert.is(locate('/var/lib/containers/storage/overlay/abc/work/x', roots), undefined);
  assert.equal(classify('/etc/passwd'), { word: 'Warning', where: 'in configuration directory' });
  assert.equal(classify('/root'), { word: 'Warning', where: 'in home directory' });
  assert.equal(classify('/home/x/f'), { word: 'Warning', where: 'in home directory' });
  assert.equal(classify('/etcetera'), { word: 'Critical' });
  assert.equal(classify('/usr/bin/x'), { word: 'Critical' });
});

test('trivy JSON: counted by severity; a report without Results is an error (never OK)', () => {
  assert.equal(
    countSeverities({ Results: [{ Vulnerabilities: [{ Severity: 'HIGH' }, { Severity: 'CRITICAL' }] }, { Vulnerabilities: [{ Severity: 'HIGH' }] }, {}] }),
    { high: 2, critical: 1 },
  );
  assert.equal(countSeverities({ Results: [] }), { high: 0, critical: 0 });
  assert.throws(() => countSeverities({}));
});

test.run();
