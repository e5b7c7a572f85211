/**
 * nsenter_u7s: run a command (default: a shell) inside the node namespace, as namespace root.
 * The node account runs it directly; root is switched to the node account first, so root never
 * enters a namespace the node account controls. Waits (10 s, bounded) for the namespace, then
 * execs nsenter; the command's exit status is ours.
 */
import { CommandError } from '../lib/command.ts';
import { translator } from '../lib/i18n.ts';
import { U7S_ADMIN_USER } from '../lib/names.ts';
import { runWrapper } from './lib/cli.ts';
import { runContext } from './lib/context.ts';
import { nsenterOptions, notRunningMessage, waitReady } from './lib/namespace.ts';
import { U7S_PATH } from './lib/paths.ts';
import { accountEnv, asAccount, nodeAccount } from './lib/accounts.ts';
import { cleanStop, requireTool, stand, stopRequested } from '../lib/proc.ts';

const t = translator('podsec-k8s');
const ATTEMPTS = 10;

runWrapper(
  {
    name: 'nsenter_u7s',
    summary: 'Run a command inside the rootless Kubernetes node namespace.',
    usage: ['[COMMAND [ARG...]]'],
    options: {},
    description: [
      "Enters the user, mount, network, pid, ipc, uts and cgroup namespaces of u7s-admin's rootlesskit " +
        '(rootlesskit.service) and runs COMMAND there as namespace root, or $SHELL without one. Waits up ' +
        'to 10 seconds for the namespace to be ready. Run by root, it runs as u7s-admin.',
    ],
    exitCodes: { 1: 'the namespace is not running', 127: 'the command was not found' },
    otherExitCodes: 'the exit status of COMMAND',
    examples: {
      'nsenter_u7s crictl ps': "list the node's containers",
      'nsenter_u7s rootlessctl add-ports 0.0.0.0:31000:31000/tcp': 'publish a NodePort on the host',
    },
    seeAlso: ['nsenter(1)', 'u7s-rootlesskit(8)'],
  },
  t,
  async (_invocation, command) => {
    const nsenter = requireTool('nsenter', t('install util-linux'));
    if (process.getuid!() === 0 && !runContext().inNamespace) {
      const account = nodeAccount('/', U7S_ADMIN_USER);
      const [program, args] = asAccount(account, process.execPath, [...process.execArgv, process.argv[1]!, '--', ...command]);
      return stand(program, args, { env: accountEnv(account), cwd: account.home });
    }
    const { account, layout, inNamespace } = runContext();
    if (inNamespace) throw new CommandError(t('already inside a user namespace'));
    const ready = await waitReady(layout, ATTEMPTS, () =>
      process.stderr.write(t('Entering RootlessKit namespaces: waiting for {dir} ...', { dir: layout.stateDir }) + '\n'),
    );
    if (!ready) throw new CommandError(notRunningMessage(layout, ATTEMPTS));
    const argv = command.length ? command : [process.env.SHELL || account.shell || '/bin/sh'];
    const env = {
      ...process.env,
      PATH: U7S_PATH,
      ROOTLESSKIT_STATE_DIR: layout.stateDir,
      _CONTAINERS_ROOTLESS_UID: String(account.uid),
      _CONTAINERS_ROOTLESS_GID: String(account.gid),
      _CONTAINERS_USERNS_CONFIGURED: '1',
    };
    const stopping = stopRequested();
    const code = await stand(nsenter, [...nsenterOptions(ready.childPid), '-t', String(ready.childPid), `--wd=${process.cwd()}`, '--', ...argv], { env });
    return cleanStop(code, stopping);
  },
);
