/**
 * podsec-inotify-build-invulnerable-image <image> [<Dockerfile> [<context> [-- <podman build options>…]]]
 *
 * Builds the image with podman (when a Dockerfile is given), scans it with trivy in client mode
 * and removes a freshly built image that has HIGH or CRITICAL vulnerabilities or could not be
 * scanned. Exit codes: 0 clean, 1 usage, 2 the build failed, 3 the scan failed (trivy missing
 * included), 4 HIGH, 5 CRITICAL.
 */
import { spawnSync } from 'node:child_process';
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { Journal } from './lib/inotify-journal.ts';
import { checkImage } from './lib/inotify-trivy.ts';
import { userInfo } from 'node:os';

const NAME = 'podsec-inotify-build-invulnerable-image';
const t = translator('podsec-inotify');
const SYNOPSIS = `${NAME} <image_name> [ <docker file> [ <context directory> [ -- <podman build options> ] ] ]`;

runCommand(
  {
    name: NAME,
    summary: 'Build an image with podman and keep it only if trivy finds no HIGH or CRITICAL vulnerability.',
    usage: ['<image> [<Dockerfile> [<context> [-- <podman build options>...]]]'],
    options: {},
    positionals: true,
    environment: { U7S_TRIVY_SERVER: 'host of the trivy server (default trivy.local), port 4954' },
    exitCodes: { 1: 'usage', 2: 'the build failed', 3: 'the scan failed or trivy is not installed', 4: 'HIGH vulnerabilities', 5: 'CRITICAL vulnerabilities' },
  },
  t,
  async ({ positionals }) => {
    const [image, dockerfile, context, ...buildOptions] = positionals;
    if (!image) throw new CommandError(t('Format: {synopsis}', { synopsis: SYNOPSIS }), 1);
    const journal = new Journal(NAME);
    const user = userInfo().username;
    if (dockerfile) {
      const build = spawnSync('podman', ['build', ...buildOptions, '-f', dockerfile, '-t', image, context ?? '.'], { stdio: 'inherit' });
      if (build.error || build.status !== 0) {
        journal.report('Fatal', `Building image ${JSON.stringify(image)} failed. Image analysis is skipped.`);
        return 2;
      }
    }
    const result = await checkImage(journal, image, user);
    if (dockerfile && result.code !== 0) {
      const rmi = spawnSync('podman', ['rmi', '--', image], { stdio: ['ignore', 'ignore', 'inherit'] });
      if (rmi.status === 0) process.stderr.write(t('Image {image} of user {user} has been deleted.', { image, user }) + '\n');
    }
    return result.code;
  },
);
