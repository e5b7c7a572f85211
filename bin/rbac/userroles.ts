/**
 * The report of podsec-k8s-rbac-get-userroles, built from the binding lists as data. Its shape is
 * upstream's (user → clusterRoles[], roles.namespaces[{ns: [...]}]) and is fixed by the JSON Schema
 * in policies/rbac/get-userroles.schema.ts. Differences from upstream: only User subjects of exactly
 * this name match (not groups or service accounts of that name), each binding appears once, the
 * lists are sorted, and Role rules are read from the binding's namespace.
 */
import type { KubeObject } from './kubectl.ts';
import { shellCommand } from './names.ts';
import { isUserSubject } from './objects.ts';

export const UNBIND_PROGRAM = 'podsec-k8s-rbac-unbindrole';

export interface RoleEntry {
  bindName: string;
  roleType: string;
  roleName: string;
  /** A command line that removes this binding of the user, quoted for a POSIX shell. */
  unbindCmd: string;
  /** The rules of the role (with showRules); null when the role does not exist. */
  rules?: unknown[] | null;
}

export interface UserRoles {
  clusterRoles: RoleEntry[];
  roles: { namespaces: Record<string, RoleEntry[]>[] };
}

export type UserRolesReport = Record<string, UserRoles>;

const str = (v: unknown) => (typeof v === 'string' ? v : '');
const byBindName = (a: RoleEntry, b: RoleEntry) => (a.bindName < b.bindName ? -1 : a.bindName > b.bindName ? 1 : 0);

function boundTo(binding: KubeObject, user: string): boolean {
  return Array.isArray(binding.subjects) && binding.subjects.some((s: unknown) => isUserSubject(s, user));
}

function entry(binding: KubeObject, user: string, namespace?: string): RoleEntry {
  const roleType = str(binding.roleRef?.kind);
  const roleName = str(binding.roleRef?.name);
  const bindName = str(binding.metadata?.name);
  const type = namespace === undefined ? 'clusterrole' : roleType === 'ClusterRole' ? 'role=clusterrole' : 'role';
  return {
    bindName,
    roleType,
    roleName,
    unbindCmd: shellCommand([UNBIND_PROGRAM, user, type, roleName, bindName, ...(namespace === undefined ? [] : [namespace])]),
  };
}

export type RulesLookup = (roleType: string, roleName: string, namespace?: string) => Promise<unknown[] | null>;

export async function userRoles(user: string, clusterBindings: KubeObject[], roleBindings: KubeObject[], rules?: RulesLookup): Promise<UserRolesReport> {
  const clusterRoles = clusterBindings.filter((b) => boundTo(b, user)).map((b) => entry(b, user));
  const perNamespace = new Map<string, RoleEntry[]>();
  for (const binding of roleBindings.filter((b) => boundTo(b, user))) {
    const namespace = str(binding.metadata?.namespace);
    perNamespace.set(namespace, [...(perNamespace.get(namespace) ?? []), entry(binding, user, namespace)]);
  }
  if (rules) {
    for (const e of clusterRoles) e.rules = await rules(e.roleType, e.roleName);
    for (const [namespace, entries] of perNamespace) for (const e of entries) e.rules = await rules(e.roleType, e.roleName, namespace);
  }
  const namespaces = [...perNamespace.keys()].sort().map((namespace) => ({ [namespace]: perNamespace.get(namespace)!.sort(byBindName) }));
  return { [user]: { clusterRoles: clusterRoles.sort(byBindName), roles: { namespaces } } };
}
