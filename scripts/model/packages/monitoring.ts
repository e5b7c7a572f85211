/** What podsec-icinga and podsec-nagios have in common: nagwad's templates for one monitoring server. */
import { MONITORING_TEMPLATE_DATA } from '../../../policies/monitoring/monitored-programs.ts';
import { configNoReplace } from '../entries.ts';
import type { Entry, PackageDecl } from '../types.ts';

/** A package of templates; `templates` is the nagwad package that brings the server's directories. */
export const monitoringPackage = (
  { name, summary, description, entries }: Pick<PackageDecl, 'name' | 'summary' | 'description' | 'entries'>,
  templates: string,
): PackageDecl => ({
  name,
  summary,
  description,
  group: 'Monitoring',
  requires: [{ name: templates, op: '>=', version: '0.11.2' }],
  groups: [],
  users: [],
  entries,
});

/** A server configuration file rendered from a template with the monitored programs. */
export const monitoringConfig = (path: string, ejs: string): Entry => configNoReplace(path, { ejs, data: MONITORING_TEMPLATE_DATA });
