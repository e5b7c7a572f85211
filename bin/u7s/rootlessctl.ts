/**
 * rootlessctl (u7s shim): rootlesskit's control tool bound to the node's namespace
 * (--socket /run/user/UID/usernetes/rootlesskit/api.sock), e.g. to publish a NodePort:
 * `nsenter_u7s rootlessctl add-ports 0.0.0.0:31000:31000/tcp`. Root runs it as the node account,
 * so root never talks to a socket the node account controls. Arguments are rootlessctl's.
 */
import { runCommand, CommandError } from '../lib/command.ts';
import { translator } from '../lib/i18n.ts';
import { U7S_ADMIN_USER } from '../lib/names.ts';
import { runContext } from './lib/context.ts';
import { SYSTEM_PROGRAMS } from './lib/paths.ts';
import { accountEnv, asAccount, nodeAccount } from './lib/accounts.ts';
import { stand, systemTool } from '../lib/proc.ts';

const t = translator('podsec-k8s');
const argv = process.argv.slice(2);

runCommand(
  {
    name: 'rootlessctl',
    summary: "rootlessctl for the rootless Kubernetes node's namespace.",
    usage: ['[ROOTLESSCTL-ARGUMENT...]'],
    options: {},
    description: [
      "Runs rootlessctl --socket with the node's rootlesskit API socket. Port forwards added by hand " +
        "are lost when rootlesskit.service restarts. All arguments, --help included, are rootlessctl's.",
    ],
    examples: { 'rootlessctl list-ports': 'the ports the node publishes on the host' },
    seeAlso: ['rootlessctl(1)', 'nsenter_u7s(8)'],
  },
  t,
  async () => {
    if (process.getuid!() === 0 && !runContext().inNamespace) {
      const account = nodeAccount('/', U7S_ADMIN_USER);
      const [program, args] = asAccount(account, process.execPath, [...process.execArgv, process.argv[1]!, ...argv]);
      return stand(program, args, { env: accountEnv(account), cwd: account.home });
    }
    const rootlessctl = systemTool('rootlessctl') ?? SYSTEM_PROGRAMS.rootlessctl;
    if (!rootlessctl) throw new CommandError(t('rootlessctl is not installed'));
    const { layout } = runContext();
    return stand(rootlessctl, ['--socket', `${layout.stateDir}/api.sock`, ...argv]);
  },
  [],
);
