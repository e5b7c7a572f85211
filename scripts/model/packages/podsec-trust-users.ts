/**
 * The image-maker, podman-user and OCI-archive part of the podsec package (its programs), kept
 * apart from podsec.ts so the two halves of the trust tools evolve independently. podsec.ts
 * spreads these entries into the package. Modes as upstream: the create-* tools are root's
 * (0700), podsec-load-sign-oci and podsec-push-sign-image are run by image makers (0755).
 */
import { program } from '../entries.ts';
import type { Entry, ExternalPath } from '../types.ts';

export const trustUserEntries: Entry[] = [
  program('%_bindir/podsec-create-imagemakeruser', 'podsec-create-imagemakeruser', 0o700),
  program('%_bindir/podsec-create-podmanusers', 'podsec-create-podmanusers', 0o700),
  program('%_bindir/podsec-load-sign-oci', 'podsec-load-sign-oci', 0o755),
  program('%_bindir/podsec-push-sign-image', 'podsec-push-sign-image', 0o755),
];

/** No units of this half start programs. */
export const trustUserExternalPrograms: ExternalPath[] = [];
