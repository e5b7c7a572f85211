/**
 * What the six podsec-k8s-rbac programs share: the text domain, the --kubeconfig option, and the
 * mapping of client and validation failures to one-line CommandErrors.
 */
import { CommandError, type OptionSpec } from '../lib/command.ts';
import { translator } from '../lib/i18n.ts';
import { InvalidNameError } from './names.ts';
import { Kubectl, KubectlError, KubectlMissingError } from './kubectl.ts';

export const t = translator('podsec-k8s-rbac');

export const KUBECONFIG_OPTION: Record<string, OptionSpec> = {
  kubeconfig: { type: 'string', valueName: 'FILE', description: 'the kubeconfig kubectl uses (default: $KUBECONFIG, then ~/.kube/config)' },
};

export function kubectlFor(values: Record<string, unknown>): Kubectl {
  const kubeconfig = typeof values.kubeconfig === 'string' ? values.kubeconfig : undefined;
  return new Kubectl({ kubeconfig, timeoutMs: 60_000 });
}

/** Usage errors exit 1, as upstream's "Format:" messages did. */
export function usageError(synopsis: string, reason?: string): CommandError {
  return new CommandError(`${reason ? `${reason}; ` : ''}${t('Format: {synopsis}', { synopsis })}`, 1);
}

/** Runs `body`, turning the expected failures into one-line command errors. */
export async function withClientErrors<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw asCommandError(error);
  }
}

/** One message per kind of name, so that a translation can decline the kind (Russian: имя пользователя, группы, ...). */
function invalidName(kind: InvalidNameError['kind'], name: string): string {
  switch (kind) {
    case 'user':
      return t('Invalid user name {name}', { name });
    case 'group':
      return t('Invalid group name {name}', { name });
    case 'namespace':
      return t('Invalid namespace name {name}', { name });
    case 'role':
      return t('Invalid role name {name}', { name });
    case 'binding':
      return t('Invalid binding name {name}', { name });
  }
}

function asCommandError(error: unknown): unknown {
  if (error instanceof CommandError) return error;
  if (error instanceof InvalidNameError) return new CommandError(invalidName(error.kind, JSON.stringify(error.value)), 1);
  if (error instanceof KubectlMissingError) return new CommandError(t('kubectl is not installed (install the Kubernetes client package)'), 1);
  if (error instanceof KubectlError) return new CommandError(t('kubectl failed: {message}', { message: error.message }), 1);
  return error;
}
