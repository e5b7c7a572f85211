/**
 * nagwad's filter for the podsec-inotify messages. It belongs to the base package podsec (which
 * requires nagwad-service), next to its monitors' configuration; noreplace as upstream, so a
 * site's own rules survive upgrades.
 */
import { MONITORING_TEMPLATE_DATA } from '../../../policies/monitoring/monitored-programs.ts';
import { configNoReplace } from '../entries.ts';
import type { Entry } from '../types.ts';

const nagwadFilter: Entry = configNoReplace('%_sysconfdir/nagwad/podsec.sed', { ejs: 'policies/nagwad/podsec.sed.ejs', data: MONITORING_TEMPLATE_DATA }, 0o644);

export default nagwadFilter;
