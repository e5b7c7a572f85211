/**
 * Command lines of programs that run another command: our own options come first, and
 * everything from the first word that is not one of them belongs to the command, untouched.
 */
import { runCommand, type CommandSpec, type Invocation } from '../../lib/command.ts';
import type { Translate } from '../../lib/i18n.ts';

/**
 * Splits argv into [our options, the command]. `valued` are our options that take a value
 * (`--name value` or `--name=value`); `flags` take none. `--` ends our options explicitly.
 */
export function splitAtCommand(argv: string[], valued: string[], flags: string[]): [string[], string[]] {
  const ours: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return [ours, argv.slice(i + 1)];
    const name = arg.startsWith('--') ? arg.slice(2).split('=')[0]! : arg.startsWith('-') && arg.length === 2 ? arg : '';
    if (valued.includes(name)) {
      ours.push(arg);
      if (!arg.includes('=') && i + 1 < argv.length) ours.push(argv[++i]!);
    } else if (flags.includes(name)) {
      ours.push(arg);
    } else {
      return [ours, argv.slice(i)];
    }
  }
  return [ours, []];
}

/** The frame's own options every program has (see bin/lib/command.ts). */
const FRAME_FLAGS = ['help', 'version', '-h', '-V'];
const FRAME_VALUED = ['root'];

/**
 * Runs a shim: every argument, --help included, belongs to the program it stands for, so the
 * common frame parses none of them and `main` gets them all.
 */
export function runShim(spec: Omit<CommandSpec, 'options'>, t: Translate, main: (argv: string[]) => Promise<number>): void {
  const argv = process.argv.slice(2);
  runCommand({ otherExitCodes: 'the exit status of the program this one stands for', ...spec, options: {} }, t, () => main(argv), []);
}

/**
 * Runs a program that runs another: the options of `spec` (and the frame's) come first, and
 * `main` gets the rest, from the first other word on, untouched.
 */
export function runWrapper(spec: CommandSpec, t: Translate, main: (invocation: Invocation, command: string[]) => Promise<number>): void {
  const named = (type: string) => Object.keys(spec.options).filter((name) => spec.options[name]!.type === type);
  const [ours, command] = splitAtCommand(process.argv.slice(2), [...FRAME_VALUED, ...named('string')], [...FRAME_FLAGS, ...named('boolean')]);
  runCommand(spec, t, (invocation) => main(invocation, command), ours);
}
