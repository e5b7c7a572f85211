/**
 * JSON Schema (draft-07) of `podsec-inotify-check-vuln --json`. test/tools/json-output.test.ts
 * validates real output against it; change both together. Keys are English and never translated.
 */
import { closedObject, listOf, outputSchema } from './json-schema.ts';

const schema = outputSchema(
  'podsec-inotify-check-vuln',
  'podsec-inotify-check-vuln --json output',
  'The trivy scans of the images of root and the users; the exit code and the journal entries are the same as without --json.',
  closedObject(['status', 'exitCode', 'images', 'unreadable', 'unnamed'], {
    status: {
      enum: ['OK', 'HIGH', 'CRITICAL', 'UNKNOWN'],
      description: 'the worst result: UNKNOWN when a scan failed, an image list could not be read or trivy is not ' + 'installed',
    },
    exitCode: { enum: [0, 3, 4, 5], description: 'the exit code: 0 OK, 3 UNKNOWN, 4 HIGH, 5 CRITICAL' },
    reason: { type: 'string', description: 'only when nothing could be scanned: "trivy is not installed"' },
    images: listOf(
      'every scanned image, by its first name, once per user',
      closedObject(['user', 'image', 'exitCode', 'high', 'critical'], {
        user: { type: 'string', description: 'the owner of the container storage' },
        image: { type: 'string', description: 'the image name given to trivy' },
        exitCode: { enum: [0, 3, 4, 5], description: 'the result of this scan, on the scale of the exit code' },
        high: { type: 'integer', minimum: 0, description: 'HIGH vulnerabilities found' },
        critical: { type: 'integer', minimum: 0, description: 'CRITICAL vulnerabilities found' },
        error: { type: 'string', description: 'only for a failed scan (exitCode 3): why' },
      }),
    ),
    unreadable: listOf('users whose image lists cannot be read', closedObject(['user', 'error'], { user: { type: 'string' }, error: { type: 'string' } })),
    unnamed: listOf('images without a name, not scanned', closedObject(['user', 'id'], { user: { type: 'string' }, id: { type: 'string' } })),
  }),
);

export default schema;
