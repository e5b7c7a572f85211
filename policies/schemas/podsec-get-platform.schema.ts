/**
 * JSON Schema (draft-07) of `podsec-get-platform --json`. test/tools/json-output.test.ts validates
 * real output against it; change both together. Keys are English and never translated.
 */
const schema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://altlinux.org/podsec/podsec-get-platform.schema.json',
  title: 'podsec-get-platform --json output',
  description: 'The ALT platform name of the host (the image prefix in registries) and where it came from.',
  type: 'object',
  additionalProperties: false,
  required: ['platform', 'source'],
  properties: {
    platform: { type: 'string', pattern: '^[a-z][a-z0-9]*$', description: 'the platform name: c10f, p10, p11, sisyphus, ...' },
    source: {
      enum: ['U7S_PLATFORM', 'ALT_BRANCH_ID', 'CPE_NAME'],
      description: 'U7S_PLATFORM: taken from the environment variable; ALT_BRANCH_ID or CPE_NAME: the os-release field that decided',
    },
  },
};

export default schema;
