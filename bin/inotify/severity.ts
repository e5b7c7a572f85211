/**
 * Severity scales and thresholds of the podsec-inotify monitors.
 *
 * Journal scale (the untranslated word starts the message; nagwad maps the word, not the priority):
 * Crash 0, Fatal 1, Critical 2, High 3, Middle 4, Low 5, Debug 6. Nagios scale: CRITICAL 2,
 * WARNING 1. A threshold is a Nagios range (https://nagios-plugins.org/doc/guidelines.html#THRESHOLDFORMAT):
 * `N` = 0..N, `N:` = N..∞, `~:N` = -∞..N, `A:B`, and a leading `@` inverts; a level fires when the
 * metric is outside its range (inside, with @). Levels are tried in severity order, most severe
 * first (upstream used bash's hash order, so `-w 0 -h 0 -c 100` gave High for 101).
 */

interface Level {
  key: string;
  word: string;
  /** syslog priority for the journal scale, exit code for the nagios scale */
  code: number;
  option: string;
}

export const JOURNAL_LEVELS: readonly Level[] = [
  { key: 'a', word: 'Crash', code: 0, option: 'crash' },
  { key: 'f', word: 'Fatal', code: 1, option: 'fatal' },
  { key: 'c', word: 'Critical', code: 2, option: 'critical' },
  { key: 'h', word: 'High', code: 3, option: 'high' },
  { key: 'm', word: 'Middle', code: 4, option: 'middle' },
  { key: 'l', word: 'Low', code: 5, option: 'low' },
  { key: 'd', word: 'Debug', code: 6, option: 'debug' },
];

export const NAGIOS_LEVELS: readonly Level[] = [
  { key: 'c', word: 'CRITICAL', code: 2, option: 'critical' },
  { key: 'w', word: 'WARNING', code: 1, option: 'warning' },
];

export const JOURNAL_PRIORITY = { Crash: 0, Fatal: 1, Critical: 2, High: 3, Middle: 4, Warning: 5, Low: 5, Debug: 6 } as const;
export type JournalWord = keyof typeof JOURNAL_PRIORITY;

interface Range {
  low: number;
  high: number;
  /** `@`: alert when inside. */
  inside: boolean;
  text: string;
}

export class InvalidRangeError extends Error {
  constructor(readonly text: string) {
    super(`invalid threshold range ${JSON.stringify(text)}`);
  }
}

const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)$/;

export function parseRange(text: string): Range {
  let body = text;
  const inside = body.startsWith('@');
  if (inside) body = body.slice(1);
  let low = 0;
  let high = Infinity;
  const colon = body.indexOf(':');
  if (colon < 0) {
    if (!NUMBER.test(body)) throw new InvalidRangeError(text);
    high = Number(body);
  } else {
    const start = body.slice(0, colon);
    const end = body.slice(colon + 1);
    if (start === '~') low = -Infinity;
    else if (start === '') low = 0;
    else if (NUMBER.test(start)) low = Number(start);
    else throw new InvalidRangeError(text);
    if (end === '') high = Infinity;
    else if (NUMBER.test(end)) high = Number(end);
    else throw new InvalidRangeError(text);
  }
  if (low > high) throw new InvalidRangeError(text);
  return { low, high, inside, text };
}

/** Whether `value` raises an alert for this range. */
export function alerts(range: Range, value: number): boolean {
  const within = value >= range.low && value <= range.high;
  return range.inside ? within : !within;
}

type Thresholds = Map<string, Range>;

/** The most severe level whose threshold fires for `value`, or undefined. */
export function levelFor(levels: readonly Level[], thresholds: Thresholds, value: number): Level | undefined {
  return levels.find((level) => {
    const range = thresholds.get(level.key);
    return range !== undefined && alerts(range, value);
  });
}

export interface MonitorOptions {
  journal: Thresholds;
  nagios: Thresholds;
  verbose: number;
  mailTo?: string;
  /** --json: one JSON document on stdout instead of the Nagios status line. */
  json?: boolean;
}

/**
 * Upstream's option letters: -a -f -c -h -m -l -d set journal thresholds, -c and -w nagios ones,
 * -v… the verbosity, -M the mail address. They are rewritten into long options before parsing,
 * because -h and -V belong to --help and --version in the common frame.
 */
const LEGACY_LETTERS: Record<string, string> = {
  '-a': '--crash',
  '-f': '--fatal',
  '-c': '--critical',
  '-h': '--high',
  '-m': '--middle',
  '-l': '--low',
  '-d': '--debug',
  '-w': '--warning',
  '-M': '--mail',
};

/**
 * Rewrites a command line before it is parsed, one argument at a time; `--` and what follows it
 * are kept as they are. `step` gives what stands in the argument's place, and `skipNext` drops
 * the argument after it (an ignored option's value).
 */
export function rewriteArgs(argv: string[], step: (arg: string, next: string | undefined) => { out: string[]; skipNext?: boolean }): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const result = step(arg, argv[i + 1]);
    out.push(...result.out);
    if (result.skipNext) i++;
  }
  return out;
}

export function legacyArgs(argv: string[], letters: Record<string, string> = LEGACY_LETTERS): string[] {
  return rewriteArgs(argv, (arg, next) => {
    const verbose = /^-(v+)$/.exec(arg);
    if (verbose) return { out: Array<string>(verbose[1]!.length).fill('--verbose') };
    return { out: [letters[arg] && next !== undefined ? letters[arg]! : arg] };
  });
}

const RANGE = { type: 'string' as const, valueName: 'RANGE' };

/** The help paragraphs of the monitors that take THRESHOLD_MONITOR_OPTIONS. */
export const THRESHOLD_HELP = {
  description: [
    'With --json the command prints one JSON document instead of the status line and of the findings ' +
      'of -v: {"status": "OK"|"WARNING"|"CRITICAL"|"UNKNOWN", "exitCode": N, "violations": SUM, ' +
      '"findings": [{"code": N, "weight": N, "severity": LEVEL|null, "users": [USER...], "message": ' +
      'TEXT, "details": [TEXT...]}...]}; severity is the journal level the finding crosses (null when ' +
      'it is not logged), and an UNKNOWN has "reason" instead of "violations" and no findings. The exit ' +
      'code, the journal entries and the mail are the same as without --json; the keys are never ' +
      'translated.',
    'Thresholds are Nagios ranges: N means 0 to N, N: at least N, ~:N at most N, A:B from A to B, and ' +
      'a leading @ inverts the range; a level fires when the value is outside its range. Levels are ' +
      'tried from the most severe (Crash, Fatal, Critical, High, Middle, Low, Debug; CRITICAL before ' +
      'WARNING), so -w 0 -c 100 gives CRITICAL for 101. -c sets both the journal Critical and the ' +
      'Nagios CRITICAL threshold. Without any threshold option the journal and Nagios thresholds are -c ' +
      "100. Upstream's letters work as before: -a -f -c -h -m -l -d and -w take a range, -v -vv -vvv " +
      'set the detail, -M the mail address.',
  ],
};

/** One option per journal level plus `warning`; the texts are literals so the message extractor finds them. */
const THRESHOLD_OPTIONS: Record<string, { type: 'string'; valueName: string; description: string }> = {
  crash: { ...RANGE, description: 'journal threshold for Crash (-a), a Nagios range' },
  fatal: { ...RANGE, description: 'journal threshold for Fatal (-f), a Nagios range' },
  critical: { ...RANGE, description: 'journal and Nagios CRITICAL threshold (-c), a Nagios range' },
  high: { ...RANGE, description: 'journal threshold for High (-h), a Nagios range' },
  middle: { ...RANGE, description: 'journal threshold for Middle (-m), a Nagios range' },
  low: { ...RANGE, description: 'journal threshold for Low (-l), a Nagios range' },
  debug: { ...RANGE, description: 'journal threshold for Debug (-d), a Nagios range' },
  warning: { ...RANGE, description: 'Nagios WARNING threshold (-w), a Nagios range' },
};

export const VERBOSE_OPTION = { verbose: { type: 'boolean' as const, short: 'v', multiple: true, description: 'more detail in messages (-v, -vv, -vvv)' } };
const JSON_OPTION = { json: { type: 'boolean' as const, description: 'print the result as one JSON document instead of the Nagios status line' } };
export const MAIL_OPTION = { mail: { type: 'string' as const, short: 'M', valueName: 'ADDRESS', description: 'also mail the report to ADDRESS' } };
/** The options of the monitors that report through thresholds (check-images, check-policy). */
export const THRESHOLD_MONITOR_OPTIONS = { ...THRESHOLD_OPTIONS, ...VERBOSE_OPTION, ...MAIL_OPTION, ...JSON_OPTION };

/** Thresholds from parsed option values; `defaults` apply when no threshold option is given at all. */
export function monitorOptions(
  values: Record<string, unknown>,
  defaults: { journal?: Record<string, string>; nagios?: Record<string, string> } = {},
): MonitorOptions {
  const journal: Thresholds = new Map();
  const nagios: Thresholds = new Map();
  let any = false;
  for (const level of JOURNAL_LEVELS) {
    const v = values[level.option];
    if (typeof v === 'string') {
      journal.set(level.key, parseRange(v));
      any = true;
    }
  }
  if (typeof values.critical === 'string') nagios.set('c', parseRange(values.critical));
  if (typeof values.warning === 'string') {
    nagios.set('w', parseRange(values.warning));
    any = true;
  }
  if (!any) {
    for (const [k, v] of Object.entries(defaults.journal ?? {})) journal.set(k, parseRange(v));
    for (const [k, v] of Object.entries(defaults.nagios ?? {})) nagios.set(k, parseRange(v));
  }
  const verbose = Array.isArray(values.verbose) ? Math.min(values.verbose.length, 3) : 0;
  const mailTo = typeof values.mail === 'string' ? values.mail : undefined;
  if (mailTo !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._%+-]*(@[A-Za-z0-9.-]+)?$/.test(mailTo)) throw new InvalidRangeError(`mail address ${mailTo}`);
  return { journal, nagios, verbose, mailTo, json: values.json === true };
}
