/**
 * podsec-k8s-rbac-create-user <user>
 *
 * Creates the local account that represents a cluster user on the administrator's workstation:
 * groups podman and k8s (k8s is created as a system group when missing), a home only the user can
 * enter (upstream: 0770 with group k8s, so every k8s member could read everybody's keys) and a
 * 0700 ~/.kube. Asks for the password when run on a terminal.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError, runCommand } from './lib/command.ts';
import { PODMAN_GROUP } from './lib/names.ts';
import { addSystemGroup, createUser, findAccount } from './lib/accounts.ts';
import { failure, runSync } from './lib/proc.ts';
import { t, usageError, withClientErrors } from './rbac/common.ts';
import { checkUserName } from './rbac/names.ts';
import { safeMkdir } from './lib/safe-fs.ts';

const NAME = 'podsec-k8s-rbac-create-user';
const K8S_GROUP = 'k8s';

runCommand(
  {
    name: NAME,
    summary: 'Create the local account of a cluster user (groups podman and k8s, a private home and ~/.kube).',
    usage: ['[--no-password] [--root DIR] <user>'],
    options: {
      'no-password': { type: 'boolean', description: 'do not ask for the password (set it later with passwd)' },
    },
    positionals: true,
    description: [
      'Run by root on the workstation of the containerization security administrator. A cluster user is ' +
        'represented there by a local account whose ~/.kube holds the kubeconfig ' +
        'podsec-k8s-rbac-create-kubeconfig writes; podsec-k8s-rbac-bindrole binds only users that have ' +
        'such an account.',
      'The account is created with useradd -m and the supplementary groups podman and k8s (k8s is ' +
        'created as a system group when it is missing). The home directory and ~/.kube are made 0700 and ' +
        "owned by the user: unlike upstream, members of k8s cannot read other users' keys.",
      'On a terminal the command then runs passwd for the user; with --no-password, under --root or ' +
        'without a terminal it prints how to set the password later.',
      'USER is a local account name: a lower-case letter or _, then up to 31 lower-case letters, ' +
        'digits, _, . and -. An existing account or /home/USER is an error, and nothing is changed.',
    ],
    files: {
      '/etc/passwd, /etc/group, /etc/shadow': 'the new account and its membership in podman and k8s (through useradd and groupadd)',
      '/home/USER': 'the home directory, 0700',
      '/home/USER/.kube': "where the user's kubeconfig is written, 0700",
    },
    exitCodes: {
      1: 'not run as root, not exactly one argument, an invalid name, the user exists, or groupadd, useradd or passwd failed',
    },
    examples: {
      'podsec-k8s-rbac-create-user alice': 'create the account alice and ask for its password',
      'podsec-k8s-rbac-create-user --no-password alice': 'create the account; set the password later with passwd alice',
    },
    seeAlso: ['podsec-k8s-rbac-create-kubeconfig(1)', 'podsec-k8s-rbac-bindrole(1)', 'useradd(8)', 'passwd(1)'],
  },
  t,
  ({ values, positionals, root }) =>
    withClientErrors(async () => {
      if ((process.geteuid?.() ?? 0) !== 0) throw new CommandError(t('The script must be run by a user with rights root'), 1);
      if (positionals.length !== 1) throw usageError(`${NAME} <user>`);
      const user = checkUserName(positionals[0]!);
      if (findAccount(root, user) || existsSync(join(root, 'home', user))) throw new CommandError(t('User {user} exists', { user }), 1);

      await addSystemGroup(root, K8S_GROUP);
      const account = await createUser(root, user, undefined, [PODMAN_GROUP, K8S_GROUP]);
      safeMkdir(join(root, account.home), { mode: 0o700, uid: account.uid, gid: account.gid, root, trustedOwner: account.uid });
      safeMkdir(join(root, account.home, '.kube'), { mode: 0o700, uid: account.uid, gid: account.gid, root, trustedOwner: account.uid });

      if (!values['no-password'] && root === '/' && process.stdin.isTTY) {
        const passwd = runSync('passwd', ['--', user], { interactive: true, timeoutMs: 0 });
        if (passwd.error || passwd.status !== 0) throw new CommandError(t('{program} failed: {message}', { program: 'passwd', message: failure(passwd) }), 1);
      } else process.stderr.write(t('Set the password of {user} with: passwd {user}', { user }) + '\n');
      process.stderr.write(t('User {user} created', { user }) + '\n');
    }),
);
