/**
 * podsec-k8s-rbac-bindrole <user> role|clusterrole|role=clusterrole <role> <binding> [namespace]
 *
 * Binds a cluster user to a Role or ClusterRole through a RoleBinding or ClusterRoleBinding. An
 * existing binding that refers to another role is an error (upstream silently added the user to
 * whatever role it had); binding a user twice changes nothing.
 */
import { runCommand } from './lib/command.ts';
import { bind, parseBindingArgs, shownBinding } from './rbac/binding.ts';
import { KUBECONFIG_OPTION, kubectlFor, t, withClientErrors } from './rbac/common.ts';

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
    description: [
      'Adds USER as a User subject to the binding BINDING of the role ROLE, creating the binding when ' +
        'it does not exist. The type says what is bound: role binds a Role in NAMESPACE through a ' +
        'RoleBinding; clusterrole binds a ClusterRole in the whole cluster through a ClusterRoleBinding ' +
        '(no NAMESPACE); role=clusterrole binds a ClusterRole within NAMESPACE through a RoleBinding.',
      'The role must exist. An existing binding must refer to exactly that role: one that refers to ' +
        'another role is an error and is not changed (upstream silently added the user to whatever role ' +
        'it had). Binding a user who is already bound changes nothing and prints unchanged. Updates ' +
        'replace the binding guarded by its resourceVersion and are retried on a concurrent change. New ' +
        'bindings carry the label app.kubernetes.io/managed-by=podsec.',
      'USER must have a local account on this machine (see podsec-k8s-rbac-create-user), unless it is a ' +
        'Kubernetes system identity such as system:kube-proxy, which is accepted verbatim only with ' +
        '--allow-system. The result is printed as kubectl prints it: the binding followed by created, ' +
        'configured or unchanged.',
    ],
    environment: {
      KUBECONFIG: 'the kubeconfig, when --kubeconfig is not given (read by kubectl)',
      PATH: 'where kubectl is looked for',
    },
    files: { '/etc/passwd': 'the local accounts USER is looked up in (under --root DIR)' },
    exitCodes: {
      1:
        'wrong arguments, an invalid name or type, a namespace given for clusterrole or missing for role, ' +
        'no such local user, the role absent, the binding refers to another role, or kubectl failed',
    },
    examples: {
      'podsec-k8s-rbac-bindrole alice clusterrole view sysview': 'let alice read most objects in all namespaces (ClusterRoleBinding sysview)',
      'podsec-k8s-rbac-bindrole bob role=clusterrole edit adminofsmf smf': 'let bob edit objects in the namespace smf only',
      'podsec-k8s-rbac-bindrole carol role deployer deployers ci': 'bind carol to the Role deployer of the namespace ci through the RoleBinding deployers',
    },
    seeAlso: ['podsec-k8s-rbac-unbindrole(1)', 'podsec-k8s-rbac-get-userroles(1)', 'podsec-k8s-rbac-create-kubeconfig(1)', 'kubectl(1)'],
  },
  t,
  ({ values, positionals, root }) =>
    withClientErrors(async () => {
      const request = parseBindingArgs(NAME, positionals, { allowSystem: values['allow-system'] === true, root, checkLocalUser: true });
      const result = await bind(kubectlFor(values), request);
      process.stdout.write(`${shownBinding(request)} ${result}\n`);
    }),
);
