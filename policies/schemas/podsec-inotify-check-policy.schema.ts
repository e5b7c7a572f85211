/**
 * JSON Schema (draft-07) of `--json` of the policy plugins podsec-inotify-check-policy and
 * podsec-inotify-check-images (one shape, bin/inotify/report.ts). test/tools/json-output.test.ts
 * validates real output against it; change both together. Keys and values are English, never translated.
 */
import { closedObject, listOf, outputSchema } from './json-schema.ts';

export function pluginSchema(command: string, codes: string) {
  return outputSchema(
    command,
    `${command} --json output`,
    'The result of one check, printed instead of the Nagios status line; the exit code is the same as ' +
      'without --json and the journal entries are written as without it.',
    {
      ...closedObject(['status', 'exitCode', 'findings'], {
        status: { enum: ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'], description: 'the Nagios state' },
        exitCode: { enum: [0, 1, 2, 3], description: 'the exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN' },
        violations: {
          type: 'integer',
          minimum: 0,
          description: 'the sum of the weights of all findings, checked against the Nagios thresholds (absent for ' + 'UNKNOWN)',
        },
        reason: { type: 'string', description: 'UNKNOWN only: why the check could not run (not root, a bad threshold, ...)' },
        findings: listOf(
          'the findings, sorted by code; empty for UNKNOWN',
          closedObject(['code', 'weight', 'severity', 'users', 'message', 'details'], {
            code: { type: 'integer', minimum: 100, description: codes },
            weight: { type: 'number', minimum: 0, description: 'what the finding adds to violations' },
            severity: {
              oneOf: [{ enum: ['Crash', 'Fatal', 'Critical', 'High', 'Middle', 'Low', 'Debug'] }, { type: 'null' }],
              description:
                'the journal level its weight crosses (the word that starts its journal entry), null when it ' +
                'crosses no journal threshold and is not logged',
            },
            users: { type: 'array', minItems: 1, items: { type: 'string' }, description: 'the accounts concerned' },
            message: { type: 'string', minLength: 1, description: 'what is wrong, the text of the journal entry after the user names' },
            details: { type: 'array', items: { type: 'string' }, description: 'per user: "\\"USER\\": what was found", as in the journal entry' },
          }),
        ),
      }),
      allOf: [
        {
          if: { properties: { status: { const: 'UNKNOWN' } } },
          then: {
            required: ['reason'],
            properties: { reason: { type: 'string' }, exitCode: { type: 'integer', const: 3 }, findings: { type: 'array', maxItems: 0 } },
          },
          else: {
            required: ['violations'],
            properties: { violations: { type: 'integer' } },
            not: { required: ['reason'], properties: { reason: { type: 'string' } } },
          },
        },
      ],
    },
  );
}

export default pluginSchema(
  'podsec-inotify-check-policy',
  '100 unusable policy (weight 200), 101 images without podman membership, 102 default not reject, ' +
    '103 registry.local without signatures, 104 unsigned registries, 105 other transports, 106 ' +
    'another lookaside, 107 podman users in wheel, 108 no storage.conf, 109 config not immutable',
);
