/**
 * The frame of the pipeline's side commands (npm run image, cluster, k8s-tools; the lint's and the
 * repository's command lines), as bin/lib/command.ts is for the installed programs: options through
 * node:util parseArgs with --help (-h) added, the usage on stdout for --help, and the error contract:
 * a usage error prints `NAME: message` and the usage on stderr and exits 2, any other failure prints
 * `NAME: message` (or its stack, for an error the command does not expect) and exits 1.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Wrong arguments: reported with the usage, exit code 2. */
export class UsageError extends Error {}

interface ScriptSpec<O extends Options> {
  /** The prefix of every error line. */
  name: string;
  usage: string;
  options: O;
  /** Whether the command takes arguments besides its options (default: none, one is a usage error). */
  positionals?: boolean;
  /** Whether a failure of this kind is reported by its message alone (default: every failure). */
  expected?: (error: Error) => boolean;
}

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

export interface ScriptArgs<O extends Options> {
  values: ReturnType<typeof parseArgs<{ options: O & typeof HELP; allowPositionals: true }>>['values'];
  positionals: string[];
  /** The arguments as given, for a command that reads past `--` itself. */
  argv: string[];
}

export function runScript<const O extends Options>(spec: ScriptSpec<O>, main: (args: ScriptArgs<O>) => Promise<number>): void {
  const argv = process.argv.slice(2);
  const run = async (): Promise<number> => {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, allowPositionals: true, options: { ...spec.options, ...HELP } });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if ((parsed.values as { help?: boolean }).help) {
      process.stdout.write(`${spec.usage}\n`);
      return 0;
    }
    if (!spec.positionals && parsed.positionals.length > 0) throw new UsageError(`unexpected argument: ${parsed.positionals[0]}`);
    return main({ values: parsed.values as ScriptArgs<O>['values'], positionals: parsed.positionals, argv });
  };
  run().then(
    (code) => process.exit(code),
    (error: unknown) => {
      const e = error instanceof Error ? error : new Error(String(error));
      if (e instanceof UsageError) {
        process.stderr.write(`${spec.name}: ${e.message}\n${spec.usage}\n`);
        process.exit(2);
      }
      process.stderr.write(`${spec.name}: ${(spec.expected ?? (() => true))(e) ? e.message : (e.stack ?? e.message)}\n`);
      process.exit(1);
    },
  );
}
