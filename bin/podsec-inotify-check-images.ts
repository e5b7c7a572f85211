/**
 * podsec-inotify-check-images [-v…] [-a|-f|-c|-h|-m|-l|-d RANGE]… [-w RANGE] [-M ADDRESS]
 *
 * For root and every podman user: images from registries outside the user's policy (103), images
 * without a signature in the lookaside (102, checked over HTTP), registries that do not require
 * signatures (101). Images are read from containers-storage's images.json as data, the policy
 * through bin/lib/containers-policy.ts; nothing runs as the user (upstream ran a generated shell
 * script as root with registry names pasted into it). Nagios plugin output and exit codes.
 */
import { runCommand } from './lib/command.ts';
import { lookasideFor, requirementsFor, signatureUrl } from './lib/containers-policy.ts';
import { httpGet } from './lib/http.ts';
import { translator } from './lib/i18n.ts';
import { isImageReference, ownerImages, storagesOf } from './inotify/images.ts';
import { Journal, JOURNAL_HELP } from './inotify/journal.ts';
import { loadSubjectConfig, subjects } from './inotify/policy.ts';
import { notRoot, reportOnce, unknown, type ReportItem } from './inotify/report.ts';
import { InvalidRangeError, legacyArgs, monitorOptions, THRESHOLD_HELP, THRESHOLD_MONITOR_OPTIONS } from './inotify/severity.ts';
import { PODMAN_DEV_GROUP } from './lib/names.ts';

const NAME = 'podsec-inotify-check-images';
const t = translator('podsec-inotify');

/** Whether a signature exists at `url` (HTTP 200). Each URL is asked once per run, 5 s at most. */
const asked = new Map<string, Promise<boolean>>();
function exists(url: string): Promise<boolean> {
  let answer = asked.get(url);
  if (answer) return answer;
  // A URL that does not parse, another protocol, no answer: not a signature.
  answer = Promise.resolve()
    .then(() => httpGet(url, { timeoutMs: 5000, maxBytes: 16 * 1024 * 1024 }))
    .then(
      (response) => response.status === 200,
      () => false,
    );
  asked.set(url, answer);
  return answer;
}

runCommand(
  {
    name: NAME,
    summary: 'Check that the images of root and the podman users are signed and allowed by their policy (Nagios plugin).',
    usage: ['[-v|-vv|-vvv] [-a|-f|-c|-h|-m|-l|-d RANGE]... [-w RANGE] [-M ADDRESS] [--json] [--root DIR]'],
    options: THRESHOLD_MONITOR_OPTIONS,
    description: [
      "Checks the images of root and of every podman user against that user's policy (the user's own " +
        '~/.config/containers when there is one, else /etc/containers); image makers (podman_dev) are ' +
        'left out. The image lists of every graph driver (overlay, vfs, …) of each container storage are ' +
        "read as data: root's /var/lib/containers/storage, a user's ~/.local/share/containers/storage " +
        "and u7s-admin's usernetes storage. Nothing runs as the user (upstream ran a generated shell " +
        'script as root with registry names pasted into it).',
      'The findings: 103 images outside of supported policies (no docker scope of the policy matches ' +
        'the image name, or the matching scope rejects everything); 102 unsigned images (the scope ' +
        'requires signedBy or sigstoreSigned and the lookaside of registries.d has no signature-1 for the ' +
        "image's manifest digest, asked over HTTP with a 5 second limit; a stored name that is not a " +
        'docker reference counts as unsigned and is never put into a URL); 101 registries in the policy ' +
        'that accept unsigned images; 100 (weight 200) an image list or policy that cannot be read. The ' +
        'signature is looked up, not verified: podman verified it when the image was pulled.',
      'Each finding whose weight crosses a journal threshold is one journal entry tagged ' +
        'podsec-inotify-check-images, for example "Critical: Critical(104): Users \"alice\" …"; nagwad ' +
        '(/etc/nagwad/podsec.sed) turns it into a Nagios or Icinga alert. The weights of all findings are ' +
        'summed and checked against the Nagios thresholds: the command prints one status line, "POLICY ' +
        'OK: Containerization policies are not violated" or "POLICY CRITICAL(<sum>): Users have images ' +
        'that violate established policies <users> | violations=<sum>" (the findings follow with -v), ' +
        'exits with the Nagios code and, with -M, mails the report when it is not OK.',
      ...THRESHOLD_HELP.description,
    ],
    environment: JOURNAL_HELP.environment,
    files: {
      '/var/lib/containers/storage/': "root's container storage; each graph driver keeps its image list in <driver>-images/images.json",
      '~USER/.local/share/containers/storage/': "a podman user's container storage",
      '/var/lib/u7s-admin/.local/share/usernetes/': 'the rootless Kubernetes node, with its container storage in containers/storage/',
      '/etc/containers/policy.json': 'the policy of root and of users without their own',
      '~USER/.config/containers/': "a user's own policy.json and registries.d",
      '/etc/containers/registries.d/*.yaml': 'where the signatures are looked up',
    },
    usageExitCode: 3,
    exitCodes: { 1: 'WARNING', 2: 'CRITICAL', 3: 'UNKNOWN: not run as root, or a bad threshold' },
    examples: {
      'podsec-inotify-check-images': 'one check as a Nagios plugin, with the default threshold -c 100',
      'podsec-inotify-check-images -vvv -c 100': 'what the hourly podsec-inotify-check-images.timer runs',
      'podsec-inotify-check-images -v -w 0 -c 102': 'WARNING for any finding, CRITICAL above 102, with the findings listed',
    },
    seeAlso: [
      'podsec-inotify-check-policy(1)',
      'podsec-inotify-check-vuln(1)',
      'containers-policy.json(5)',
      'containers-registries.d(5)',
      'containers-storage.conf(5)',
    ],
  },
  t,
  async ({ values, root }) => {
    let options;
    try {
      options = monitorOptions(values, { journal: { c: '100' }, nagios: { c: '100' } });
    } catch (error) {
      // Nagios reads the plugin's stdout: an UNKNOWN goes there, not to stderr.
      if (error instanceof InvalidRangeError) return unknown(error.message, values.json === true);
      throw error;
    }
    if (root === '/' && (process.geteuid?.() ?? 0) !== 0) return notRoot(options.json);
    const items = new Map<number, ReportItem>();
    const add = (code: number, text: string, user: string, detail: string) => {
      const item = items.get(code) ?? { code, weight: code, users: [], text, details: [] };
      if (!item.users.includes(user)) item.users.push(user);
      item.details.push(`${JSON.stringify(user)}: ${detail}`);
      items.set(code, item);
    };
    for (const subject of subjects(root)) {
      if (subject.groups.includes(PODMAN_DEV_GROUP)) continue;
      let images;
      try {
        images = ownerImages({ user: subject.user, home: subject.account?.home, storages: storagesOf(root, subject.user, subject.account?.home) }, root);
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
        if (reqs.some((r) => r.type === 'insecureAcceptAnything'))
          add(101, 'have registries that do not support electronic signatures', subject.user, JSON.stringify(scope));
      }
      for (const image of images ?? []) {
        for (const name of image.names) {
          const { scope, requirements } = requirementsFor(config.policy, name);
          if (scope === undefined || scope === '') {
            add(103, 'have images outside of supported policies', subject.user, JSON.stringify(name));
            continue;
          }
          // A scope that rejects everything: the image can't have come in under this policy.
          if (requirements.every((r) => r.type === 'reject')) {
            add(103, 'have images outside of supported policies', subject.user, JSON.stringify(name));
            continue;
          }
          if (!requirements.some((r) => r.type === 'signedBy' || r.type === 'sigstoreSigned')) continue;
          // A name that is no docker reference was not pulled: it is unsigned, and never put into a URL.
          const lookaside = isImageReference(name) ? lookasideFor(config.registries, name) : undefined;
          const repository = name.replace(/@sha256:[0-9a-f]+$/, '').replace(/:[^/:@]+$/, '');
          let signed = false;
          for (const digest of lookaside === undefined ? [] : image.digests) {
            if (await exists(signatureUrl(lookaside!, repository, digest))) {
              signed = true;
              break;
            }
          }
          if (!signed) add(102, 'have unsigned images', subject.user, JSON.stringify(name));
        }
      }
    }
    const list = [...items.values()].sort((a, b) => a.code - b.code).map((i) => (i.code === 100 ? { ...i, weight: 200 } : i));
    return reportOnce(new Journal(NAME), list, options, 'Users have images that violate established policies');
  },
  legacyArgs(process.argv.slice(2)),
);
