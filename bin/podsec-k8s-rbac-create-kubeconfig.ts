/**
 * podsec-k8s-rbac-create-kubeconfig <user>[@<remote_user>] [group ...]
 *
 * Issues a client certificate for a cluster user through a CertificateSigningRequest
 * (kubernetes.io/kube-apiserver-client, client auth, the groups as O=), approves it, waits for the
 * certificate (bounded), checks it belongs to the freshly generated key and writes the user's
 * kubeconfig 0600 into a 0700 ~/.kube. The key exists only in memory and in that file: it is never
 * written into the administrator's kubeconfig.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError, runCommand } from './lib/command.ts';
import { findAccount } from './lib/accounts.ts';
import { KUBECONFIG_OPTION, kubectlFor, t, usageError, withClientErrors } from './rbac/common.ts';
import { certificateMatchesKey, createCsr, generateClientKey } from './rbac/csr.ts';
import { RESOURCES, type KubeObject } from './rbac/kubectl.ts';
import { currentCluster, userKubeconfig } from './rbac/kubeconfig.ts';
import { checkGroupName, checkUserName, isSystemName } from './rbac/names.ts';
import { csrCondition, csrObject } from './rbac/objects.ts';
import { atomicWrite, safeMkdir } from './lib/safe-fs.ts';

const NAME = 'podsec-k8s-rbac-create-kubeconfig';
const SYNOPSIS = `${NAME} <user>[@<remote_user>] [group ...]`;
const DEFAULT_GROUP = 'k8s';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

runCommand(
  {
    name: NAME,
    summary: "Issue a client certificate for a cluster user through a CSR and write the user's kubeconfig.",
    usage: ['[--kubeconfig FILE] [--timeout SECONDS] [--allow-system-groups] [--certificate-authority FILE] [--root DIR] <user>[@<remote_user>] [group ...]'],
    options: {
      ...KUBECONFIG_OPTION,
      timeout: { type: 'string', valueName: 'SECONDS', description: 'how long to wait for the signed certificate (default 60)' },
      'allow-system-groups': { type: 'boolean', description: 'allow groups starting with system: (system:masters makes a cluster administrator)' },
      'certificate-authority': { type: 'string', valueName: 'FILE', description: "the cluster CA certificate, when the admin's kubeconfig has none embedded" },
    },
    positionals: true,
    description: [
      'Run by the containerization security administrator (root, or the user themselves) with a ' +
        'kubeconfig that may create and approve certificate signing requests. USER must have a local ' +
        'account (podsec-k8s-rbac-create-user).',
      'A new 2048-bit RSA key and a certificate signing request with CN=USER and one O= per GROUP ' +
        '(default k8s) are made in memory. A previous CertificateSigningRequest named USER is deleted; ' +
        'the new one (signer kubernetes.io/kube-apiserver-client, usage client auth, 5 years, capped by ' +
        "the cluster's signing duration, label app.kubernetes.io/managed-by=podsec) is created and " +
        'approved, and the command waits up to --timeout seconds for the cluster to issue the ' +
        'certificate, which must belong to the key.',
      "The user's kubeconfig is then written to ~USER/.kube/config (0600, in a 0700 directory owned by " +
        "the user) with the cluster of the administrator's current context, its CA, the certificate and " +
        'the key embedded, and the context default; finally it must authenticate (GET /api). The key ' +
        "exists only in that file: it is not written into the administrator's kubeconfig, unlike " +
        'upstream.',
      'Groups starting with system: are refused unless --allow-system-groups is given: a certificate in ' +
        'system:masters is a cluster administrator that no RBAC binding can restrict. The @REMOTE_USER ' +
        "suffix of upstream's syntax is accepted and not needed (the CA comes from the kubeconfig " +
        'instead of scp). A new user has no rights until podsec-k8s-rbac-bindrole binds a role.',
    ],
    environment: {
      KUBECONFIG: "the administrator's kubeconfig, when --kubeconfig is not given (read by kubectl)",
      PATH: 'where kubectl is looked for',
    },
    files: {
      '~USER/.kube/config': "the user's kubeconfig, 0600",
      '~/.kube/config': "the administrator's kubeconfig when neither --kubeconfig nor KUBECONFIG is set; only read",
    },
    exitCodes: {
      1:
        'wrong arguments, an invalid name, a refused system: group, no such local user, kubectl missing ' +
        'or failing, the request denied or not issued in time, or a certificate that does not match the ' +
        'key',
    },
    examples: {
      'podsec-k8s-rbac-create-kubeconfig alice': 'issue a certificate for alice in the group k8s and write /home/alice/.kube/config',
      'podsec-k8s-rbac-create-kubeconfig alice k8s sysadmins': 'the same, in the groups k8s and sysadmins',
      'podsec-k8s-rbac-create-kubeconfig --kubeconfig /etc/kubernetes/admin.conf --timeout 120 bob':
        'use another administrator kubeconfig and wait up to two minutes',
    },
    seeAlso: ['podsec-k8s-rbac-create-user(1)', 'podsec-k8s-rbac-bindrole(1)', 'podsec-k8s-rbac-create-remoteplace(1)', 'kubectl(1)'],
  },
  t,
  ({ values, positionals, root }) =>
    withClientErrors(async () => {
      if (positionals.length < 1) throw usageError(SYNOPSIS);
      const [userArg, ...groupArgs] = positionals as [string, ...string[]];
      const at = userArg.indexOf('@');
      // The remote user only named the account upstream copied ca.crt from by scp; the CA now
      // comes from the administrator's kubeconfig, so it is accepted and not needed.
      const user = checkUserName(at >= 0 ? userArg.slice(0, at) : userArg);
      const groups = (groupArgs.length > 0 ? groupArgs : [DEFAULT_GROUP]).map(checkGroupName);
      for (const group of groups) {
        if (isSystemName(group) && !values['allow-system-groups']) {
          throw new CommandError(t('Group {group} is a Kubernetes system group; it is refused unless --allow-system-groups is given', { group }), 1);
        }
      }
      const timeoutText = typeof values.timeout === 'string' ? values.timeout : '60';
      if (!/^\d+$/.test(timeoutText) || Number(timeoutText) < 1) throw new CommandError(t('Invalid timeout {value}', { value: timeoutText }), 1);
      const timeoutMs = Number(timeoutText) * 1000;

      const account = findAccount(root, user);
      if (!account) throw new CommandError(t('User {user} missing from the system', { user }), 1);
      const euid = process.geteuid?.() ?? 0;
      if (euid !== 0 && euid !== account.uid) throw new CommandError(t('The script must be run by a user with rights root'), 1);
      const kubeDir = join(root, account.home, '.kube');
      const configPath = join(kubeDir, 'config');

      const kubectl = kubectlFor(values);
      const cluster = currentCluster(await kubectl.currentConfig());
      if (!cluster) throw new CommandError(t('Cluster is unavailable: the kubeconfig has no current cluster'), 1);
      if (typeof values['certificate-authority'] === 'string') {
        cluster.certificateAuthorityData = readFileSync(values['certificate-authority']).toString('base64');
      }
      if (!cluster.certificateAuthorityData) {
        throw new CommandError(
          t('The kubeconfig has no certificate-authority-data for cluster {cluster}; give ' + '--certificate-authority FILE', { cluster: cluster.name }),
          1,
        );
      }

      const key = generateClientKey();
      const csrPem = createCsr(key.privateKey, user, groups);

      // A previous request of the same name is replaced, as upstream did.
      await kubectl.delete(RESOURCES.csr, user);
      const created = await kubectl.create(csrObject(user, csrPem));
      if (created.status && Object.keys(created.status).length > 0 && (created.status.conditions?.length ?? 0) > 0) {
        throw new CommandError(t('Certificate signing request failed: {status}', { status: JSON.stringify(created.status) }), 1);
      }
      await kubectl.approveCsr(user);

      const deadline = Date.now() + timeoutMs;
      let csr: KubeObject | undefined;
      for (let delay = 200; ; delay = Math.min(delay * 2, 2000)) {
        csr = await kubectl.get(RESOURCES.csr, user);
        if (!csr) throw new CommandError(t('Certificate signing request {name} disappeared', { name: user }), 1);
        for (const bad of ['Denied', 'Failed']) {
          const condition = csrCondition(csr, bad);
          if (condition) {
            const params = { name: user, message: String(condition.message ?? condition.reason ?? '') };
            throw new CommandError(
              bad === 'Denied'
                ? t('Certificate signing request {name} was denied: {message}', params)
                : t('Certificate signing request {name} failed: {message}', params),
              1,
            );
          }
        }
        if (!csrCondition(csr, 'Approved')) throw new CommandError(t('Certificate verification request failed'), 1);
        if (typeof csr.status?.certificate === 'string' && csr.status.certificate !== '') break;
        if (Date.now() >= deadline)
          throw new CommandError(t('Certificate {file} not created: not issued within {seconds} s', { file: `${user}.crt`, seconds: timeoutText }), 1);
        await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
      }
      const certificatePem = Buffer.from(csr.status.certificate as string, 'base64').toString('utf8');
      if (!certificateMatchesKey(certificatePem, key.privateKey)) {
        throw new CommandError(t('The users private key does not match the generated certificate'), 1);
      }

      safeMkdir(kubeDir, { mode: 0o700, uid: account.uid, gid: account.gid, root, trustedOwner: account.uid });
      atomicWrite(configPath, userKubeconfig({ cluster, user, certificatePem, keyPem: key.privateKeyPem }), {
        mode: 0o600,
        uid: account.uid,
        gid: account.gid,
        root,
        trustedOwner: account.uid,
      });

      // The certificate authenticates (even without any permission yet): /api answers APIVersions.
      const check = kubectlFor({ kubeconfig: configPath });
      const api = await check.raw('/api').catch(() => undefined);
      if (api?.kind !== 'APIVersions') throw new CommandError(t('Request to get server API version failed'), 1);

      process.stderr.write(t('Kubeconfig of user {user} created: {path}', { user, path: configPath }) + '\n');
      process.stderr.write(t('Check its rights with: kubectl auth can-i --list --as {user}', { user }) + '\n');
    }),
);
