/**
 * podsec-inotify-check-containers [-v] [--root DIR]
 *
 * Watches the overlay layers of root's, every user's and u7s-admin's container storage (layers
 * created later included) and reports changed files in containers to the journal: binaries and
 * everything else Critical, /etc and home directories Warning; creation, deletion, modification,
 * moves and attribute changes (chmod, chown, touch). File names are data: they are read from
 * inotifywait as NUL-separated bytes and logged in JSON quotes; nothing is ever evaluated.
 * Events of one layer are coalesced for half a second, and a layer that is being removed (podman
 * rmi) is reported once at Debug level instead of one alert per file.
 */
import { runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { classify, EXCLUDE, locate, overlayRoots, WATCHED_EVENTS } from './inotify/containers.ts';
import { Journal, JOURNAL_HELP } from './inotify/journal.ts';
import { VERBOSE_OPTION, legacyArgs } from './inotify/severity.ts';
import { TreeWatch } from './inotify/watch.ts';

const NAME = 'podsec-inotify-check-containers';
const t = translator('podsec-inotify');
const FLUSH_MS = 500;
const RESCAN_MS = 10_000;
const MAX_LISTED = 20;

interface Pending {
  events: Map<string, Set<string>>; // inner path -> event names
  removed: boolean;
  timer: NodeJS.Timeout;
}

runCommand(
  {
    name: NAME,
    summary: 'Watch the files of running containers and report changes to the journal.',
    usage: ['[-v] [--root DIR]'],
    options: { ...VERBOSE_OPTION },
    description: [
      'A daemon (podsec-inotify-check-containers.service) that runs until SIGTERM or SIGINT. With ' +
        "inotifywait it watches the overlay layers of root's container storage, of every user's " +
        "rootless storage and of u7s-admin's usernetes storage; a storage that appears later is picked " +
        'up within 10 seconds, and layers created later (a pull, a new container) at once.',
      'Every file created, deleted, modified, moved or whose attributes change (chmod, chown, touch) ' +
        "inside a layer's diff tree is a change of a file in a container and goes to the journal, tagged " +
        'podsec-inotify-check-containers: "<Severity>: An event <EVENTS> occurred in the container ' +
        '<layer> [in configuration directory|in home directory] on the file \"<path>\"", where <layer> is ' +
        'the overlay layer ID and <path> the path inside the container. Changes under /etc are Warning ' +
        '(in configuration directory), under /home and /root Warning (in home directory), everything else ' +
        'Critical. /var, /tmp, /run, /proc, /dev and /sys of the containers are not watched.',
      'Events of one layer are gathered for half a second: more than 20 changed files give one line ' +
        'with their number and five of the names, at the most severe level among them. A layer that is ' +
        'being removed (podman rmi, podman rm) is not reported (Debug with -v).',
      'Directories are watched from the top down: a directory made in a layer while the watch on its ' +
        'parent was being set up is found and watched too, and the files a new directory already holds ' +
        'are reported once (CREATE). On SIGUSR1 it reports at once what it has gathered and logs at Debug ' +
        'level how many directories it watches, once every change made before the signal has been ' +
        'handled.',
      'File names are data: inotifywait passes them NUL-separated, they are logged in JSON quotes, so a ' +
        'name with quotes, $(...) or a newline is logged verbatim and nothing runs (upstream evaluated ' +
        'them as root). Only storages using the overlay graph driver are watched.',
    ],
    environment: JOURNAL_HELP.environment,
    files: {
      '/var/lib/containers/storage/overlay/': "root's container layers",
      '~USER/.local/share/containers/storage/overlay/': "the layers of a user's rootless containers",
      '/var/lib/u7s-admin/.local/share/usernetes/': 'the rootless Kubernetes node, with its layers in containers/storage/overlay/',
    },
    // It runs until SIGTERM or SIGINT and then exits 0; only the common codes (0, 2, 70) apply.
    exitCodes: {},
    examples: {
      'podsec-inotify-check-containers': 'watch (what the service runs)',
      'podsec-inotify-check-containers -v': 'also log new and removed layers and the number of watched storages at Debug level',
    },
    seeAlso: ['podsec-inotify-check-policy(1)', 'inotifywait(1)', 'podman(1)'],
  },
  t,
  ({ values, root }) => {
    const verbose = Array.isArray(values.verbose) ? values.verbose.length : 0;
    const journal = new Journal(NAME);
    let roots: string[] = [];
    let watch: TreeWatch | undefined;
    const pending = new Map<string, Pending>(); // overlay/layer -> events

    const flush = (key: string, layer: string) => {
      const p = pending.get(key);
      pending.delete(key);
      if (!p) return;
      if (p.removed) {
        if (verbose >= 1) journal.debug(`layer ${layer} removed (${p.events.size} files)`);
        return;
      }
      const entries = [...p.events];
      if (entries.length > MAX_LISTED) {
        const worst = entries.some(([inner]) => classify(inner).word === 'Critical') ? 'Critical' : 'Warning';
        const sample = entries
          .slice(0, 5)
          .map(([inner]) => JSON.stringify(inner))
          .join(', ');
        journal.report(worst, `${entries.length} files changed in the container ${layer}, among them ${sample}`);
        return;
      }
      for (const [inner, events] of entries) {
        const { word, where } = classify(inner);
        journal.report(
          word,
          `An event ${[...events].join(',')} occurred in the container ${layer}${where ? ` ${where}` : ''} on the file ${JSON.stringify(inner)}`,
        );
      }
    };

    const onEvent = (path: string, events: string[]) => {
      const located = locate(path, roots);
      if (!located) return;
      const key = `${located.overlay}/${located.layer}`;
      if (located.inner === undefined) {
        // The layer directory itself: created (a pull or a new container) or removed (rmi, rm).
        if (events.includes('DELETE') || events.includes('DELETE_SELF') || events.includes('MOVED_FROM')) {
          const p = pending.get(key);
          if (p) p.removed = true;
        } else if (events.includes('CREATE') && verbose >= 1) journal.debug(`new layer ${located.layer}`);
        return;
      }
      if (located.inner === '/' && (events.includes('DELETE_SELF') || events.includes('DELETE'))) {
        const p = pending.get(key);
        if (p) p.removed = true;
        return;
      }
      // The diff directory itself appearing is part of making the layer, not a file of the container.
      if (located.inner === '/' && events.includes('CREATE')) return;
      if (events.includes('IGNORED') || events.includes('DELETE_SELF')) return;
      let p = pending.get(key);
      if (!p) {
        p = { events: new Map(), removed: false, timer: setTimeout(() => flush(key, located.layer), FLUSH_MS) };
        pending.set(key, p);
      }
      const set = p.events.get(located.inner) ?? new Set<string>();
      for (const e of events) if (e !== 'ISDIR') set.add(e);
      p.events.set(located.inner, set);
    };

    const report = (what: string) => {
      if (verbose >= 1) journal.debug(`watching ${roots.length} container storage directories (${what})`);
    };

    // Every directory below the storages is watched top-down (TreeWatch): one made while the watch
    // on its parent was being set up is found and watched too, and what a new directory already
    // holds is reported once.
    const start = () => {
      roots = overlayRoots(root);
      if (roots.length === 0) {
        if (verbose >= 1) journal.debug('no container storage yet');
        return;
      }
      watch = new TreeWatch({
        roots,
        events: WATCHED_EVENTS,
        exclude: new RegExp(EXCLUDE),
        onEvent: (e) => onEvent(e.path, e.events),
        onError: (line) => {
          if (/upper limit on inotify watches|No space left on device/.test(line))
            journal.report('Fatal', `inotify watch limit reached: raise fs.inotify.max_user_watches (${line})`);
          else journal.report('Fatal', `inotifywait: ${line}`);
        },
      });
      void watch.settled().then(() => report(`${watch?.size ?? 0} directories`));
    };

    start();
    // New storage (a user's first podman run, a fresh u7s-admin) appears in a tree not yet watched.
    const rescan = setInterval(() => {
      const now = overlayRoots(root);
      if (now.join('\n') === roots.join('\n')) return;
      if (!watch) return start();
      const added = now.filter((r) => !roots.includes(r));
      roots = now;
      if (added.length) void watch.add(added).then(() => report(`${watch?.size ?? 0} directories`));
    }, RESCAN_MS);

    const flushAll = () => {
      for (const [key, p] of pending) {
        clearTimeout(p.timer);
        flush(key, key.slice(key.lastIndexOf('/') + 1));
      }
    };

    // SIGUSR1: once every change made before it is handled and every directory found is watched,
    // report what is gathered and log how many directories are watched (Debug). Monitoring checks
    // and the tests use it.
    process.on('SIGUSR1', () => {
      if (!watch) return journal.debug('synced: no container storage yet');
      const current = watch;
      void current.sync().then(() => {
        flushAll();
        journal.debug(`synced: watching ${current.size} directories in ${roots.length} container storage directories`);
      });
    });

    return new Promise<number>((resolve) => {
      const stop = () => {
        clearInterval(rescan);
        watch?.stop();
        flushAll();
        resolve(0);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  },
  legacyArgs(process.argv.slice(2)),
);
