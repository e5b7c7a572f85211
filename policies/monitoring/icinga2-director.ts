/**
 * Icinga Director basket with the podsec services (import it in Director → Baskets): the same
 * content as icinga2-podsec.conf for sites that manage Icinga through the Director. Object names
 * carry the `d-` prefix, as nagwad's own basket does (d-nagwad-service, d-nagwad-nodes).
 */
import { DIRECTOR_PREFIX, MONITORED_PROGRAMS, NAGWAD_HOSTGROUP, PODSEC_HOSTGROUP } from './monitored-programs.ts';

const podsecHostgroup = DIRECTOR_PREFIX + PODSEC_HOSTGROUP;
const nagwadHostgroup = DIRECTOR_PREFIX + NAGWAD_HOSTGROUP;
const serviceSet = `${DIRECTOR_PREFIX}nagwad-podsec-set`;

/** Director's URL-encoded filter syntax: both host groups are required. */
const inBothGroups = [nagwadHostgroup, podsecHostgroup].map((group) => `%22${group}%22=host.groups`).join('&');

export default {
  HostGroup: {
    [podsecHostgroup]: {
      object_name: podsecHostgroup,
      object_type: 'object',
      display_name: 'Nodes running podsec',
    },
  },
  ServiceTemplate: Object.fromEntries(
    MONITORED_PROGRAMS.map((program) => {
      const name = DIRECTOR_PREFIX + program.name;
      return [
        name,
        {
          object_name: name,
          object_type: 'template',
          imports: [`${DIRECTOR_PREFIX}nagwad-service`],
          display_name: program.description,
          vars: { nagwad_filter: program.name },
        },
      ];
    }),
  ),
  ServiceSet: {
    [serviceSet]: {
      object_name: serviceSet,
      object_type: 'template',
      description: 'podsec-inotify monitors reported through nagwad',
      assign_filter: inBothGroups,
      services: MONITORED_PROGRAMS.map((program) => ({
        object_name: program.name,
        object_type: 'object',
        imports: [DIRECTOR_PREFIX + program.name],
      })),
    },
  },
};
