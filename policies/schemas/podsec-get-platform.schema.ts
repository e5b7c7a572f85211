/**
 * JSON Schema (draft-07) of `podsec-get-platform --json`. test/tools/json-output.test.ts validates
 * real output against it; change both together. Keys are English and never translated.
 */
import { closedObject, outputSchema } from './json-schema.ts';

const schema = outputSchema(
  'podsec-get-platform',
  'podsec-get-platform --json output',
  'The ALT platform name of the host (the image prefix in registries) and where it came from.',
  closedObject(['platform', 'source'], {
    platform: { type: 'string', pattern: '^[a-z][a-z0-9]*$', description: 'the platform name: c10f, p10, p11, sisyphus, ...' },
    source: {
      enum: ['U7S_PLATFORM', 'ALT_BRANCH_ID', 'CPE_NAME'],
      description: 'U7S_PLATFORM: taken from the environment variable; ALT_BRANCH_ID or CPE_NAME: the os-release field that decided',
    },
  }),
);

export default schema;
