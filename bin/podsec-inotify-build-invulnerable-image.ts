/**
 * podsec-inotify-build-invulnerable-image <image> [<Dockerfile> [<context> [[--] <podman build options>…]]]
 *
 * Builds the image with podman (when a Dockerfile is given), scans it with trivy in client mode
 * and removes a freshly built image that has HIGH or CRITICAL vulnerabilities or could not be
 * scanned. Exit codes: 0 clean, 1 usage, 2 the build failed, 3 the scan failed (trivy missing
 * included), 4 HIGH, 5 CRITICAL.
 *
 * Upstream's syntax put the podman build options right after the context; they still may be, or
 * follow a `--`. Everything after the context goes to podman build as is; the context itself is
 * passed after `--`, so a directory named like an option is still a directory.
 */
import { userInfo } from 'node:os';
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { Journal, JOURNAL_HELP } from './inotify/journal.ts';
import { checkImage, TRIVY_NOT_INSTALLED, trivyInstalled } from './inotify/trivy.ts';
import { runSync } from './lib/proc.ts';

const NAME = 'podsec-inotify-build-invulnerable-image';
const t = translator('podsec-inotify');
const SYNOPSIS = `${NAME} <image_name> [ <docker file> [ <context directory> [ <podman build options> ] ] ]`;

/**
 * Splits the command line into what the common frame parses (our options and up to three
 * positionals) and the podman build options: everything after a `--` (which ends the positionals:
 * `img Dockerfile -- --pull` builds the context `.`), or everything after the third positional.
 */
function splitArgs(args: string[]): { own: string[]; build: string[] } {
  const own: string[] = [];
  let positionals = 0;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return { own, build: args.slice(i + 1) };
    if (positionals === 3) return { own, build: args.slice(i) };
    own.push(arg);
    if (!arg.startsWith('-') || arg === '-') positionals++;
    else if (arg === '--root' && i + 1 < args.length) own.push(args[++i]!);
  }
  return { own, build: [] };
}

const { own, build: buildOptions } = splitArgs(process.argv.slice(2));

runCommand(
  {
    name: NAME,
    summary: 'Build an image with podman and keep it only if trivy finds no HIGH or CRITICAL vulnerability.',
    usage: ['<image> [<Dockerfile> [<context> [[--] <podman build options>...]]]'],
    options: {},
    positionals: true,
    description: [
      'With a DOCKERFILE the image is built first: podman build OPTIONS -f DOCKERFILE -t IMAGE -- ' +
        'CONTEXT (CONTEXT defaults to the current directory; the podman build options follow the context, ' +
        'after an optional --). Without a DOCKERFILE the existing IMAGE is only scanned.',
      'IMAGE is then scanned with trivy in client mode against the podsec trivy server (trivy image ' +
        '--format json --severity HIGH,CRITICAL --server http://$U7S_TRIVY_SERVER:4954 -- IMAGE). A ' +
        'freshly built image with HIGH or CRITICAL vulnerabilities, or one that could not be scanned, is ' +
        'removed again with podman rmi. Findings and failures go to the journal, tagged ' +
        'podsec-inotify-build-invulnerable-image, with the messages of podsec-inotify-check-vuln; a ' +
        'failed build is "Fatal: Building image \"IMAGE\" failed. Image analysis is skipped.".',
      'Without trivy nothing is built or scanned and the exit code is 3: an unchecked image is never reported as clean.',
    ],
    environment: {
      U7S_TRIVY_SERVER: 'host of the trivy server (default trivy.local), port 4954',
      PATH: 'where podman and trivy are looked for',
      ...JOURNAL_HELP.environment,
    },
    usageExitCode: 1,
    exitCodes: {
      1: 'no image name given',
      2: 'the build failed',
      3: 'the scan failed or trivy is not installed',
      4: 'HIGH vulnerabilities (a built image is removed)',
      5: 'CRITICAL vulnerabilities (a built image is removed)',
    },
    examples: {
      'podsec-inotify-build-invulnerable-image registry.local/app:1 Dockerfile .': 'build, scan, and keep the image only when it is clean',
      'podsec-inotify-build-invulnerable-image registry.local/app:1 Dockerfile . --pull --no-cache': 'the same, with podman build options',
      'podsec-inotify-build-invulnerable-image registry.local/app:1': 'only scan an existing image',
    },
    seeAlso: ['podsec-inotify-check-vuln(1)', 'podman-build(1)', 'trivy(1)'],
  },
  t,
  async ({ positionals }) => {
    const [image, dockerfile, context] = positionals;
    if (!image) throw new CommandError(t('Format: {synopsis}', { synopsis: SYNOPSIS }), 1);
    const journal = new Journal(NAME);
    const user = userInfo().username;
    // Without the scanner an image would be built only to be removed (or kept unchecked): refuse first.
    if (!trivyInstalled()) {
      journal.report('Fatal', `${TRIVY_NOT_INSTALLED}: the image ${JSON.stringify(image)} is not built or scanned`);
      process.stderr.write(`${NAME}: ${t('trivy is not installed: the image is not built or scanned')}\n`);
      return 3;
    }
    if (dockerfile) {
      const build = runSync('podman', ['build', ...buildOptions, '-f', dockerfile, '-t', image, '--', context ?? '.'], {
        interactive: true,
        cwd: process.cwd(),
        timeoutMs: 0,
      });
      if (build.error || build.status !== 0) {
        journal.report('Fatal', `Building image ${JSON.stringify(image)} failed. Image analysis is skipped.`);
        return 2;
      }
    }
    const result = await checkImage(journal, image, user);
    if (dockerfile && result.code !== 0) {
      const rmi = runSync('podman', ['rmi', '--', image], { passStderr: true });
      if (rmi.status === 0) process.stderr.write(t('Image {image} of user {user} has been deleted.', { image, user }) + '\n');
    }
    return result.code;
  },
  own,
);
