/**
 * podsec-k8s-rbac-bindrole <user> role|clusterrole|role=clusterrole <role> <binding> [namespace]
 *
 * Binds a cluster user to a Role or ClusterRole through a RoleBinding or ClusterRoleBinding. An
 * existing binding that refers to another role is an error (upstream silently added the user to
 * whatever role it had); binding a user twice changes nothing.
 */
import { runCommand } from './lib/command.ts';
import { bind, parseBindingArgs, shownBinding } from './lib/rbac-binding.ts';
import { KUBECONFIG_OPTION, kubectlFor, t, withClientErrors } from './lib/rbac-common.ts';

const NAME = 'podsec-k8s-rbac-bindrole';

runCommand(
  {
    name: NAME,
    summary: 'Bind a cluster user to a role or cluster role (creating the binding if needed).',
    usage: ['[--kubeconfig FILE] [--allow-system] [--root DIR] <user> role|clusterrole|role=clusterrole <role> <binding> [namespace]'],
    options: {
      ...KUBECONFIG_OPTION,
      'allow-system': { type: 'boolean', description: 'allow binding a Kubernetes system identity (a user name starting with system:)' },
    },
    positionals: true,
  },
  t,
  ({ values, positionals, root }) =>
    withClientErrors(async () => {
      const request = parseBindingArgs(NAME, positionals, { allowSystem: values['allow-system'] === true, root, checkLocalUser: true });
      const result = await bind(kubectlFor(values), request);
      process.stdout.write(`${shownBinding(request)} ${result}\n`);
    }),
);
