/**
 * JSON Schema (draft-07) of the output of podsec-k8s-rbac-get-userroles, installed as
 * %_docdir/podsec-k8s-rbac/get-userroles.schema.json. test/unit/rbac-lib.test.ts and the
 * cluster suite validate real output against it; change both together.
 */
const roleEntry = {
  type: 'object',
  additionalProperties: false,
  required: ['bindName', 'roleType', 'roleName', 'unbindCmd'],
  properties: {
    bindName: { type: 'string', minLength: 1, description: 'name of the RoleBinding or ClusterRoleBinding' },
    roleType: { enum: ['Role', 'ClusterRole'], description: 'kind of the role the binding refers to (roleRef.kind)' },
    roleName: { type: 'string', minLength: 1, description: 'name of that role (roleRef.name)' },
    unbindCmd: { type: 'string', pattern: '^podsec-k8s-rbac-unbindrole ', description: 'a POSIX shell command line that removes this binding of the user' },
    rules: {
      description: 'only with showRules: the PolicyRules of the role, null when the role does not exist',
      oneOf: [{ type: 'null' }, { type: 'array', items: { type: 'object' } }],
    },
  },
};

const schema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://altlinux.org/podsec/get-userroles.schema.json',
  title: 'podsec-k8s-rbac-get-userroles output',
  description: 'The roles bound to one cluster user (User subjects of exactly that name), sorted by namespace and binding name.',
  type: 'object',
  minProperties: 1,
  maxProperties: 1,
  additionalProperties: {
    type: 'object',
    additionalProperties: false,
    required: ['clusterRoles', 'roles'],
    properties: {
      clusterRoles: { type: 'array', description: 'ClusterRoleBindings of the user', items: { $ref: '#/definitions/roleEntry' } },
      roles: {
        type: 'object',
        additionalProperties: false,
        required: ['namespaces'],
        properties: {
          namespaces: {
            type: 'array',
            description: 'one single-key object per namespace with RoleBindings of the user: {"<namespace>": [entries]}',
            items: {
              type: 'object',
              minProperties: 1,
              maxProperties: 1,
              additionalProperties: { type: 'array', minItems: 1, items: { $ref: '#/definitions/roleEntry' } },
            },
          },
        },
      },
    },
  },
  definitions: { roleEntry },
};

export default schema;
