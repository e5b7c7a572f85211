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
import { watch, type FSWatcher } from 'node:fs';
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { Journal } from './lib/inotify-journal.ts';
import { evaluate, watchedDirs, type Finding } from './lib/inotify-policy.ts';
import { journalLine, NOT_ROOT_LINE, reportOnce } from './lib/inotify-report.ts';
import { InvalidRangeError, legacyArgs, MAIL_OPTION, monitorOptions, THRESHOLD_OPTIONS, VERBOSE_OPTION, type MonitorOptions } from './lib/inotify-severity.ts';

const NAME = 'podsec-inotify-check-policy';
const t = translator('podsec-inotify');
const SUBJECT = 'Violation of user containerization policies';
const DEFAULTS = { journal: { c: '100' }, nagios: { c: '100' } };

const key = (f: Finding) => JSON.stringify([f.code, f.users, f.details]);

function watchLoop(root: string, options: MonitorOptions, journal: Journal, recheckSeconds: number): Promise<number> {
  const reported = new Map<number, string>();
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;

  const check = () => {
    timer = undefined;
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
    sync();
  };
  const schedule = () => {
    // Coalesce a burst (an editor's write + rename) into one check, 50 ms after the first event.
    timer ??= setTimeout(check, 50);
  };
  const sync = () => {
    const wanted = new Set(watchedDirs(root));
    for (const [dir, w] of watchers) {
      if (!wanted.has(dir)) {
        w.close();
        watchers.delete(dir);
      }
    }
    for (const dir of wanted) {
      if (watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: true }, schedule);
        w.on('error', () => {
          w.close();
          watchers.delete(dir);
          schedule();
        });
        watchers.set(dir, w);
      } catch {
        // Gone between the scan and the watch: the next check rescans.
      }
    }
  };

  check();
  if (options.verbose >= 1) journal.debug(`watching ${watchers.size} directories`);
  // inotify sees writes, renames and chmod, not `chattr +i` (no event for inode flags): a slow
  // periodic check catches what it cannot see.
  const periodic = setInterval(schedule, recheckSeconds * 1000);
  return new Promise((resolve) => {
    const stop = () => {
      clearInterval(periodic);
      for (const w of watchers.values()) w.close();
      if (timer) clearTimeout(timer);
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
    usage: ['[-v|-vv|-vvv] [-a|-f|-c|-h|-m|-l|-d RANGE]... [-w RANGE] [-M ADDRESS] [--watch] [--root DIR]'],
    options: {
      ...THRESHOLD_OPTIONS,
      ...VERBOSE_OPTION,
      ...MAIL_OPTION,
      watch: { type: 'boolean', description: 'keep running and report every change of the policies within a second (inotify)' },
      recheck: { type: 'string', valueName: 'SECONDS', description: 'with --watch: also check every SECONDS (default 300), for changes inotify cannot see' },
    },
    exitCodes: { 0: 'OK: no violation over the thresholds', 1: 'WARNING', 2: 'CRITICAL', 3: 'UNKNOWN: not run as root, or a bad threshold' },
  },
  t,
  ({ values, root }) => {
    let options: MonitorOptions;
    try {
      options = monitorOptions(values, DEFAULTS);
    } catch (error) {
      if (error instanceof InvalidRangeError) throw new CommandError(`POLICY UNKNOWN: ${error.message}`, 3);
      throw error;
    }
    if (root === '/' && (process.geteuid?.() ?? 0) !== 0) {
      process.stdout.write(`${NOT_ROOT_LINE}\n`);
      return 3;
    }
    const journal = new Journal(NAME);
    const recheck = typeof values.recheck === 'string' ? values.recheck : '300';
    if (!/^\d+$/.test(recheck) || Number(recheck) < 1) throw new CommandError(`POLICY UNKNOWN: invalid --recheck ${JSON.stringify(recheck)}`, 3);
    if (values.watch) return watchLoop(root, options, journal, Number(recheck));
    let findings: Finding[];
    try {
      findings = evaluate(root);
    } catch (error) {
      process.stdout.write(`POLICY UNKNOWN: ${(error as Error).message}\n`);
      return 3;
    }
    return reportOnce(journal, findings, options, SUBJECT);
  },
  legacyArgs(process.argv.slice(2)),
);
