/**
 * JSON Schema (draft-07) of `u7s-start-stop status --json` (/usr/libexec/podsec/u7s/bin): the state
 * of the rootless node. test/e2e/u7s-node.test.ts validates the output of a booted node against it
 * (running, stopped); bin/u7s/lib/node-status.ts produces it. Keys are English and never translated.
 */
import { closedObject, outputSchema } from './json-schema.ts';

const unit = closedObject(['unit', 'activeState', 'subState', 'result', 'mainPid', 'activeSince', 'restarts'], {
  unit: { enum: ['rootlesskit.service', 'kubelet.service'] },
  activeState: {
    enum: ['active', 'reloading', 'inactive', 'failed', 'activating', 'deactivating', 'maintenance', 'refreshing'],
    description: "systemd's ActiveState",
  },
  subState: { type: 'string', minLength: 1, description: "systemd's SubState (running, dead, auto-restart, ...)" },
  result: { type: 'string', minLength: 1, description: 'success, or why the unit last failed (exit-code, signal, timeout, start-limit-hit, ...)' },
  mainPid: { type: ['integer', 'null'], minimum: 1, description: 'main process of the unit (host PID), null when it has none' },
  activeSince: {
    type: ['string', 'null'],
    pattern: '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$',
    description: 'when the unit last became active, ISO 8601 UTC; null when it never did',
  },
  restarts: { type: 'integer', minimum: 0, description: 'how often systemd restarted the unit (Restart=)' },
});

const schema = outputSchema(
  'u7s-start-stop-status',
  'u7s-start-stop status --json output',
  'The state of the rootless Kubernetes node: lingering and the user manager of the node account, ' + "the system unit u7s.service, and the node's user units.",
  closedObject(['user', 'uid', 'linger', 'userManager', 'service', 'units', 'running'], {
    user: { type: 'string', minLength: 1, description: 'the node account (u7s-admin)' },
    uid: { type: 'integer', minimum: 1 },
    linger: { type: 'boolean', description: 'lingering is enabled (the user manager runs without a login and after boot)' },
    userManager: { type: 'string', minLength: 1, description: 'ActiveState of user@UID.service' },
    service: closedObject(['unit', 'activeState', 'enabled'], {
      unit: { const: 'u7s.service' },
      activeState: { type: 'string', minLength: 1 },
      enabled: { type: 'string', minLength: 1, description: 'UnitFileState: enabled, disabled, ...' },
    }),
    units: { type: 'array', minItems: 2, maxItems: 2, items: unit },
    running: { type: 'boolean', description: 'every user unit is active; the exit status is 0 when true, 3 when false' },
  }),
);

export default schema;
