/**
 * podsec-inotify-check-vuln [-m ADDRESS]
 *
 * Scans the images of root and of every user (read from their containers-storage image lists, all
 * graph drivers, u7s-admin's usernetes storage included) with trivy in client mode against
 * $U7S_TRIVY_SERVER (default trivy.local):4954 and reports HIGH and CRITICAL findings to the
 * journal. Without trivy nothing is scanned, one Fatal line says so and the exit code is 3: a
 * missing scanner is never "OK", not even on a node without images.
 */
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { imageOwners, ownerImages } from './inotify/images.ts';
import { rewriteArgs } from './inotify/severity.ts';
import { Journal, sendMail, JOURNAL_HELP } from './inotify/journal.ts';
import { checkImage, TRIVY_NOT_INSTALLED, trivyInstalled } from './inotify/trivy.ts';

const NAME = 'podsec-inotify-check-vuln';

/** The --json document, described by policies/schemas/podsec-inotify-check-vuln.schema.ts; keys never translated. */
interface VulnJson {
  status: 'OK' | 'HIGH' | 'CRITICAL' | 'UNKNOWN';
  exitCode: number;
  reason?: string;
  images: { user: string; image: string; exitCode: number; high: number; critical: number; error?: string }[];
  unreadable: { user: string; error: string }[];
  unnamed: { user: string; id: string }[];
}
const STATUS: Record<number, VulnJson['status']> = { 0: 'OK', 3: 'UNKNOWN', 4: 'HIGH', 5: 'CRITICAL' };
const t = translator('podsec-inotify');

/**
 * Upstream's unit ran `podsec-inotify-check-vuln -vvv -c 100`, and the program ignored everything but
 * -m; those verbosity and threshold letters are still accepted and ignored.
 */
const compatArgs = (args: string[]) =>
  rewriteArgs(args, (arg, next) => {
    if (/^-v+$/.test(arg)) return { out: [] };
    if (/^-[afchldw]$/.test(arg) && next !== undefined && !next.startsWith('-')) return { out: [], skipNext: true };
    return { out: [arg] };
  });

runCommand(
  {
    name: NAME,
    summary: 'Scan the container images of root and the users for HIGH and CRITICAL vulnerabilities (trivy client).',
    usage: ['[-m ADDRESS] [--json] [--root DIR]'],
    options: {
      mail: { type: 'string', short: 'm', valueName: 'ADDRESS', description: 'mail each finding to ADDRESS' },
      json: { type: 'boolean', description: 'print the result of every scan as one JSON document on standard output' },
    },
    description: [
      "Scans every named image of root and of each account's container storage (the image lists of " +
        "every graph driver; u7s-admin's usernetes storage included) for HIGH and CRITICAL " +
        'vulnerabilities with trivy in client mode against the podsec trivy server: trivy image --format ' +
        'json --severity HIGH,CRITICAL --server http://$U7S_TRIVY_SERVER:4954 -- IMAGE. Each image is ' +
        'scanned by its first name, a name once per user; images without a name are not scanned (a Low ' +
        'entry says so). Run hourly by podsec-inotify-check-vuln.timer.',
      'Findings go to the journal, tagged podsec-inotify-check-vuln: "Critical: In the image \"I\" of ' +
        'the user \"U\" critical and high vulnerabilities were discovered (CRITICAL: n, HIGH: m)" (or ' +
        '"critical vulnerabilities have been discovered" when there is no HIGH one), "High: In the image ' +
        '\"I\" of the user \"U\" high vulnerabilities found (HIGH: m)", and "Fatal: The trivy ' +
        'vulnerability analysis command failed for the image …" when a scan fails or trivy\'s report ' +
        'cannot be read. With -m each finding is mailed too.',
      'Without trivy nothing is scanned: one Fatal entry says trivy is not installed and the exit code ' +
        'is 3, also on a node without images, so a missing scanner never looks like a clean node. The ' +
        "options of upstream's unit (-v, -vv, -vvv and -c, -w and the other threshold letters with a " +
        'value) are accepted and ignored, as upstream did.',
      'With --json the command prints one JSON document on standard output: {"status": ' +
        '"OK"|"HIGH"|"CRITICAL"|"UNKNOWN", "exitCode": 0|3|4|5, "images": [{"user": U, "image": I, ' +
        '"exitCode": N, "high": N, "critical": N, "error": TEXT}...], "unreadable": [{"user": U, "error": ' +
        'TEXT}...], "unnamed": [{"user": U, "id": ID}...]}, with "reason" when trivy is not installed; ' +
        'error is there only for a failed scan. The exit code, the journal entries and the mails are the ' +
        'same as without --json; the keys are never translated.',
    ],
    environment: {
      U7S_TRIVY_SERVER: 'host of the trivy server (default trivy.local), port 4954',
      'TRIVY_*': 'passed on to trivy, e.g. TRIVY_CACHE_DIR (the service sets /var/cache/podsec-inotify)',
      PATH: 'where trivy is looked for',
      ...JOURNAL_HELP.environment,
    },
    files: {
      '/var/lib/containers/storage/': "root's container storage; each graph driver keeps its image list in <driver>-images/images.json",
      '~USER/.local/share/containers/storage/': "a user's container storage",
      '/var/lib/u7s-admin/.local/share/usernetes/': 'the rootless Kubernetes node, with its container storage in containers/storage/',
    },
    exitCodes: {
      3: 'a scan failed, an image list cannot be read, or trivy is not installed',
      4: 'HIGH vulnerabilities found (the worst result over all images)',
      5: 'CRITICAL vulnerabilities found',
    },
    examples: {
      'podsec-inotify-check-vuln': 'scan all images against trivy.local:4954',
      'U7S_TRIVY_SERVER=trivy.example.org podsec-inotify-check-vuln -m root': 'use another trivy server and mail each finding to root',
    },
    seeAlso: ['podsec-inotify-build-invulnerable-image(1)', 'podsec-inotify-check-images(1)', 'trivy(1)'],
  },
  t,
  async ({ values, root }) => {
    const journal = new Journal(NAME);
    const mailTo = typeof values.mail === 'string' ? values.mail : undefined;
    if (mailTo !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._%+-]*(@[A-Za-z0-9.-]+)?$/.test(mailTo)) {
      throw new CommandError(t('invalid mail address {address}', { address: JSON.stringify(mailTo) }), 2);
    }
    const json = values.json === true;
    const doc: VulnJson = { status: 'OK', exitCode: 0, images: [], unreadable: [], unnamed: [] };
    const done = (code: number) => {
      if (json) process.stdout.write(JSON.stringify({ ...doc, status: STATUS[code] ?? 'UNKNOWN', exitCode: code }) + '\n');
      return code;
    };
    if (!trivyInstalled()) {
      journal.report('Fatal', `${TRIVY_NOT_INSTALLED}: container images are not scanned for vulnerabilities`);
      process.stderr.write(`${NAME}: ${t('trivy is not installed: container images are not scanned')}\n`);
      doc.reason = TRIVY_NOT_INSTALLED;
      return done(3);
    }
    let worst = 0;
    for (const owner of imageOwners(root)) {
      let images;
      try {
        images = ownerImages(owner, root);
      } catch (error) {
        journal.report('Fatal', `The images of the user ${JSON.stringify(owner.user)} cannot be read: ${(error as Error).message}`);
        doc.unreadable.push({ user: owner.user, error: (error as Error).message });
        worst = Math.max(worst, 3);
        continue;
      }
      const scanned = new Set<string>();
      for (const image of images ?? []) {
        // An image without a name (dangling) can only be found by trivy in a daemon; it is not scanned.
        const ref = image.names[0];
        if (ref === undefined) {
          journal.report('Low', `The image ${JSON.stringify(image.id)} of the user ${JSON.stringify(owner.user)} has no name and is not scanned`);
          doc.unnamed.push({ user: owner.user, id: image.id });
          continue;
        }
        if (scanned.has(ref)) continue;
        scanned.add(ref);
        const result = await checkImage(journal, ref, owner.user);
        worst = Math.max(worst, result.code);
        doc.images.push({
          user: owner.user,
          image: ref,
          exitCode: result.code,
          high: result.high,
          critical: result.critical,
          ...(result.error !== undefined ? { error: result.error } : {}),
        });
        if (mailTo && result.code > 0) sendMail(journal, mailTo, `Vulnerabilities found in image ${ref} of user ${owner.user}`, JSON.stringify(result));
      }
    }
    return done(worst);
  },
  compatArgs(process.argv.slice(2)),
);
