/**
 * Day-2 operations on a deployed node (certificates, etcd snapshots): the node account, the way
 * root runs a command as that account inside its namespace (setpriv + nsenter_u7s, output
 * captured), the account's staging directory and the etcd client files as kubeadm lays them out.
 */
import { join } from 'node:path';
import { translator } from '../../lib/i18n.ts';
import { CommandError } from '../../lib/command.ts';
import { U7S_ADMIN_USER } from '../../lib/names.ts';
import { capture } from '../../lib/proc.ts';
import { accountEnv, asAccount, nodeAccount, type Account } from './accounts.ts';
import type { AccountRunner, EtcdClient, Staging } from './etcd-snapshot.ts';
import { notRunningMessage, readiness } from './namespace.ts';
import { KUBERNETES_DIR, PODSEC_ETCD_SNAPSHOT_DIR, SYSTEM_PROGRAMS, U7S_PROGRAMS, userLayout } from './paths.ts';

const t = translator('podsec-k8s');

export { PODSEC_ETCD_SNAPSHOT_DIR };

export interface NodeOps {
  root: string;
  account: Account;
  run: AccountRunner;
  staging: Staging;
  client: EtcdClient;
}

/** A root-only operation on this node; its namespace must be running (u7s.service). */
export function nodeOps(root: string): NodeOps {
  if (process.getuid!() !== 0) throw new CommandError(t('this command must be run as root'));
  const account = nodeAccount(root, U7S_ADMIN_USER);
  const layout = userLayout(account.uid, account.gid, account.home);
  if (!readiness(layout)) throw new CommandError(notRunningMessage(layout, 0));
  const run: AccountRunner = (argv, timeoutMs = 120_000) => {
    const [program, args] = asAccount(account, U7S_PROGRAMS.nsenter, argv);
    return capture(program, args, { env: accountEnv(account), cwd: account.home, timeoutMs });
  };
  const pki = join(KUBERNETES_DIR, 'pki', 'etcd');
  return {
    root,
    account,
    run,
    staging: { parent: layout.dataDir, uid: account.uid, gid: account.gid },
    client: {
      etcdctl: SYSTEM_PROGRAMS.etcdctl,
      etcdutl: SYSTEM_PROGRAMS.etcdutl,
      endpoint: 'https://127.0.0.1:2379',
      tls: { cacert: join(pki, 'ca.crt'), cert: join(pki, 'healthcheck-client.crt'), key: join(pki, 'healthcheck-client.key') },
    },
  };
}
