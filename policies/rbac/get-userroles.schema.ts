/**
 * JSON Schema (draft-07) of the output of podsec-k8s-rbac-get-userroles, installed as
 * %_docdir/podsec-k8s-rbac/get-userroles.schema.json. test/unit/rbac-lib.test.ts and the
 * cluster suite validate real output against it; change both together.
 */
import { closedObject, listOf, outputSchema } from '../schemas/json-schema.ts';

const roleEntry = closedObject(['bindName', 'roleType', 'roleName', 'unbindCmd'], {
  bindName: { type: 'string', minLength: 1, description: 'name of the RoleBinding or ClusterRoleBinding' },
  roleType: { enum: ['Role', 'ClusterRole'], description: 'kind of the role the binding refers to (roleRef.kind)' },
  roleName: { type: 'string', minLength: 1, description: 'name of that role (roleRef.name)' },
  unbindCmd: { type: 'string', pattern: '^podsec-k8s-rbac-unbindrole ', description: 'a POSIX shell command line that removes this binding of the user' },
  rules: {
    description: 'only with showRules: the PolicyRules of the role, null when the role does not exist',
    oneOf: [{ type: 'null' }, { type: 'array', items: { type: 'object' } }],
  },
});

const schema = outputSchema(
  'get-userroles',
  'podsec-k8s-rbac-get-userroles output',
  'The roles bound to one cluster user (User subjects of exactly that name), sorted by namespace and binding name.',
  {
    type: 'object',
    minProperties: 1,
    maxProperties: 1,
    additionalProperties: closedObject(['clusterRoles', 'roles'], {
      clusterRoles: listOf('ClusterRoleBindings of the user', { $ref: '#/definitions/roleEntry' }),
      roles: closedObject(['namespaces'], {
        namespaces: listOf('one single-key object per namespace with RoleBindings of the user: {"<namespace>": [entries]}', {
          type: 'object',
          minProperties: 1,
          maxProperties: 1,
          additionalProperties: { type: 'array', minItems: 1, items: { $ref: '#/definitions/roleEntry' } },
        }),
      }),
    }),
    definitions: { roleEntry },
  },
);

export default schema;
