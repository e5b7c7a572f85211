/** The password options that podsec-create-imagemakeruser and podsec-create-podmanusers share. */
import { CommandError, type Invocation, type OptionSpec } from '../../lib/command.ts';
import { translator } from '../../lib/i18n.ts';

const t = translator('podsec');

/** --password-file and --password-stdin; each command words its own --no-password. */
export const PASSWORD_SOURCE_OPTIONS: Record<string, OptionSpec> = {
  'password-file': { type: 'string', valueName: 'FILE', description: 'the password of the new accounts is the first line of FILE' },
  'password-stdin': { type: 'boolean', description: 'read the password from the first line of standard input' },
};

export const PASSWORD_OPTION_NAMES = ['password-file', 'password-stdin', 'no-password'];

/** The one of `names` that is given, if any; two or more of them are refused. */
export function exclusiveOption(values: Invocation['values'], names: string[]): string | undefined {
  const given = names.filter((n) => values[n] !== undefined && values[n] !== false);
  if (given.length > 1) throw new CommandError(t('the options {options} exclude each other', { options: given.map((n) => `--${n}`).join(', ') }), 1);
  return given[0];
}
