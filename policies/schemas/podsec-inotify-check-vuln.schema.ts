/**
 * JSON Schema (draft-07) of `podsec-inotify-check-vuln --json`. test/tools/json-output.test.ts
 * validates real output against it; change both together. Keys are English and never translated.
 */
const schema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://altlinux.org/podsec/podsec-inotify-check-vuln.schema.json',
  title: 'podsec-inotify-check-vuln --json output',
  description: 'The trivy scans of the images of root and the users; the exit code and the journal entries are the same as without --json.',
  type: 'object',
  additionalProperties: false,
  required: ['status', 'exitCode', 'images', 'unreadable', 'unnamed'],
  properties: {
    status: {
      enum: ['OK', 'HIGH', 'CRITICAL', 'UNKNOWN'],
      description: 'the worst result: UNKNOWN when a scan failed, an image list could not be read or trivy is not ' + 'installed',
    },
    exitCode: { enum: [0, 3, 4, 5], description: 'the exit code: 0 OK, 3 UNKNOWN, 4 HIGH, 5 CRITICAL' },
    reason: { type: 'string', description: 'only when nothing could be scanned: "trivy is not installed"' },
    images: {
      type: 'array',
      description: 'every scanned image, by its first name, once per user',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['user', 'image', 'exitCode', 'high', 'critical'],
        properties: {
          user: { type: 'string', description: 'the owner of the container storage' },
          image: { type: 'string', description: 'the image name given to trivy' },
          exitCode: { enum: [0, 3, 4, 5], description: 'the result of this scan, on the scale of the exit code' },
          high: { type: 'integer', minimum: 0, description: 'HIGH vulnerabilities found' },
          critical: { type: 'integer', minimum: 0, description: 'CRITICAL vulnerabilities found' },
          error: { type: 'string', description: 'only for a failed scan (exitCode 3): why' },
        },
      },
    },
    unreadable: {
      type: 'array',
      description: 'users whose image lists cannot be read',
      items: { type: 'object', additionalProperties: false, required: ['user', 'error'], properties: { user: { type: 'string' }, error: { type: 'string' } } },
    },
    unnamed: {
      type: 'array',
      description: 'images without a name, not scanned',
      items: { type: 'object', additionalProperties: false, required: ['user', 'id'], properties: { user: { type: 'string' }, id: { type: 'string' } } },
    },
  },
};

export default schema;
