/**
 * podsec-inotify-check-images [-v…] [-a|-f|-c|-h|-m|-l|-d RANGE]… [-w RANGE] [-M ADDRESS]
 *
 * For root and every podman user: images from registries outside the user's policy (103), images
 * without a signature in the lookaside (102, checked over HTTP), registries that do not require
 * signatures (101). Images are read from containers-storage's images.json as data, the policy
 * through bin/lib/containers-policy.ts; nothing runs as the user (upstream ran a generated shell
 * script as root with registry names pasted into it). Nagios plugin output and exit codes.
 */
import { get } from 'node:http';
import { CommandError, runCommand } from './lib/command.ts';
import { lookasideFor, requirementsFor, signatureUrl } from './lib/containers-policy.ts';
import { translator } from './lib/i18n.ts';
import { storedImages } from './lib/inotify-images.ts';
import { Journal } from './lib/inotify-journal.ts';
import { loadSubjectConfig, subjects } from './lib/inotify-policy.ts';
import { NOT_ROOT_LINE, reportOnce, type ReportItem } from './lib/inotify-report.ts';
import { InvalidRangeError, legacyArgs, MAIL_OPTION, monitorOptions, THRESHOLD_OPTIONS, VERBOSE_OPTION } from './lib/inotify-severity.ts';
import { join } from 'node:path';
import { PODMAN_DEV_GROUP } from './lib/names.ts';

const NAME = 'podsec-inotify-check-images';
const t = translator('podsec-inotify');

function exists(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (!url.startsWith('http://')) return resolve(false);
    const request = get(url, { timeout: 5000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(false));
  });
}

runCommand(
  {
    name: NAME,
    summary: 'Check that the images of root and the podman users are signed and allowed by their policy (Nagios plugin).',
    usage: ['[-v|-vv|-vvv] [-a|-f|-c|-h|-m|-l|-d RANGE]... [-w RANGE] [-M ADDRESS] [--root DIR]'],
    options: { ...THRESHOLD_OPTIONS, ...VERBOSE_OPTION, ...MAIL_OPTION },
    exitCodes: { 0: 'OK', 1: 'WARNING', 2: 'CRITICAL', 3: 'UNKNOWN: not run as root, or a bad threshold' },
  },
  t,
  async ({ values, root }) => {
    let options;
    try {
      options = monitorOptions(values, { journal: { c: '100' }, nagios: { c: '100' } });
    } catch (error) {
      if (error instanceof InvalidRangeError) throw new CommandError(`POLICY UNKNOWN: ${error.message}`, 3);
      throw error;
    }
    if (root === '/' && (process.geteuid?.() ?? 0) !== 0) {
      process.stdout.write(`${NOT_ROOT_LINE}\n`);
      return 3;
    }
    const items = new Map<number, ReportItem>();
    const add = (code: number, text: string, user: string, detail: string) => {
      const item = items.get(code) ?? { code, weight: code, users: [], text, details: [] };
      if (!item.users.includes(user)) item.users.push(user);
      item.details.push(`${JSON.stringify(user)}: ${detail}`);
      items.set(code, item);
    };
    for (const subject of subjects(root)) {
      if (subject.groups.includes(PODMAN_DEV_GROUP)) continue;
      const imagesJson = subject.user === 'root' ? join(root, 'var/lib/containers/storage/overlay-images/images.json') : join(root, subject.account!.home, '.local/share/containers/storage/overlay-images/images.json');
      let images;
      try {
        images = storedImages(imagesJson);
      } catch (error) {
        add(100, 'have image lists that cannot be read', subject.user, JSON.stringify((error as Error).message));
        continue;
      }
      const config = loadSubjectConfig(root, subject);
      if (!config.policy) {
        add(100, 'have a containers policy that cannot be used', subject.user, config.error ?? '');
        continue;
      }
      for (const [scope, reqs] of Object.entries(config.policy.transports?.docker ?? {})) {
        if (reqs.some((r) => r.type === 'insecureAcceptAnything')) add(101, 'have registries that do not support electronic signatures', subject.user, JSON.stringify(scope));
      }
      for (const image of images ?? []) {
        for (const name of image.names) {
          const { scope, requirements } = requirementsFor(config.policy, name);
          if (scope === undefined || scope === '') {
            add(103, 'have images outside of supported policies', subject.user, JSON.stringify(name));
            continue;
          }
          if (!requirements.some((r) => r.type === 'signedBy' || r.type === 'sigstoreSigned')) continue;
          const lookaside = lookasideFor(config.registries, name);
          const repository = name.replace(/@sha256:[0-9a-f]+$/, '').replace(/:[^/:@]+$/, '');
          const signed = lookaside !== undefined && image.digest !== undefined && (await exists(signatureUrl(lookaside, repository, image.digest)));
          if (!signed) add(102, 'have unsigned images', subject.user, JSON.stringify(name));
        }
      }
    }
    const list = [...items.values()].sort((a, b) => a.code - b.code).map((i) => (i.code === 100 ? { ...i, weight: 200 } : i));
    return reportOnce(new Journal(NAME), list, options, 'Users have images that violate established policies');
  },
  legacyArgs(process.argv.slice(2)),
);
