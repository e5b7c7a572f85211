/**
 * JSON Schema of `podsec-k8s-rbac-get-userroles --json` (the default output): the schema kept with
 * the RBAC policies and installed as %_docdir/podsec-k8s-rbac/get-userroles.schema.json.
 */
export { default } from '../rbac/get-userroles.schema.ts';
