/**
 * podsec-inotify-check-vuln [-m ADDRESS]
 *
 * Scans the images of root and of every user (read from their containers-storage images.json)
 * with trivy in client mode against $U7S_TRIVY_SERVER (default trivy.local):4954 and reports HIGH
 * and CRITICAL findings to the journal. Without trivy every image is reported as not checked
 * (Fatal) and the exit code is 3: a missing scanner is never "OK".
 */
import { runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { imageOwners, storedImages } from './lib/inotify-images.ts';
import { Journal, sendMail } from './lib/inotify-journal.ts';
import { checkImage } from './lib/inotify-trivy.ts';

const NAME = 'podsec-inotify-check-vuln';
const t = translator('podsec-inotify');
const argv = process.argv.slice(2).map((a) => (a === '-m' ? '--mail' : a));

runCommand(
  {
    name: NAME,
    summary: 'Scan the container images of root and the users for HIGH and CRITICAL vulnerabilities (trivy client).',
    usage: ['[-m ADDRESS] [--root DIR]'],
    options: { mail: { type: 'string', valueName: 'ADDRESS', description: 'mail each finding to ADDRESS (-m)' } },
    environment: { U7S_TRIVY_SERVER: 'host of the trivy server (default trivy.local), port 4954' },
    exitCodes: { 3: 'a scan failed or trivy is not installed', 4: 'HIGH vulnerabilities found', 5: 'CRITICAL vulnerabilities found' },
  },
  t,
  async ({ values, root }) => {
    const journal = new Journal(NAME);
    const mailTo = typeof values.mail === 'string' ? values.mail : undefined;
    let worst = 0;
    for (const owner of imageOwners(root)) {
      let images;
      try {
        images = storedImages(owner.imagesJson);
      } catch (error) {
        journal.report('Fatal', `The images of the user ${JSON.stringify(owner.user)} cannot be read: ${(error as Error).message}`);
        worst = Math.max(worst, 3);
        continue;
      }
      for (const image of images ?? []) {
        const ref = image.names[0] ?? image.id;
        const result = await checkImage(journal, ref, owner.user);
        worst = Math.max(worst, result.code);
        if (mailTo && result.code > 0) sendMail(journal, mailTo, `Vulnerabilities found in image ${ref} of user ${owner.user}`, JSON.stringify(result));
      }
    }
    return worst;
  },
  argv,
);
