/**
 * podsec-inotify-check-policy [-v|-vv|-vvv] [-a|-f|-c|-h|-m|-l|-d RANGE]… [-w RANGE] [-M ADDRESS] [--watch]
 *
 * Checks the containers policy of root and of every podman user (default not reject, registries
 * without signatures, other transports, the registry.local lookaside, registry.local not signed,
 * podman users in wheel, changeable user config dirs). As a Nagios plugin (the default) it prints
 * one status line and exits 0/1/2/3. With --watch it stays running, watches /etc/containers, the
 * accounts and every podman user's ~/.config/containers through inotify and reports a drift to
 * the journal as soon as it happens (upstream polled hourly).
 */
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { Journal, JOURNAL_HELP } from './inotify/journal.ts';
import { evaluate, watchedDirs, type Finding } from './inotify/policy.ts';
import { journalLine, notRoot, reportOnce, unknown } from './inotify/report.ts';
import { DirsWatch } from './inotify/watch.ts';
import { InvalidRangeError, legacyArgs, monitorOptions, THRESHOLD_HELP, THRESHOLD_MONITOR_OPTIONS, type MonitorOptions } from './inotify/severity.ts';

const NAME = 'podsec-inotify-check-policy';
const t = translator('podsec-inotify');
const SUBJECT = 'Violation of user containerization policies';
const DEFAULTS = { journal: { c: '100', h: '99' }, nagios: { c: '100', w: '99' } };

const key = (f: Finding) => JSON.stringify([f.code, f.users, f.details]);

/**
 * What the daemon watches for: a file closed after writing, renamed, removed or chmod-ed, a
 * directory made, a watched directory removed or renamed. MODIFY and the CREATE of a file come
 * while a writer may still be writing: they are checked only if its CLOSE_WRITE does not come first.
 */
const WATCHED_EVENTS = ['close_write', 'moved_to', 'moved_from', 'create', 'delete', 'attrib', 'modify', 'delete_self', 'move_self'];
const WRITE_UNFINISHED_MS = 50;

function watchLoop(root: string, options: MonitorOptions, journal: Journal, recheckSeconds: number): Promise<number> {
  const reported = new Map<number, string>();
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  let announced = false;

  const check = () => {
    if (timer) clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
    timer = immediate = undefined;
    const findings = evaluate(root);
    const now = new Set<number>();
    for (const f of findings) {
      now.add(f.code);
      if (reported.get(f.code) === key(f)) continue;
      reported.set(f.code, key(f));
      const line = journalLine(f, options);
      if (line) journal.report(line.word, line.text);
    }
    for (const code of [...reported.keys()]) {
      if (!now.has(code)) {
        reported.delete(code);
        if (options.verbose >= 1) journal.debug(`finding ${code} resolved`);
      }
    }
    watcher.set(watchedDirs(root));
  };
  // The events read together (a burst: an editor's write and rename) make one check.
  const checkNow = () => {
    immediate ??= setImmediate(check);
  };
  const checkSoon = () => {
    timer ??= setTimeout(check, WRITE_UNFINISHED_MS);
  };
  const watcher = new DirsWatch({
    events: WATCHED_EVENTS,
    onEvent: ({ events }) => {
      const unfinished = events.includes('MODIFY') || (events.includes('CREATE') && !events.includes('ISDIR'));
      if (unfinished) checkSoon();
      else checkNow();
    },
    onReady: (count) => {
      if (!announced && options.verbose >= 1) journal.debug(`watching ${count} directories`);
      announced = true;
      // What changed while the watches were being set up.
      checkNow();
    },
    onLost: checkNow,
    onError: (line) => journal.report('Fatal', `inotifywait: ${line}`),
  });

  check();
  // inotify sees writes, renames and chmod, not `chattr +i` (no event for inode flags): a slow
  // periodic check catches what it cannot see.
  const periodic = setInterval(checkNow, recheckSeconds * 1000);
  return new Promise((resolve) => {
    const stop = () => {
      clearInterval(periodic);
      watcher.stop();
      if (timer) clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
      resolve(0);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

runCommand(
  {
    name: NAME,
    summary: 'Check the containers policy of root and the podman users (Nagios plugin, or a watching daemon).',
    usage: ['[-v|-vv|-vvv] [-a|-f|-c|-h|-m|-l|-d RANGE]... [-w RANGE] [-M ADDRESS] [--json|--watch] [--root DIR]'],
    options: {
      ...THRESHOLD_MONITOR_OPTIONS,
      watch: { type: 'boolean', description: 'keep running and report every change of the policies within a second (inotify)' },
      recheck: { type: 'string', valueName: 'SECONDS', description: 'with --watch: also check every SECONDS (default 300), for changes inotify cannot see' },
    },
    description: [
      'Checks the containers policy of root (/etc/containers) and of every account in the groups podman ' +
        'or podman_dev or with its own container storage (its ~/.config/containers when it has one, else ' +
        '/etc/containers). Files are read as data, as root, and never through a symlink that leaves their ' +
        'directory. The findings and their weights: 100 (weight 200) a policy.json or registries.d file ' +
        'that is missing, malformed or not usable (upstream reported OK for a malformed policy); 101 ' +
        'images but no membership in podman; 102 a default other than reject; 103 registry.local not ' +
        'requiring signatures; 104 registries that accept unsigned images; 105 transports other than ' +
        'docker that accept images; 106 a lookaside for registry.local other than ' +
        'http://sigstore.local:81/sigstore/; 107 podman users who are also in wheel; 108 podman users ' +
        'without ~/.config/containers/storage.conf; 109 podman users whose ~/.config/containers is not ' +
        'immutable (chattr +i). 102 to 105 do not apply to image makers (podman_dev); 108 and 109 weigh ' +
        '90 times the share of podman users concerned.',
      'Whoever can change the trust configuration or a trusted key decides which images the node runs, so ' +
        'these are CRITICAL (weight 200): 110 /etc/containers, policy.json or the policy_<time> file it ' +
        'links to, registries.d or a file in it is not owned by root or is writable by a group other than ' +
        "root's or by everyone; 111 a key file a policy names (keyPath, keyPaths) is such a file; 112 a key " +
        'file a policy names lies in a directory a user can write, such as /tmp (a user can put a key ' +
        'there, or replace it when the directory is not sticky). 113 (weight 100, WARNING) a key file a ' +
        'policy names is missing: not a hole, since containers/image then refuses every image of that ' +
        'scope, but the node cannot pull them.',
      'Each finding whose weight crosses a journal threshold is one journal entry tagged ' +
        'podsec-inotify-check-policy, for example "Critical: Critical(104): Users \"alice\" …"; nagwad ' +
        '(/etc/nagwad/podsec.sed) turns it into a Nagios or Icinga alert. The weights of all findings are ' +
        'summed and checked against the Nagios thresholds: the command prints one status line, "POLICY ' +
        'OK: Containerization policies are not violated" or "POLICY CRITICAL(<sum>): Violation of user ' +
        'containerization policies <users> | violations=<sum>" (the findings follow with -v), exits with ' +
        'the Nagios code and, with -M, mails the report when it is not OK.',
      'With --watch the command keeps running (podsec-inotify-check-policy.service): it watches /etc, ' +
        '/etc/containers, /home and the configuration directories of every podman user through inotify ' +
        '(inotifywait), checks again as soon as a changed file is closed, renamed or removed (50 ms after a ' +
        'write to a file that stays open) and reports each new or changed finding within a second ' +
        '(upstream checked hourly); a finding that goes away is reported at Debug level with -v. A full ' +
        'check also runs every --recheck seconds, for changes inotify does not see (chattr).',
      ...THRESHOLD_HELP.description,
    ],
    environment: JOURNAL_HELP.environment,
    files: {
      '/etc/containers/policy.json': "root's policy, and the policy of users without their own",
      '/etc/containers/registries.d/*.yaml': 'the signature lookasides',
      '~USER/.config/containers/': "a podman user's own policy.json, registries.d and storage.conf",
      '/etc/passwd, /etc/group': 'the accounts and their groups (podman, podman_dev, wheel)',
    },
    usageExitCode: 3,
    exitCodes: { 1: 'WARNING', 2: 'CRITICAL', 3: 'UNKNOWN: not run as root, a bad threshold or --recheck value, or the check could not run' },
    examples: {
      'podsec-inotify-check-policy': 'one check as a Nagios plugin, with the default thresholds -w 99 -c 100',
      'podsec-inotify-check-policy -v -w 0 -c 100': 'WARNING for any finding, CRITICAL above 100, with the findings listed',
      'podsec-inotify-check-policy --watch -c 100': 'report every drift to the journal as it happens (what the service runs)',
      'podsec-inotify-check-policy -M root': 'also mail the report to root when it is not OK',
    },
    seeAlso: ['podsec-inotify-check-images(1)', 'podsec-create-policy(1)', 'containers-policy.json(5)', 'containers-registries.d(5)'],
  },
  t,
  ({ values, root }) => {
    let options: MonitorOptions;
    try {
      options = monitorOptions(values, DEFAULTS);
    } catch (error) {
      // Nagios reads the plugin's stdout: an UNKNOWN goes there, not to stderr.
      if (error instanceof InvalidRangeError) return unknown(error.message, values.json === true);
      throw error;
    }
    if (root === '/' && (process.geteuid?.() ?? 0) !== 0) return notRoot(options.json);
    const journal = new Journal(NAME);
    const recheck = typeof values.recheck === 'string' ? values.recheck : '300';
    if (!/^\d+$/.test(recheck) || Number(recheck) < 1) return unknown(`invalid --recheck ${JSON.stringify(recheck)}`, options.json);
    if (values.watch && options.json) throw new CommandError(t('--json is for the one-shot check, not for --watch'), 3);
    if (values.watch) return watchLoop(root, options, journal, Number(recheck));
    let findings: Finding[];
    try {
      findings = evaluate(root);
    } catch (error) {
      return unknown((error as Error).message, options.json);
    }
    return reportOnce(journal, findings, options, SUBJECT);
  },
  legacyArgs(process.argv.slice(2)),
);
