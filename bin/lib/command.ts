/**
 * The frame every podsec program runs in: option parsing (node:util parseArgs, long options),
 * --help, --version, --root, and the error contract — one clear line on stderr and a non-zero exit.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

declare const PODSEC_VERSION: string | undefined;
const VERSION = typeof PODSEC_VERSION === 'string' ? PODSEC_VERSION : 'development';

/**
 * An expected failure: its message is printed as is, the process exits with `exitCode`.
 * Errors of other classes that carry `expected = true` (UnsafePathError, PolicySyntaxError)
 * are treated the same way with exit code 1.
 */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** The value's name in help, for string options. */
  valueName?: string;
  description: string;
  multiple?: boolean;
}

/**
 * Everything a user can learn about a command. --help, the man pages (en, ru) and the bash
 * completion are all generated from this one definition, so fill the optional parts too:
 * every string is an English msgid that goes through the translation function.
 */
export interface CommandSpec {
  name: string;
  /** One line: what the command does. */
  summary: string;
  /** Synopsis lines after the program name, e.g. '[--root DIR]'. */
  usage: string[];
  options: Record<string, OptionSpec>;
  /** Whether positional arguments are accepted. */
  positionals?: boolean;
  /** Paragraphs for the DESCRIPTION section of the man page. */
  description?: string[];
  /** Environment variables the command reads: name -> what it does. */
  environment?: Record<string, string>;
  /** Files the command reads or writes: path -> what it is. */
  files?: Record<string, string>;
  /** Exit codes: code -> meaning (0 and the common ones are added for you). */
  exitCodes?: Record<number, string>;
  /** Examples: command line -> what it does. */
  examples?: Record<string, string>;
  /** Related commands, e.g. 'podsec-create-policy(1)'. */
  seeAlso?: string[];
}

const COMMON_OPTIONS: Record<string, OptionSpec> = {
  root: { type: 'string', valueName: 'DIR', description: 'operate on the file tree under DIR instead of /' },
  help: { type: 'boolean', short: 'h', description: 'show this help and exit' },
  version: { type: 'boolean', short: 'V', description: 'show the version and exit' },
};

export interface Invocation {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
  /** The --root prefix, absolute; '/' when not given. */
  root: string;
}

/**
 * The reader of our stdout or stderr went away (`| head`): stop at once and quietly, with the
 * status a tool killed by SIGPIPE has (128 + 13). Node ignores SIGPIPE and reports the closed
 * pipe as an 'error' event, which would otherwise end the program with a stack trace.
 */
export const EXIT_CLOSED_PIPE = 141;

function exitQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(EXIT_CLOSED_PIPE);
      throw error;
    });
  }
}

type Translate = (msgid: string, params?: Record<string, string | number>) => string;

/**
 * Set by the build: print the command's definition as JSON and exit, so man pages, completion
 * and help checks are generated from the same definition the program parses with.
 */
export const DESCRIBE_ENV = 'PODSEC_DESCRIBE';

export interface CommandDescription {
  spec: CommandSpec;
  commonOptions: Record<string, OptionSpec>;
  domain: string | undefined;
}

export function helpText(spec: CommandSpec, t: Translate): string {
  const all = { ...spec.options, ...COMMON_OPTIONS };
  const lines = [`${t('Usage:')} ${spec.usage.map((u) => `${spec.name} ${u}`).join(`\n       `)}`, '', t(spec.summary), '', t('Options:')];
  const column = (name: string, o: OptionSpec) => `${o.short ? `-${o.short}, ` : '    '}--${name}${o.valueName ? ` ${o.valueName}` : ''}`;
  const width = Math.max(...Object.entries(all).map(([n, o]) => column(n, o).length));
  for (const [name, option] of Object.entries(all)) lines.push(`  ${column(name, option).padEnd(width)}  ${t(option.description)}`);
  return lines.join('\n') + '\n';
}

function parse(spec: CommandSpec, argv: string[], t: Translate): Invocation {
  const options: ParseArgsConfig['options'] = {};
  for (const [name, o] of Object.entries({ ...spec.options, ...COMMON_OPTIONS })) {
    options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CommandError(t('{message}; see --help', { message: (error as Error).message }), 2);
  }
  if (!spec.positionals && parsed.positionals.length > 0) {
    throw new CommandError(t('unexpected argument: {arg}; see --help', { arg: parsed.positionals[0]! }), 2);
  }
  const rootValue = parsed.values.root;
  let root = '/';
  if (typeof rootValue === 'string') {
    root = resolve(rootValue);
    let isDir = false;
    try {
      isDir = statSync(root).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) throw new CommandError(t('--root {dir}: not a directory', { dir: rootValue }), 2);
  }
  return { values: parsed.values, positionals: parsed.positionals, root };
}

/** Runs a program's main function inside the common frame and exits the process. */
export function runCommand(
  spec: CommandSpec,
  t: Translate,
  main: (invocation: Invocation) => Promise<number | void> | number | void,
  argv: string[] = process.argv.slice(2),
): void {
  exitQuietlyOnClosedPipe();
  const finish = (code: number) => {
    process.exitCode = code;
  };
  const fail = (error: unknown) => {
    if (error instanceof CommandError || (error as { expected?: unknown })?.expected === true) {
      process.stderr.write(`${spec.name}: ${(error as Error).message}\n`);
      finish(error instanceof CommandError ? error.exitCode : 1);
    } else {
      process.stderr.write(`${spec.name}: ${t('internal error: {message}', { message: (error as Error)?.message ?? String(error) })}\n`);
      finish(70);
    }
  };
  if (process.env[DESCRIBE_ENV] === '1') {
    const description: CommandDescription = { spec, commonOptions: COMMON_OPTIONS, domain: (t as { domain?: string }).domain };
    process.stdout.write(JSON.stringify(description) + '\n');
    return finish(0);
  }
  try {
    const invocation = parse(spec, argv, t);
    if (invocation.values.help) {
      process.stdout.write(helpText(spec, t));
      return finish(0);
    }
    if (invocation.values.version) {
      process.stdout.write(`${spec.name} (podsec) ${VERSION}\n`);
      return finish(0);
    }
    Promise.resolve(main(invocation)).then((code) => finish(code ?? 0), fail);
  } catch (error) {
    fail(error);
  }
}
