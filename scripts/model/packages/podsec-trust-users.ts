/**
 * The image-maker, podman-user and OCI-archive part of the podsec package (its programs, units
 * and directories), kept apart from podsec.ts so the two halves of the trust tools evolve
 * independently. podsec.ts spreads these entries into the package.
 */
import type { Entry, ExternalPath } from '../types.ts';

export const trustUserEntries: Entry[] = [];
export const trustUserExternalPrograms: ExternalPath[] = [];
