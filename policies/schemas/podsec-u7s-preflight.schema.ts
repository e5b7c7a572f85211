/**
 * JSON Schema (draft-07) of `podsec-u7s-preflight --json`: one result per check, in the order the
 * checks run (bin/u7s/lib/preflight.ts). Validated against real output in test/tools/json-output.test.ts
 * and on a booted node in test/e2e/u7s-node.test.ts. Ids, statuses and keys are English, never translated;
 * detail and fix follow the locale.
 */
import { closedObject, outputSchema } from './json-schema.ts';

const schema = outputSchema(
  'podsec-u7s-preflight',
  'podsec-u7s-preflight --json output',
  'The checks a host must pass before kubeadm init or join; the exit status is 1 when one has status fail.',
  {
    type: 'array',
    minItems: 1,
    items: {
      ...closedObject(['id', 'status', 'detail'], {
        id: {
          type: 'string',
          pattern: '^[a-z0-9][a-z0-9-]*$',
          description:
            'stable name of the check: kernel, cgroup-v2, user, linger, subuid, subgid, delegation, ' + 'dev-net-tun, tool-<name>, port-<port>-<proto>, ...',
        },
        status: { enum: ['ok', 'warn', 'fail'] },
        detail: { type: 'string', minLength: 1, description: 'what was found' },
        fix: { type: 'string', minLength: 1, description: 'what to do about it (warn and fail only)' },
      }),
      if: { properties: { status: { const: 'ok' } } },
      then: { properties: { fix: false } },
      else: { required: ['fix'] },
    },
  },
);

export default schema;
