/**
 * podsec-k8s-rbac-unbindrole <user> role|clusterrole|role=clusterrole <role> <binding> [namespace]
 *
 * Removes exactly the user (a User subject of that name) from the binding, which must refer to
 * exactly the named role; the binding is deleted when no subject is left. Unbinding a user who is
 * not bound succeeds and says so (idempotent); a binding that refers to another role is an error.
 */
import { runCommand } from './lib/command.ts';
import { parseBindingArgs, shownBinding, unbind } from './rbac/binding.ts';
import { KUBECONFIG_OPTION, kubectlFor, t, withClientErrors } from './rbac/common.ts';

const NAME = 'podsec-k8s-rbac-unbindrole';

runCommand(
  {
    name: NAME,
    summary: 'Remove a cluster user from a role binding (deleting the binding when it becomes empty).',
    usage: ['[--kubeconfig FILE] [--allow-system] [--root DIR] <user> role|clusterrole|role=clusterrole <role> <binding> [namespace]'],
    options: {
      ...KUBECONFIG_OPTION,
      'allow-system': { type: 'boolean', description: 'allow a Kubernetes system identity (a user name starting with system:)' },
    },
    positionals: true,
    description: [
      'Removes the User subject USER, and only it, from the binding BINDING (a ClusterRoleBinding for ' +
        'clusterrole; a RoleBinding in NAMESPACE for role and role=clusterrole). Groups and service ' +
        'accounts of the same name stay. The binding is deleted when no subject is left.',
      'The binding must refer to exactly ROLE: one that refers to another role is an error and is not ' +
        'changed. Removing a user who is not bound, or from a binding that does not exist, changes ' +
        'nothing: it says so on standard error, prints unchanged and succeeds, so the command can be ' +
        'repeated. The user does not need a local account any more.',
      'The result is printed as kubectl prints it: the binding followed by deleted, configured or ' +
        'unchanged. get-userroles prints a ready unbindrole command line for each binding of a user.',
    ],
    environment: {
      KUBECONFIG: 'the kubeconfig, when --kubeconfig is not given (read by kubectl)',
      PATH: 'where kubectl is looked for',
    },
    exitCodes: {
      1:
        'wrong arguments, an invalid name or type, a namespace given for clusterrole or missing for role, ' +
        'the binding refers to another role, or kubectl failed',
    },
    examples: {
      'podsec-k8s-rbac-unbindrole alice clusterrole view sysview': 'remove alice from the ClusterRoleBinding sysview',
      'podsec-k8s-rbac-unbindrole bob role=clusterrole edit adminofsmf smf': 'remove bob from the RoleBinding adminofsmf in the namespace smf',
    },
    seeAlso: ['podsec-k8s-rbac-bindrole(1)', 'podsec-k8s-rbac-get-userroles(1)', 'kubectl(1)'],
  },
  t,
  ({ values, positionals, root }) =>
    withClientErrors(async () => {
      // The user may already be gone from this machine: unbinding must still work.
      const request = parseBindingArgs(NAME, positionals, { allowSystem: values['allow-system'] === true, root, checkLocalUser: false });
      const result = await unbind(kubectlFor(values), request);
      if (result === 'absent') {
        process.stderr.write(t('Binding {binding} absent: user {user} is not bound by it', { binding: request.binding, user: request.user }) + '\n');
      } else if (result === 'not-bound') {
        process.stderr.write(t('User {user} missing from the role link {binding}', { user: request.user, binding: request.binding }) + '\n');
      }
      process.stdout.write(`${shownBinding(request)} ${result === 'deleted' ? 'deleted' : result === 'configured' ? 'configured' : 'unchanged'}\n`);
    }),
);
