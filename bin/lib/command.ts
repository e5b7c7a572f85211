/**
 * The frame every podsec program runs in: option parsing (node:util parseArgs, long options),
 * --help, --version, --root, and the error contract — one clear line on stderr and a non-zero exit.
 */
import { statSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TranslatableError } from './i18n.ts';

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

/** A file the command needs is missing or cannot be opened (sysexits' EX_NOINPUT); documented on every man page. */
export const EXIT_NO_INPUT = 66;

/**
 * A failed file operation of Node (it carries the path) as one line naming the file, or undefined
 * for any other error. Every command reads its input files with plain fs calls or safe-fs, so
 * this one place turns a missing or unreadable file into the documented exit code.
 */
function fileProblem(error: unknown, t: Translate): string | undefined {
  const e = error as NodeJS.ErrnoException;
  if (!(e instanceof Error) || typeof e.path !== 'string' || e.syscall?.startsWith('spawn')) return undefined;
  const reason =
    e.code === 'ENOENT'
      ? t('no such file or directory')
      : e.code === 'EACCES' || e.code === 'EPERM'
        ? t('permission denied')
        : e.code === 'EISDIR'
          ? t('is a directory')
          : e.code === 'ENOTDIR'
            ? t('a component of the path is not a directory')
            : e.code === 'ELOOP'
              ? t('too many levels of symbolic links')
              : undefined;
  return reason === undefined ? undefined : t('{path}: {reason}', { path: e.path, reason });
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
  /**
   * Exit codes: code -> meaning. With the frame's own codes (see exitCodeTable) this is the one
   * table --help and the man pages print, and the only codes the program may exit with.
   */
  exitCodes?: Record<number, string>;
  /** The code of a command line the frame refuses (an unknown option, a missing value, a stray argument): 2 unless set. */
  usageExitCode?: number;
  /** For a program whose status is another program's (a wrapper, a shim): what any code outside the table means. */
  otherExitCodes?: string;
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
 * The frame's own texts: the codes it exits with, and the section titles of the man pages
 * (scripts/docs/man.ts). Written as a command definition's tables, so the catalog extractor puts
 * them into every domain's catalog, where translators find them.
 */
const FRAME = {
  exitCodes: {
    success: 'success',
    usage: 'invalid arguments (an unknown option, a missing value, an unexpected argument)',
    internal: 'internal error (a bug: please report it)',
    noInput: 'a file it needs is missing or cannot be opened (the message names the file)',
    closedPipe: 'the reader of the output went away (as after | head)',
  },
  manSections: {
    name: 'NAME',
    synopsis: 'SYNOPSIS',
    description: 'DESCRIPTION',
    options: 'OPTIONS',
    environment: 'ENVIRONMENT',
    files: 'FILES',
    exit: 'EXIT STATUS',
    examples: 'EXAMPLES',
    related: 'SEE ALSO',
  },
};
export const MAN_SECTIONS = FRAME.manSections;
const EXIT_INTERNAL = 70;

/** The code of a command line the frame refuses. */
export const usageExitCode = (spec: Pick<CommandSpec, 'usageExitCode'>) => spec.usageExitCode ?? 2;

/**
 * Every code a command exits with and what it means (English msgids), in order: its own table
 * plus the frame's codes it does not describe itself: 0, its usage code, 66 (an input file is
 * missing or unreadable), 70 (internal error) and 141 (closed pipe).
 */
export function exitCodeTable(spec: Pick<CommandSpec, 'exitCodes' | 'usageExitCode'>): [number, string][] {
  const table = new Map<number, string>(Object.entries(spec.exitCodes ?? {}).map(([code, meaning]) => [Number(code), meaning]));
  const frame: [number, string][] = [
    [0, FRAME.exitCodes.success],
    [usageExitCode(spec), FRAME.exitCodes.usage],
    [EXIT_NO_INPUT, FRAME.exitCodes.noInput],
    [EXIT_INTERNAL, FRAME.exitCodes.internal],
    [EXIT_CLOSED_PIPE, FRAME.exitCodes.closedPipe],
  ];
  for (const [code, meaning] of frame) if (!table.has(code)) table.set(code, meaning);
  return [...table].sort(([a], [b]) => a - b);
}

/**
 * Set by the test runner: an exit with a code the command's table does not list becomes an
 * internal error (70) naming the code, so every exit path a test takes is checked against the table.
 */
export const CHECK_EXIT_CODES_ENV = 'PODSEC_CHECK_EXIT_CODES';

/**
 * The reader of our stdout or stderr went away (`| head`): stop at once and quietly, with the
 * status a tool killed by SIGPIPE has (128 + 13). Node ignores SIGPIPE and reports the closed
 * pipe as an 'error' event, which would otherwise end the program with a stack trace.
 */
export const EXIT_CLOSED_PIPE = 141;

function exitQuietlyOnClosedPipe(): void {
  for (const name of ['stdout', 'stderr'] as const) {
    // process.stdout and process.stderr are made on first use, a pipe's with node:net: the handler
    // is added then, so a program that never writes to one does not pay for making it at start-up.
    const made = Object.getOwnPropertyDescriptor(process, name);
    if (!made?.get || !made.configurable) {
      onClosedPipe(process[name]);
      continue;
    }
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: made.enumerable,
      get() {
        const stream = made.get!.call(process) as NodeJS.WriteStream;
        Object.defineProperty(process, name, made);
        onClosedPipe(stream);
        return stream;
      },
    });
  }
}

/**
 * The frame's own output (help, version) goes out with write(2) on fd 1: process.stdout would first
 * load node's stream modules, a good part of a short command's start-up. A closed pipe ends the
 * program as the stream's handler does; a non-blocking stdout that is full takes the rest through
 * process.stdout.
 */
function writeOut(text: string): void {
  const data = Buffer.from(text);
  let done = 0;
  try {
    while (done < data.length) done += writeSync(1, data, done);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EPIPE') process.exit(EXIT_CLOSED_PIPE);
    if (code !== 'EAGAIN') throw error;
    process.stdout.write(data.subarray(done));
  }
}

function onClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT_CLOSED_PIPE);
    throw error;
  });
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
  lines.push('', t('Exit status:'));
  for (const [code, meaning] of exitCodeTable(spec)) lines.push(`  ${String(code).padStart(3)}  ${t(meaning)}`);
  if (spec.otherExitCodes) lines.push(`  ${t('other')}  ${t(spec.otherExitCodes)}`);
  return lines.join('\n') + '\n';
}

/**
 * Our own words for a command line the parser refuses (node's parseArgs says them in English):
 * the parser runs lenient and every option token is checked here against the definition.
 */
function refuseOptions(tokens: NonNullable<ReturnType<typeof parseArgs>['tokens']>, all: Record<string, OptionSpec>, t: Translate): string | undefined {
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const option = all[token.name];
    const name = token.rawName;
    if (!option) return t('unknown option {option}; see --help', { option: name });
    if (option.type === 'boolean' && token.value !== undefined) return t('{option} takes no value; see --help', { option: name });
    if (option.type === 'string' && token.value === undefined) return t('{option} needs a value; see --help', { option: name });
    if (option.type === 'string' && !token.inlineValue && token.value!.startsWith('-'))
      return t('{option} {value}: the value looks like an option; write {option}={value} if it is the value', { option: name, value: token.value! });
  }
  return undefined;
}

function parse(spec: CommandSpec, argv: string[], t: Translate): Invocation {
  const all = { ...spec.options, ...COMMON_OPTIONS };
  const options: ParseArgsConfig['options'] = {};
  for (const [name, o] of Object.entries(all)) {
    options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  const parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: false, tokens: true });
  const refusal = refuseOptions(parsed.tokens, all, t);
  if (refusal) throw new CommandError(refusal, usageExitCode(spec));
  if (!spec.positionals && parsed.positionals.length > 0) {
    throw new CommandError(t('unexpected argument: {arg}; see --help', { arg: parsed.positionals[0]! }), usageExitCode(spec));
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
    if (!isDir) throw new CommandError(t('--root {dir}: not a directory', { dir: rootValue }), usageExitCode(spec));
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
  const documented = new Set(exitCodeTable(spec).map(([code]) => code));
  const finish = (code: number) => {
    if (process.env[CHECK_EXIT_CODES_ENV] === '1' && !spec.otherExitCodes && !documented.has(code)) {
      process.stderr.write(`${spec.name}: ${t('internal error: exit code {code} is not in the exit-code table', { code })}\n`);
      code = EXIT_INTERNAL;
    }
    process.exitCode = code;
  };
  const fail = (error: unknown) => {
    const problem = fileProblem(error, t);
    if (error instanceof TranslatableError) {
      process.stderr.write(`${spec.name}: ${error.in(t)}\n`);
      finish(1);
    } else if (error instanceof CommandError || (error as { expected?: unknown })?.expected === true) {
      process.stderr.write(`${spec.name}: ${(error as Error).message}\n`);
      finish(error instanceof CommandError ? error.exitCode : 1);
    } else if (problem !== undefined) {
      process.stderr.write(`${spec.name}: ${problem}\n`);
      finish(EXIT_NO_INPUT);
    } else {
      process.stderr.write(`${spec.name}: ${t('internal error: {message}', { message: (error as Error)?.message ?? String(error) })}\n`);
      finish(EXIT_INTERNAL);
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
      writeOut(helpText(spec, t));
      return finish(0);
    }
    if (invocation.values.version) {
      writeOut(`${spec.name} (podsec) ${VERSION}\n`);
      return finish(0);
    }
    Promise.resolve(main(invocation)).then((code) => finish(code ?? 0), fail);
  } catch (error) {
    fail(error);
  }
}
