/**
 * JSON Schema (draft-07) of `podsec-inotify-check-kubeapi -m --json`, the digest of forbidden
 * Kubernetes API requests. test/tools/json-output.test.ts validates real output against it; change
 * both together. Keys are English and never translated.
 */
import { closedObject, listOf, outputSchema } from './json-schema.ts';

const nullableString = { oneOf: [{ type: 'string' }, { type: 'null' }] };

const schema = outputSchema(
  'podsec-inotify-check-kubeapi',
  'podsec-inotify-check-kubeapi -m --json output',
  'The requests refused with 403 or 401 since the previous digest, counted per user, verb, resource and namespace.',
  closedObject(['total', 'from', 'to', 'requests'], {
    total: { type: 'integer', minimum: 0, description: 'the number of forbidden requests in the digest' },
    from: { ...nullableString, description: 'the audit time of the first request (RFC 3339), null when there is none' },
    to: { ...nullableString, description: 'the audit time of the last request (RFC 3339), null when there is none' },
    requests: listOf(
      'one entry per user, verb, resource and namespace, the most frequent first; the counts add up to total',
      closedObject(['user', 'verb', 'resource', 'namespace', 'count'], {
        user: { type: 'string', description: 'the user name of the request' },
        verb: { type: 'string', description: 'the API verb (get, list, create, ...)' },
        resource: { type: 'string', description: 'the resource (pods, deployments, ...)' },
        namespace: { ...nullableString, description: 'the namespace, null for cluster-scoped requests' },
        count: { type: 'integer', minimum: 1, description: 'how many such requests were refused' },
      }),
    ),
  }),
);

export default schema;
