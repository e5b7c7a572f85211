/**
 * The Kubernetes objects podsec-k8s-rbac sends, as pure functions of validated names. The shapes
 * equal what `kubectl create (cluster)rolebinding … --dry-run=client -o json` produces, plus a
 * managed-by label (test/unit/rbac-lib.test.ts compares them and validates them against the
 * Kubernetes OpenAPI schema).
 */
import type { KubeObject } from './kubectl.ts';

const RBAC_API_GROUP = 'rbac.authorization.k8s.io';
const RBAC_API_VERSION = `${RBAC_API_GROUP}/v1`;
const CSR_API_VERSION = 'certificates.k8s.io/v1';
const CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client';
/** Five years, as upstream; kube-controller-manager caps it at --cluster-signing-duration. */
const CSR_EXPIRATION_SECONDS = 157_680_000;
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'podsec' };

/** The role types of the command line: which binding kind and which roleRef kind they mean. */
export const ROLE_TYPES = {
  role: { bindingKind: 'RoleBinding', roleKind: 'Role' },
  clusterrole: { bindingKind: 'ClusterRoleBinding', roleKind: 'ClusterRole' },
  'role=clusterrole': { bindingKind: 'RoleBinding', roleKind: 'ClusterRole' },
} as const;
export type RoleType = keyof typeof ROLE_TYPES;
export type BindingKind = 'RoleBinding' | 'ClusterRoleBinding';
export type RoleKind = 'Role' | 'ClusterRole';

export function isRoleType(value: string): value is RoleType {
  return Object.prototype.hasOwnProperty.call(ROLE_TYPES, value);
}

interface Subject {
  kind: 'User' | 'Group' | 'ServiceAccount';
  name: string;
  apiGroup?: string;
  namespace?: string;
}

export interface RoleRef {
  apiGroup: string;
  kind: RoleKind;
  name: string;
}

export const userSubject = (name: string): Subject => ({ kind: 'User', apiGroup: RBAC_API_GROUP, name });

/** A subject is this user: kind User with exactly this name (upstream also matched groups and service accounts). */
export function isUserSubject(subject: unknown, user: string): boolean {
  const s = subject as Partial<Subject> | null;
  return !!s && s.kind === 'User' && s.name === user && (s.apiGroup === undefined || s.apiGroup === '' || s.apiGroup === RBAC_API_GROUP);
}

export function roleRef(kind: RoleKind, name: string): RoleRef {
  return { apiGroup: RBAC_API_GROUP, kind, name };
}

export function sameRoleRef(a: unknown, b: RoleRef): boolean {
  const r = a as Partial<RoleRef> | null;
  return !!r && r.kind === b.kind && r.name === b.name && (r.apiGroup ?? RBAC_API_GROUP) === b.apiGroup;
}

export function bindingObject(kind: BindingKind, name: string, ref: RoleRef, subjects: Subject[], namespace?: string): KubeObject {
  return {
    kind,
    apiVersion: RBAC_API_VERSION,
    metadata: { name, ...(kind === 'RoleBinding' ? { namespace } : {}), labels: { ...MANAGED_BY } },
    subjects,
    roleRef: ref,
  };
}

export function csrObject(name: string, csrPem: string, expirationSeconds = CSR_EXPIRATION_SECONDS): KubeObject {
  return {
    apiVersion: CSR_API_VERSION,
    kind: 'CertificateSigningRequest',
    metadata: { name, labels: { ...MANAGED_BY } },
    spec: {
      request: Buffer.from(csrPem, 'utf8').toString('base64'),
      signerName: CLIENT_SIGNER,
      expirationSeconds,
      usages: ['client auth'],
    },
  };
}

/** The CSR's conditions of one type (Approved, Denied, Failed). */
export function csrCondition(csr: KubeObject | undefined, type: string): KubeObject | undefined {
  const conditions = csr?.status?.conditions;
  return Array.isArray(conditions) ? conditions.find((c: KubeObject) => c?.type === type && c?.status !== 'False') : undefined;
}
