/** The project model: all seven packages, in the order the spec lists them. */
import podsecDev from './packages/podsec-dev.ts';
import podsecIcinga from './packages/podsec-icinga.ts';
import podsecInotify from './packages/podsec-inotify.ts';
import podsecK8sRbac from './packages/podsec-k8s-rbac.ts';
import podsecK8s from './packages/podsec-k8s.ts';
import podsecNagios from './packages/podsec-nagios.ts';
import podsec from './packages/podsec.ts';
import externalDirs from './packages/external-dirs.ts';
import { withGeneratedDocs } from './docs.ts';
import { withProgramModules } from './program-modules.ts';
import type { ProjectModel } from './types.ts';

const declared: ProjectModel = {
  packages: [podsec, podsecK8s, podsecK8sRbac, podsecInotify, podsecDev, podsecIcinga, podsecNagios],
  externalDirs,
  externalPrograms: [],
};

/**
 * The declared packages plus the man pages, completions and catalogs every command gets, and the
 * directory of each package's program modules.
 */
const model = withProgramModules(withGeneratedDocs(declared));

export default model;
