/**
 * podsec-inotify-check-kubeapi -d | -m
 *
 * -d: follows the kube-apiserver audit log and reports every request refused with 403 (or 401)
 *     to the journal with user, verb and resource, appending it to forbidden.log. A cursor in the
 *     state directory makes restarts continue where they stopped; log rotation (rename + new file)
 *     loses nothing.
 * -m: the periodic digest: summarises forbidden.log (per user, verb and resource) in the journal
 *     and, with --mail, by mail, then starts a new forbidden.log (the previous one is kept as
 *     forbidden.log.1). Upstream's timer passed shell redirections as arguments and never ran.
 */
import { appendFileSync, existsSync, readFileSync, renameSync, watch } from 'node:fs';
import { join } from 'node:path';
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { describe, forbidden, loadCursor, readNew, type Cursor } from './inotify/audit.ts';
import { Journal, sendMail, JOURNAL_HELP } from './inotify/journal.ts';
import { MAIL_OPTION, VERBOSE_OPTION } from './inotify/severity.ts';
import { atomicWrite, safeMkdir } from './lib/safe-fs.ts';

const NAME = 'podsec-inotify-check-kubeapi';
const t = translator('podsec-inotify');
const AUDIT_LOG = '/etc/kubernetes/audit/audit.log';
const STATE_DIR = '/var/lib/podsec/u7s/log/kubeapi';

function daemon(root: string, auditLog: string, stateDir: string, journal: Journal, verbose: number): Promise<number> {
  const cursorPath = join(stateDir, 'cursor.json');
  const eventsPath = join(stateDir, 'forbidden.log');
  let cursor: Cursor | undefined = loadCursor(cursorPath);
  let skipped = 0;
  const poll = () => {
    const result = readNew(auditLog, cursor);
    const out: string[] = [];
    for (const line of result.lines) {
      const event = forbidden(line);
      if (!event) {
        if (!line.trimStart().startsWith('{')) skipped++;
        continue;
      }
      if (cursor?.lastTime && event.time && event.time < cursor.lastTime) continue;
      journal.report('Critical', describe(event));
      out.push(JSON.stringify([event.time, event.sourceIP, event.user, event.verb, event.resource, event.namespace ?? null, event.message]));
      result.cursor.lastTime = event.time || result.cursor.lastTime;
    }
    if (out.length > 0) appendFileSync(eventsPath, out.join('\n') + '\n', { mode: 0o600 });
    if (JSON.stringify(result.cursor) !== JSON.stringify(cursor)) {
      cursor = result.cursor;
      atomicWrite(cursorPath, JSON.stringify(cursor) + '\n', { mode: 0o600, root });
    }
    if (skipped > 0 && verbose >= 1) {
      journal.debug(`${skipped} lines of the audit log are not JSON`);
      skipped = 0;
    }
  };
  poll();
  if (verbose >= 1) journal.debug(`following ${JSON.stringify(auditLog)}`);
  let timer: NodeJS.Timeout | undefined;
  const soon = () => {
    timer ??= setTimeout(() => {
      timer = undefined;
      poll();
    }, 20);
  };
  let watcher: ReturnType<typeof watch> | undefined;
  try {
    watcher = watch(join(auditLog, '..'), soon);
  } catch {
    watcher = undefined; // the directory appears with the cluster: the poll below covers it
  }
  const interval = setInterval(poll, 2000);
  return new Promise((resolve) => {
    const stop = () => {
      clearInterval(interval);
      watcher?.close();
      if (timer) clearTimeout(timer);
      poll();
      resolve(0);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

/** The --json document of -m, described by policies/schemas/podsec-inotify-check-kubeapi.schema.ts; keys never translated. */
interface DigestJson {
  total: number;
  from: string | null;
  to: string | null;
  requests: { user: string; verb: string; resource: string; namespace: string | null; count: number }[];
}

function digest(stateDir: string, journal: Journal, mailTo: string | undefined, json: boolean): number {
  const eventsPath = join(stateDir, 'forbidden.log');
  const print = (doc: DigestJson) => {
    if (json) process.stdout.write(JSON.stringify(doc) + '\n');
    return 0;
  };
  if (!existsSync(eventsPath)) return print({ total: 0, from: null, to: null, requests: [] });
  const previous = `${eventsPath}.1`;
  renameSync(eventsPath, previous);
  const counts = new Map<string, number>();
  const requests = new Map<string, DigestJson['requests'][number]>();
  let first = '';
  let last = '';
  let total = 0;
  for (const line of readFileSync(previous, 'utf8').split('\n')) {
    if (line === '') continue;
    let fields: unknown[];
    try {
      fields = JSON.parse(line);
    } catch {
      continue;
    }
    if (!Array.isArray(fields)) continue;
    total++;
    const [time, , user, verb, resource, namespace] = fields as string[];
    first ||= time ?? '';
    last = time ?? last;
    const key = `user ${JSON.stringify(user)} ${JSON.stringify(verb)} ${JSON.stringify(resource)}${namespace ? ` in ${JSON.stringify(namespace)}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const request = requests.get(key) ?? {
      user: String(user),
      verb: String(verb),
      resource: String(resource),
      namespace: namespace ? String(namespace) : null,
      count: 0,
    };
    request.count++;
    requests.set(key, request);
  }
  if (total === 0) return print({ total: 0, from: null, to: null, requests: [] });
  const summary = [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([key, n]) => `${key} ×${n}`)
    .join('; ');
  const text = `${total} forbidden requests to the Kubernetes API from ${first} to ${last}: ${summary}`;
  journal.report('Low', text);
  if (mailTo) sendMail(journal, mailTo, 'Detected requests to the kubernetes cluster with excess authority', `${text}\n\n${readFileSync(previous, 'utf8')}`);
  return print({ total, from: first || null, to: last || null, requests: [...requests.values()].sort((a, b) => b.count - a.count) });
}

const argv = process.argv.slice(2).map((a) => (a === '-d' ? '--daemon' : a === '-m' ? '--digest' : a));

runCommand(
  {
    name: NAME,
    summary: 'Report forbidden Kubernetes API requests from the audit log (-d), or a digest of them (-m).',
    usage: ['-d|-m [--json] [--audit-log FILE] [--state-dir DIR] [-M ADDRESS] [-v] [--root DIR]'],
    options: {
      daemon: { type: 'boolean', description: 'follow the audit log and report forbidden requests (-d)' },
      digest: { type: 'boolean', description: 'report a digest of the requests seen since the last digest (-m)' },
      'audit-log': { type: 'string', valueName: 'FILE', description: 'the kube-apiserver audit log (default /etc/kubernetes/audit/audit.log)' },
      'state-dir': { type: 'string', valueName: 'DIR', description: 'where the cursor and forbidden.log are kept (default /var/lib/podsec/u7s/log/kubeapi)' },
      ...MAIL_OPTION,
      ...VERBOSE_OPTION,
      json: { type: 'boolean', description: 'with -m: also print the digest as one JSON document on standard output' },
    },
    positionals: true,
    description: [
      'Exactly one of -d and -m is given. With -d (podsec-inotify-check-kubeapi.service) the command ' +
        'follows the kube-apiserver audit log and reports every completed request refused with 403 (not ' +
        'allowed) or 401 (not authenticated) as one Critical journal entry tagged ' +
        'podsec-inotify-check-kubeapi: "Critical: Forbidden request (403) of user \"U\": verb \"V\" ' +
        'resource \"R\" namespace \"N\" name \"O\" from \"IP\" at TIME: \"MESSAGE\"", and appends it to ' +
        'forbidden.log in the state directory. Lines that are not audit events are skipped, not fatal.',
      "A cursor in the state directory (cursor.json: the log's inode, the offset read and the time of " +
        'the last reported event) lets a restarted daemon continue where it stopped, without reporting ' +
        'old events again and without losing new ones (upstream replayed up to a million lines). When ' +
        'kube-apiserver rotates the log (renames audit.log to audit-<time>.log and opens a new ' +
        'audit.log), the rest of the renamed file is read before the new one. The log is watched with ' +
        'inotify and read at least every 2 seconds.',
      'With -m (the hourly podsec-inotify-check-kubeapi-mail.timer) the requests gathered since the ' +
        'previous digest are summarised: forbidden.log is renamed to forbidden.log.1, its requests ' +
        'counted per user, verb, resource and namespace, and the summary logged as one Low entry ("N ' +
        'forbidden requests to the Kubernetes API from T1 to T2: …") and, with -M, mailed together with ' +
        'the requests themselves. Without a forbidden.log, or with an empty one, nothing is reported. ' +
        "Upstream's timer passed shell redirections as arguments and never ran.",
      'With -m --json the digest is also printed on standard output as one JSON document: {"total": N, ' +
        '"from": TIME|null, "to": TIME|null, "requests": [{"user": U, "verb": V, "resource": R, ' +
        '"namespace": NS|null, "count": N}...]}, the requests sorted by count, most frequent first; ' +
        'without requests total is 0 and the list empty. The journal entry and the mail are the same as ' +
        'without --json; the keys are never translated.',
    ],
    environment: JOURNAL_HELP.environment,
    files: {
      '/etc/kubernetes/audit/audit.log': 'the kube-apiserver audit log (--audit-log), and its rotated audit-<time>.log files',
      '/var/lib/podsec/u7s/log/kubeapi/cursor.json': 'where -d stopped reading (--state-dir)',
      '/var/lib/podsec/u7s/log/kubeapi/forbidden.log':
        'the refused requests since the last digest, one JSON array a line: time, source address, user, ' + 'verb, resource, namespace, message',
      '/var/lib/podsec/u7s/log/kubeapi/forbidden.log.1': 'the requests of the last digest',
    },
    usageExitCode: 1,
    exitCodes: { 1: 'not exactly one of -d and -m, or an argument that is not an option' },
    examples: {
      'podsec-inotify-check-kubeapi -d': 'follow the audit log (what the service runs)',
      'podsec-inotify-check-kubeapi -m -M security@example.org': 'log the digest and mail it',
      'podsec-inotify-check-kubeapi -d --audit-log /var/log/kubernetes/audit.log': 'follow an audit log kept elsewhere',
    },
    seeAlso: ['podsec-inotify-check-policy(1)', 'podsec-k8s-rbac-get-userroles(1)', 'kube-apiserver(1)'],
  },
  t,
  ({ values, positionals, root }) => {
    if (positionals.length > 0 || (values.daemon ? 1 : 0) + (values.digest ? 1 : 0) !== 1) {
      throw new CommandError(positionals.length > 0 ? t('Invalid value for 1st parameter') : t('Invalid number of parameters'), 1);
    }
    const auditLog = join(root, typeof values['audit-log'] === 'string' ? values['audit-log'] : AUDIT_LOG);
    const stateDir = join(root, typeof values['state-dir'] === 'string' ? values['state-dir'] : STATE_DIR);
    safeMkdir(stateDir, { mode: 0o700, root });
    const journal = new Journal(NAME);
    const verbose = Array.isArray(values.verbose) ? values.verbose.length : 0;
    const mailTo = typeof values.mail === 'string' ? values.mail : undefined;
    if (values.json && values.daemon) throw new CommandError(t('--json goes with -m, not with -d'), 1);
    return values.daemon ? daemon(root, auditLog, stateDir, journal, verbose) : digest(stateDir, journal, mailTo, values.json === true);
  },
  argv,
);
