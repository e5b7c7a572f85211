/**
 * bindrole and unbindrole: argument checking shared by both, and the two operations. A binding
 * is changed only when its roleRef is exactly the role asked for; updates are replaces guarded by
 * resourceVersion and retried on a conflict, so concurrent edits are never lost.
 */
import { CommandError } from '../lib/command.ts';
import { findAccount } from '../lib/accounts.ts';
import { t, usageError } from './common.ts';
import { type Kubectl, KubectlError, type KubeObject, RESOURCES } from './kubectl.ts';
import { checkNamespace, checkRbacName, checkUserName, isSystemName } from './names.ts';
import {
  type BindingKind,
  bindingObject,
  isRoleType,
  isUserSubject,
  ROLE_TYPES,
  type RoleKind,
  type RoleRef,
  roleRef,
  type RoleType,
  sameRoleRef,
  userSubject,
} from './objects.ts';

export interface BindingRequest {
  user: string;
  type: RoleType;
  role: string;
  binding: string;
  namespace?: string;
  bindingKind: BindingKind;
  roleKind: RoleKind;
  ref: RoleRef;
}

const MAX_ATTEMPTS = 5;

export function parseBindingArgs(
  name: string,
  positionals: string[],
  options: { allowSystem: boolean; root: string; checkLocalUser: boolean },
): BindingRequest {
  const synopsis = `${name} <user> role|clusterrole|role=clusterrole <role> <binding> [namespace]`;
  if (positionals.length < 4 || positionals.length > 5) throw usageError(synopsis);
  const [userArg, type, roleArg, bindingArg, namespaceArg] = positionals as [string, string, string, string, string | undefined];
  if (!isRoleType(type)) throw usageError(synopsis, t('Invalid cluster role type {type}', { type }));
  if (isSystemName(userArg) && !options.allowSystem) {
    throw new CommandError(t('User {user} is a Kubernetes system identity; it is refused unless --allow-system is given', { user: userArg }), 1);
  }
  const user = checkUserName(userArg, options.allowSystem);
  const role = checkRbacName('role', roleArg);
  const binding = checkRbacName('binding', bindingArg);
  const { bindingKind, roleKind } = ROLE_TYPES[type];
  if (bindingKind === 'ClusterRoleBinding' && namespaceArg !== undefined) throw new CommandError(t('namespace is not applicable to cluster role'), 1);
  if (bindingKind === 'RoleBinding' && namespaceArg === undefined) throw new CommandError(t('When binding a regular role, you must specify a namespace'), 1);
  const namespace = namespaceArg === undefined ? undefined : checkNamespace(namespaceArg);
  if (options.checkLocalUser && !isSystemName(user) && !findAccount(options.root, user)) {
    throw new CommandError(t('User {user} does not exist', { user }), 1);
  }
  return { user, type, role, binding, namespace, bindingKind, roleKind, ref: roleRef(roleKind, role) };
}

const bindingResource = (kind: BindingKind) => (kind === 'ClusterRoleBinding' ? RESOURCES.clusterRoleBinding : RESOURCES.roleBinding);
const roleResource = (kind: RoleKind) => (kind === 'ClusterRole' ? RESOURCES.clusterRole : RESOURCES.role);
/** kubectl's way of naming an object in its messages. */
export const shownBinding = (r: BindingRequest) =>
  `${r.bindingKind === 'ClusterRoleBinding' ? 'clusterrolebinding' : 'rolebinding'}.rbac.authorization.k8s.io/${r.binding}`;

function checkRoleRef(existing: KubeObject, r: BindingRequest): void {
  if (!sameRoleRef(existing.roleRef, r.ref)) {
    const found = existing.roleRef as Partial<RoleRef> | undefined;
    throw new CommandError(
      t('Binding {binding} refers to {foundKind} {foundName}, not to {kind} {name}', {
        binding: r.binding,
        foundKind: String(found?.kind ?? '?'),
        foundName: String(found?.name ?? '?'),
        kind: r.roleKind,
        name: r.role,
      }),
      1,
    );
  }
}

export type BindResult = 'created' | 'configured' | 'unchanged';

/** Adds the user to the binding (creating it), exactly for the requested role. Idempotent. */
export async function bind(kubectl: Kubectl, r: BindingRequest): Promise<BindResult> {
  const roleNamespace = r.roleKind === 'Role' ? r.namespace : undefined;
  if (!(await kubectl.get(roleResource(r.roleKind), r.role, roleNamespace))) {
    throw new CommandError(r.roleKind === 'Role' ? t("Role '{role}' absent", { role: r.role }) : t("Cluster role '{role}' absent", { role: r.role }), 1);
  }
  for (let attempt = 1; ; attempt++) {
    const existing = await kubectl.get(bindingResource(r.bindingKind), r.binding, r.namespace);
    try {
      if (!existing) {
        await kubectl.create(bindingObject(r.bindingKind, r.binding, r.ref, [userSubject(r.user)], r.namespace));
        return 'created';
      }
      checkRoleRef(existing, r);
      const subjects: unknown[] = Array.isArray(existing.subjects) ? existing.subjects : [];
      if (subjects.some((s) => isUserSubject(s, r.user))) return 'unchanged';
      await kubectl.replace({ ...existing, subjects: [...subjects, userSubject(r.user)] });
      return 'configured';
    } catch (error) {
      const retry = error instanceof KubectlError && (error.reason === 'Conflict' || error.reason === 'AlreadyExists');
      if (!retry || attempt >= MAX_ATTEMPTS) throw error;
    }
  }
}

export type UnbindResult = 'deleted' | 'configured' | 'not-bound' | 'absent';

/** Removes exactly the User subject from the binding; deletes the binding when no subject is left. Idempotent. */
export async function unbind(kubectl: Kubectl, r: BindingRequest): Promise<UnbindResult> {
  for (let attempt = 1; ; attempt++) {
    const existing = await kubectl.get(bindingResource(r.bindingKind), r.binding, r.namespace);
    if (!existing) return 'absent';
    checkRoleRef(existing, r);
    const subjects: unknown[] = Array.isArray(existing.subjects) ? existing.subjects : [];
    const remaining = subjects.filter((s) => !isUserSubject(s, r.user));
    if (remaining.length === subjects.length) return 'not-bound';
    try {
      if (remaining.length === 0) {
        await kubectl.delete(bindingResource(r.bindingKind), r.binding, r.namespace);
        return 'deleted';
      }
      await kubectl.replace({ ...existing, subjects: remaining });
      return 'configured';
    } catch (error) {
      if (!(error instanceof KubectlError && error.reason === 'Conflict') || attempt >= MAX_ATTEMPTS) throw error;
    }
  }
}
