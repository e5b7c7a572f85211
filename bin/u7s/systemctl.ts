/**
 * systemctl (u7s shim), first in PATH inside the node namespace: kubeadm there manages "the
 * kubelet service", which for a rootless node is the user unit kubelet.service of u7s-admin. So
 * inside the namespace, and on the host as the node account, commands go to the account's user
 * manager (systemctl --user); for anyone else they go to systemctl unchanged. The decision is
 * made from the host identity, not from $USER. Every argument is passed on as is, --help too.
 */
import { runCommand, CommandError } from '../lib/command.ts';
import { translator } from '../lib/i18n.ts';
import { U7S_ADMIN_USER } from '../lib/names.ts';
import { findAccountBy, hostIdentity } from './lib/accounts.ts';
import { stand, systemTool } from '../lib/proc.ts';

const t = translator('podsec-k8s');
const argv = process.argv.slice(2);

runCommand(
  {
    name: 'systemctl',
    summary: "systemctl for the rootless Kubernetes node: the node account's user units from inside its namespace.",
    usage: ['[SYSTEMCTL-ARGUMENT...]'],
    options: {},
    description: [
      'Installed in /usr/libexec/podsec/u7s/bin, which is first in PATH inside the node namespace. ' +
        "There, and on the host for u7s-admin, it runs systemctl --user against u7s-admin's user manager " +
        "(so kubeadm's 'systemctl restart kubelet' restarts the user unit kubelet.service). For every " +
        'other user it runs systemctl with the same arguments. All arguments, --help included, are ' +
        "systemctl's.",
    ],
    seeAlso: ['systemctl(1)'],
  },
  t,
  async () => {
    const systemctl = systemTool('systemctl');
    if (!systemctl) throw new CommandError(t('systemctl is not installed'));
    const identity = hostIdentity();
    const nodeUid = findAccountBy('/', { name: U7S_ADMIN_USER })?.uid;
    const forNode = identity.inUserNamespace || (nodeUid !== undefined && identity.uid === nodeUid && process.getuid!() === nodeUid);
    if (!forNode) return stand(systemctl, argv);
    const runtime = `/run/user/${identity.uid}`;
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: runtime, DBUS_SESSION_BUS_ADDRESS: `unix:path=${runtime}/bus` };
    // From inside the user namespace the manager's private socket refuses us (its peer check sees
    // the host uid, the client claims uid 0); the user bus (dbus-daemon) authenticates by the
    // kernel's credentials. Without XDG_RUNTIME_DIR, systemctl --user goes straight to the bus.
    if (identity.inUserNamespace) delete env.XDG_RUNTIME_DIR;
    return stand(systemctl, ['--user', ...argv], { env });
  },
  [],
);
