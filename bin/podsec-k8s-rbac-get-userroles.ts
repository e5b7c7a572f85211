/**
 * podsec-k8s-rbac-get-userroles <user> [showRules]
 *
 * Prints the roles bound to a cluster user as JSON (default) or YAML (--output yaml), in the shape
 * documented by policies/rbac/get-userroles.schema.ts.
 */
import YAML from 'yaml';
import { CommandError, runCommand } from './lib/command.ts';
import { KUBECONFIG_OPTION, kubectlFor, t, usageError, withClientErrors } from './rbac/common.ts';
import { RESOURCES, type KubeObject } from './rbac/kubectl.ts';
import { checkUserName } from './rbac/names.ts';
import { userRoles } from './rbac/userroles.ts';

const NAME = 'podsec-k8s-rbac-get-userroles';
const SYNOPSIS = `${NAME} <user> [showRules]`;

runCommand(
  {
    name: NAME,
    summary: 'Show the roles and cluster roles bound to a cluster user, as JSON or YAML.',
    usage: ['[--kubeconfig FILE] [--json|--output json|yaml] [--allow-system] <user> [showRules]'],
    options: {
      ...KUBECONFIG_OPTION,
      output: { type: 'string', short: 'o', valueName: 'FORMAT', description: 'json (default) or yaml' },
      json: { type: 'boolean', description: 'print JSON, the same as --output json' },
      'show-rules': { type: 'boolean', description: 'add the rules of each role (same as the showRules argument)' },
      'allow-system': { type: 'boolean', description: 'allow a Kubernetes system identity (a user name starting with system:)' },
    },
    positionals: true,
    description: [
      'Lists the ClusterRoleBindings and, namespace by namespace, the RoleBindings that have USER as a ' +
        'User subject (exactly that name: groups and service accounts of the same name do not count) and ' +
        'prints them as one JSON object (--json, --output json, the default), or YAML with --output yaml.',
      'The shape is stable and described by a JSON Schema installed as ' +
        '/usr/share/doc/podsec-k8s-rbac/get-userroles.schema.json: {"USER": {"clusterRoles": [ENTRY...], ' +
        '"roles": {"namespaces": [{"NAMESPACE": [ENTRY...]}...]}}}. Each ENTRY has bindName, roleType ' +
        '(Role or ClusterRole), roleName and unbindCmd, a shell command line that removes this binding of ' +
        'the user; with showRules (or --show-rules) also rules, the rules of the role, or null when the ' +
        'role does not exist. Lists are sorted, empty lists are kept, namespaces without bindings of the ' +
        'user are left out.',
    ],
    environment: {
      KUBECONFIG: 'the kubeconfig, when --kubeconfig is not given (read by kubectl)',
      PATH: 'where kubectl is looked for',
    },
    files: { '/usr/share/doc/podsec-k8s-rbac/get-userroles.schema.json': 'the JSON Schema of the output' },
    exitCodes: { 1: 'wrong arguments, an invalid user name or output format, or kubectl failed' },
    examples: {
      'podsec-k8s-rbac-get-userroles alice': 'the bindings of alice as JSON',
      'podsec-k8s-rbac-get-userroles alice showRules': 'the same with the rules of each role',
      'podsec-k8s-rbac-get-userroles -o yaml alice': 'the bindings of alice as YAML',
    },
    seeAlso: ['podsec-k8s-rbac-bindrole(1)', 'podsec-k8s-rbac-unbindrole(1)', 'kubectl(1)'],
  },
  t,
  ({ values, positionals }) =>
    withClientErrors(async () => {
      if (positionals.length < 1 || positionals.length > 2) throw usageError(SYNOPSIS);
      if (positionals[1] !== undefined && positionals[1] !== 'showRules') throw usageError(SYNOPSIS, t('Invalid second parameter.'));
      const format = typeof values.output === 'string' ? values.output : 'json';
      if (values.json === true && format !== 'json') throw new CommandError(t('--json and --output {format} exclude each other', { format }), 1);
      if (format !== 'json' && format !== 'yaml') throw new CommandError(t('Invalid output format {format}: json or yaml', { format }), 1);
      const user = checkUserName(positionals[0]!, values['allow-system'] === true);
      const showRules = positionals[1] === 'showRules' || values['show-rules'] === true;

      const kubectl = kubectlFor(values);
      const clusterBindings = await kubectl.list(RESOURCES.clusterRoleBinding);
      const roleBindings = await kubectl.list(RESOURCES.roleBinding, '*');
      const cache = new Map<string, Promise<KubeObject | undefined>>();
      const report = await userRoles(
        user,
        clusterBindings,
        roleBindings,
        showRules
          ? async (roleType, roleName, namespace) => {
              const resource = roleType === 'Role' ? RESOURCES.role : RESOURCES.clusterRole;
              const scope = roleType === 'Role' ? namespace : undefined;
              const key = JSON.stringify([resource, roleName, scope ?? null]);
              if (!cache.has(key)) cache.set(key, kubectl.get(resource, roleName, scope));
              const role = await cache.get(key)!;
              return role ? (Array.isArray(role.rules) ? role.rules : []) : null;
            }
          : undefined,
      );
      process.stdout.write(format === 'yaml' ? YAML.stringify(report, { indent: 2, lineWidth: 0 }) : JSON.stringify(report, null, 2) + '\n');
    }),
);
