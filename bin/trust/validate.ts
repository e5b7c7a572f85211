/**
 * Validation of what admins type into the trust commands: user names and image repository paths.
 * Every value is checked against an allow-list before it reaches useradd, a file name or a
 * policy scope, and messages quote it with JSON escaping, so a name with a newline or escape
 * sequence can't forge extra output lines.
 */
import { CommandError } from '../lib/command.ts';
import { translator } from '../lib/i18n.ts';
import { REGISTRY_HOST } from '../lib/names.ts';

const t = translator('podsec');

/** A value quoted for a one-line message. */
export const quote = (value: string) => JSON.stringify(value);

/** useradd's default NAME_REGEX on ALT and Debian, and the 32-character limit of utmp. */
export const USER_NAME = /^[a-z_][a-z0-9_-]*$/;
export const MAX_USER_NAME = 32;

/** Why `name` is not a user name podsec accepts, or undefined when it is one. */
export function userNameProblem(name: string): string | undefined {
  if (name === '') return t('the name is empty');
  if (name.length > MAX_USER_NAME) return t('longer than {max} characters', { max: MAX_USER_NAME });
  if (name.startsWith('-')) return t('it starts with "-"');
  if (!USER_NAME.test(name)) {
    const bad = [...name].find((c, i) => !(i === 0 ? /[a-z_]/ : /[a-z0-9_-]/).test(c));
    if (bad !== undefined && /[0-9]/.test(bad)) return t('it starts with a digit');
    return t('the character {char} is not allowed (use lowercase letters, digits, "_" and "-")', { char: quote(bad ?? '') });
  }
  return undefined;
}

/** Returns `name`, or throws exit 1 naming the problem. */
export function checkUserName(name: string): string {
  const problem = userNameProblem(name);
  if (problem) throw new CommandError(t('invalid user name {name}: {reason}', { name: quote(name), reason: problem }), 1);
  return name;
}

/** A path component of a docker repository (distribution's reference grammar). */
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const MAX_REPOSITORY = 255;

/** Why `path` is not a repository path under registry.local, or undefined when it is one. */
export function repoPathProblem(path: string): string | undefined {
  if (path === '') return t('the path is empty');
  if (path.length > MAX_REPOSITORY) return t('longer than {max} characters', { max: MAX_REPOSITORY });
  const [host, ...components] = path.split('/');
  if (host !== REGISTRY_HOST) return t('it is not under {registry}', { registry: REGISTRY_HOST });
  for (const component of components) {
    if (component === '') return t('it has an empty path component (a doubled or trailing "/")');
    if (component === '.' || component === '..') return t('it has a "{component}" component', { component });
    if (!COMPONENT.test(component))
      return t('the component {component} is not a valid repository name (lowercase letters, digits and single ' + '".", "_", "__" or "-" between them)', {
        component: quote(component),
      });
  }
  return undefined;
}

/** Returns `path`, or throws exit 1 naming the problem. */
export function checkRepoPath(path: string): string {
  const problem = repoPathProblem(path);
  if (problem) throw new CommandError(t('invalid repository path {path}: {reason}', { path: quote(path), reason: problem }), 1);
  return path;
}

export interface MakerSpec {
  user: string;
  repoPath: string;
}

export const DEFAULT_MAKER = 'imagemaker';

/**
 * podsec-create-imagemakeruser's arguments, normalised as upstream does: none gives
 * imagemaker@registry.local; a single argument without a path (`u` or `u@`) gets registry.local;
 * otherwise every argument must be `user@path`. Errors exit 1 (format, user, path) or 2 (the same
 * repository path twice, upstream's "Two matching repository paths").
 */
export function parseMakerSpecs(args: string[]): MakerSpec[] {
  if (args.length === 0) return [{ user: DEFAULT_MAKER, repoPath: REGISTRY_HOST }];
  const single = args.length === 1;
  const specs = args.map((arg): MakerSpec => {
    const at = arg.indexOf('@');
    if (single && (at < 0 || at === arg.length - 1)) return { user: checkUserName(at < 0 ? arg : arg.slice(0, -1)), repoPath: REGISTRY_HOST };
    if (at <= 0 || at === arg.length - 1 || arg.indexOf('@', at + 1) >= 0) {
      throw new CommandError(t('invalid repository path description {arg} for a user; the format is <user>@<repository_path>', { arg: quote(arg) }), 1);
    }
    return { user: checkUserName(arg.slice(0, at)), repoPath: checkRepoPath(arg.slice(at + 1)) };
  });
  const seen = new Set<string>();
  for (const { repoPath } of specs) {
    if (seen.has(repoPath)) throw new CommandError(t('Two matching repository paths {path}', { path: repoPath }), 2);
    seen.add(repoPath);
  }
  return specs;
}
