/**
 * podsec-create-podmanusers <user> ...: users who run containers rootless, bound to the system
 * policy (as upstream's command of that name): primary group podman, and an empty, immutable
 * ~/.config/containers (mode 0500, chattr +i) so that no policy.json, registries.d, registries.conf
 * or containers.conf of their own can replace the system's.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { PODMAN_GROUP } from './lib/names.ts';
import { findAccount, type Account } from './lib/accounts.ts';
import { addSystemGroup, createUser, groupGid, hasSubIds, isSystemAccount, setPassword } from './lib/accounts.ts';
import { lockedDirState, lockEmptyDir, supportsImmutable, USER_CONTAINERS_DIR } from './trust/makers/homes.ts';
import { promptSecret, secretFromFile, secretFromStdin } from './lib/secrets.ts';
import { exclusiveOption, PASSWORD_OPTION_NAMES, PASSWORD_SOURCE_OPTIONS } from './trust/makers/password-options.ts';
import { DRY_RUN_OPTION, Plan } from './lib/plan.ts';
import { checkUserName, quote } from './trust/validate.ts';

const t = translator('podsec');
const NAME = 'podsec-create-podmanusers';

runCommand(
  {
    name: NAME,
    summary: 'Create users who run containers rootless, bound to the system image trust policy.',
    usage: ['[OPTIONS] <user> ...'],
    positionals: true,
    description: [
      'Each user gets an account with the primary group podman, a password, and an empty ' +
        '~/.config/containers that is immutable (mode 0500, owner user:podman, chattr +i): the user ' +
        'cannot create a policy.json, registries.d, registries.conf or containers.conf of their own, so ' +
        'podman uses the system policy, which accepts only images signed by the image makers.',
      "This binds podman's configuration, not the user: a rootless user can still run programs that " +
        'ignore it (XDG_CONFIG_HOME, podman --signature-policy, their own tools). The policy that cannot ' +
        'be bypassed is the one root-run services such as CRI-O enforce.',
      'An existing account is refused unless --reconfigure is given (system accounts always are); with ' +
        'it, an existing ~/.config/containers with content is moved aside to ' +
        '~/.config/containers.podsec-<time>.',
    ],
    options: {
      ...DRY_RUN_OPTION,
      reconfigure: { type: 'boolean', description: 'allow existing (non-system) accounts and lock their ~/.config/containers' },
      ...PASSWORD_SOURCE_OPTIONS,
      'no-password': { type: 'boolean', description: 'leave the new accounts without a password (locked)' },
    },
    files: { '~/.config/containers': 'empty, mode 0500, owner user:podman, immutable' },
    exitCodes: {
      1: 'not root, no or invalid user names, an existing account without --reconfigure, a file system ' + 'without the immutable attribute, or a tool failed',
    },
    examples: { 'podsec-create-podmanusers --password-file pw alice bob': 'two container users with the same initial password' },
    seeAlso: ['podsec-create-imagemakeruser(1)', 'podsec-create-policy(1)', 'chattr(1)'],
  },
  t,
  async ({ values, positionals, root }) => {
    exclusiveOption(values, PASSWORD_OPTION_NAMES);
    if (positionals.length === 0) throw new CommandError(t('Format: {command} <username> ...', { command: NAME }), 1);
    const users = positionals.map(checkUserName);
    const duplicate = users.find((u, i) => users.indexOf(u) !== i);
    if (duplicate) throw new CommandError(t('the user {user} is given twice', { user: quote(duplicate) }), 1);
    if (process.geteuid?.() !== 0) throw new CommandError(t('The script must be run by a user with root rights.'), 1);
    const reconfigure = values.reconfigure === true;
    const existing = new Map<string, Account>();
    for (const user of users) {
      const account = findAccount(root, user);
      if (!account) continue;
      if (!reconfigure)
        throw new CommandError(
          t('the user {user} already exists; use --reconfigure to bind an existing account to the system ' + 'policy', { user: quote(user) }),
          1,
        );
      if (isSystemAccount(root, account))
        throw new CommandError(t('{user} is a system account (uid {uid}); podsec does not change system accounts', { user: quote(user), uid: account.uid }), 1);
      existing.set(user, account);
    }
    const homeBase = existsSync(join(root, 'home')) ? join(root, 'home') : root;
    if (!(await supportsImmutable(root, homeBase))) {
      throw new CommandError(
        t('the file system of {dir} does not support the immutable attribute (chattr +i), which keeps ' + '~/.config/containers empty', { dir: homeBase }),
        1,
      );
    }
    const password =
      values['password-file'] !== undefined
        ? secretFromFile(values['password-file'] as string)
        : values['password-stdin']
          ? await secretFromStdin()
          : undefined;
    if (password === '') throw new CommandError(t('the password is empty'), 1);
    const ask = password === undefined && values['no-password'] !== true;
    if (ask && !process.stdin.isTTY && users.some((u) => !existing.has(u))) {
      throw new CommandError(t('no terminal to ask for the password on; use --password-file FILE, --password-stdin or --no-password'), 1);
    }

    const plan = new Plan();
    const podmanGid = groupGid(root, PODMAN_GROUP);
    if (podmanGid === undefined) plan.change(t('create the system group {group}', { group: PODMAN_GROUP }), () => addSystemGroup(root, PODMAN_GROUP));
    const accounts = new Map(existing);
    for (const user of users) {
      const old = existing.get(user);
      if (!old) {
        plan.change(t('create the user {user} (group {group})', { user, group: PODMAN_GROUP }), async () => {
          const account = await createUser(root, user, PODMAN_GROUP, [], t('podsec podman user'));
          accounts.set(user, account);
          if (!hasSubIds(root, user, account.uid))
            plan.warn(t('{user} has no range in /etc/subuid or /etc/subgid: rootless podman needs one (usermod ' + '--add-subuids)', { user }));
        });
      }
      if (password !== undefined || (ask && !old)) {
        plan.change(t('set the password of {user}', { user }), async () => {
          await setPassword(root, user, password ?? (await promptSecret(t("Enter the password for user '{user}': ", { user }), t('Repeat the password: '))));
        });
      }
      if (old && podmanGid !== undefined && (await lockedDirState(root, old, USER_CONTAINERS_DIR, podmanGid)) === 'locked') continue;
      plan.change(
        t('make ~{user}/{dir} empty and immutable (mode 0500, owner {user}:{group})', { user, dir: USER_CONTAINERS_DIR, group: PODMAN_GROUP }),
        async () => {
          const movedTo = await lockEmptyDir(root, accounts.get(user)!, USER_CONTAINERS_DIR, groupGid(root, PODMAN_GROUP)!);
          if (movedTo) plan.note(t('the previous ~{user}/{dir} is now ~{user}/.config/{moved}', { user, dir: USER_CONTAINERS_DIR, moved: movedTo }));
        },
      );
    }
    await plan.carryOut(NAME, values['dry-run'] === true);
    return 0;
  },
);
