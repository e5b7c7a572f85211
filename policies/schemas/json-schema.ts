/**
 * The frame every JSON Schema of a command's output shares (the files in this folder and
 * policies/rbac/get-userroles.schema.ts): draft-07, an $id under altlinux.org/podsec, and objects
 * that allow no other keys than the ones they list. Key order is kept: the installed .json files
 * are JSON.stringify of these objects.
 */

/** The document of `id`.schema.json: its header, then the shape of the output. */
export const outputSchema = <S extends object>(id: string, title: string, description: string, shape: S) => ({
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: `https://altlinux.org/podsec/${id}.schema.json`,
  title,
  description,
  ...shape,
});

/** A list whose entries all have the shape `items`. */
export const listOf = <I extends object>(description: string, items: I) => ({ type: 'array', description, items });

/** An object with these properties and no others; `required` names those that are always there. */
export const closedObject = <P extends object>(required: string[], properties: P) => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
});
