/**
 * podsec-k8s: rootless Kubernetes ("u7s"): the u7s-admin account, its directories, the
 * kubeadm/CNI/flannel/audit configuration, the host settings (cgroup delegation, kernel modules),
 * the u7s programs (bin/u7s/, bin/podsec-u7s-*.ts) and units (units/).
 *
 * Security rule (upstream deviation): nothing root reads as configuration or executes is
 * writable by u7s-admin, because a container breakout lands as u7s-admin. Upstream made
 * /etc/podsec/u7s and everything in it u7s-admin's (0700/0600); here those directories are
 * root:u7s-admin 0750 and the files root-owned, so u7s-admin can still read what it runs kubeadm
 * with but can neither change it nor swap a file for its own.
 */
import { U7S_ADMIN_GROUP, U7S_ADMIN_USER, U7S_CONFIG_DIR, U7S_LIBEXEC_BIN } from '../../../bin/lib/names.ts';
import { config, configNoReplace, dir, dropIn, file, program, symlink, systemUnit, userUnit } from '../entries.ts';
import type { PackageDecl } from '../types.ts';
import { podsecThisOrNewer } from './podsec.ts';

const u7sAdmin = { owner: U7S_ADMIN_USER, group: U7S_ADMIN_GROUP };
const readableByU7sAdmin = { owner: 'root', group: U7S_ADMIN_GROUP };

const etc = '%_sysconfdir/podsec/u7s';
const configDir = `${etc}/config`;
const kubeadmConfigs = `${configDir}/kubeadm-configs`;
const state = '%_localstatedir/podsec/u7s';
const home = '%_localstatedir/u7s-admin';
const kubeadmSource = (kind: string) => ({ yaml: `policies/u7s/kubeadm/${kind}.ts` });

const etcDir = (path: string) => dir(path, 0o750, readableByU7sAdmin);
const libexecBin = '%_libexecdir/podsec/u7s/bin';
/**
 * Programs in /usr/libexec/podsec/u7s/bin: root-owned 0755 (upstream: u7s-admin's 0700, run by
 * root). The administrative ones have section-8 man pages (not on PATH, so no completion).
 */
const U7S_LIBEXEC_PROGRAMS = ['nsenter_u7s', 'u7s-rootlesskit', 'u7s-crio', 'u7s-kubelet', 'u7s-service-ports', 'u7s-start-stop'];
/** Shims standing in for systemctl and rootlessctl inside the node namespace: no pages (they would clash with the real commands' pages). */
const U7S_LIBEXEC_SHIMS = ['systemctl', 'rootlessctl'];
const unitTemplate = (template: string) => ({ ejs: `units/${template}.ejs`, data: { libexec: U7S_LIBEXEC_BIN, envFile: `${U7S_CONFIG_DIR}/config/env` } });
/** A kubeadm document u7s-admin runs kubeadm with (upstream: 0600 u7s-admin). */
const kubeadmDocument = (kind: string, kindOfEntry: typeof config) =>
  kindOfEntry(`${kubeadmConfigs}/${kind}.yaml`, kubeadmSource(kind), 0o640, readableByU7sAdmin);

const podsecK8s: PackageDecl = {
  name: 'podsec-k8s',
  summary: 'Rootless Kubernetes (u7s) node for podsec',
  description: `Deploys a Kubernetes node that runs entirely as the unprivileged user
u7s-admin (rootlesskit, slirp4netns, CRI-O, kubelet), with kubeadm init/join
through the podsec wrapper, flannel networking, API audit and podsec's
signed-image policy.`,
  group: 'Development/Other',
  requires: [
    podsecThisOrNewer,
    { name: 'rootlesskit', op: '>=', version: '1.1.0' },
    { name: 'slirp4netns', op: '>=', version: '1.1.12' },
    // CRI-O 1.34 writes OCI runtime-spec 1.2.x, which crun before 1.14.3 refuses ("unknown version
    // specified"; crun 1.8.1 was seen failing, 1.21 runs the cluster tier).
    { name: 'crun', op: '>=', version: '1.14.3' },
    // podsec-u7s-etcd-snapshot runs /usr/bin/etcdctl and /usr/bin/etcdutl (etcdutl exists since etcd
    // 3.5). ALT's package `etcd` (altlinux/specs e/etcd/etcd.spec, 3.5.15-alt1) builds both into
    // %_bindir; its server (/usr/sbin/etcd, etcd.service) is a unit of its own the node does not use.
    { name: 'etcd', op: '>=', version: '3.5.0' },
    // Upstream's machinectl sessions are gone (the user manager lingers, root hands work to
    // u7s-admin with setpriv from util-linux, which every ALT system has); kept until the package
    // declarations test is updated with it.
  ],
  groups: [U7S_ADMIN_GROUP],
  users: [
    {
      name: U7S_ADMIN_USER,
      group: U7S_ADMIN_GROUP,
      home,
      supplementaryGroups: ['systemd-journal', 'podman'],
      comment: 'usernet user account',
    },
  ],
  entries: [
    dir('%_libexecdir/podsec/u7s'),
    dir(libexecBin),
    // The kubeadm wrapper, the preflight check and the load balancer configuration.
    program('%_bindir/podsec-u7s-kubeadm', 'podsec-u7s-kubeadm'),
    program('%_bindir/podsec-u7s-preflight', 'podsec-u7s-preflight'),
    program('%_bindir/podsec-u7s-loadbalancer', 'podsec-u7s-loadbalancer'),
    // Day-2 operations: certificate expiry and renewal, etcd snapshots, upgrades.
    program('%_bindir/podsec-u7s-certs', 'podsec-u7s-certs'),
    program('%_bindir/podsec-u7s-etcd-snapshot', 'podsec-u7s-etcd-snapshot'),
    program('%_bindir/podsec-u7s-upgrade', 'podsec-u7s-upgrade'),
    ...U7S_LIBEXEC_PROGRAMS.map((name) => program(`${libexecBin}/${name}`, `u7s/${name}`, 0o755, { manSection: 8 })),
    ...U7S_LIBEXEC_SHIMS.map((name) => program(`${libexecBin}/${name}`, `u7s/${name}`)),
    // PATH=/usr/libexec/podsec/u7s/bin:$PATH makes `kubeadm` the wrapper (upstream's procedure).
    symlink(`${libexecBin}/kubeadm`, '../../../../bin/podsec-u7s-kubeadm'),
    // The shapes of the --json outputs, for monitoring that reads them.
    dir('%_docdir/podsec-k8s'),
    file('%_docdir/podsec-k8s/podsec-u7s-preflight.schema.json', { json: 'policies/schemas/podsec-u7s-preflight.schema.ts' }),
    file('%_docdir/podsec-k8s/u7s-start-stop-status.schema.json', { json: 'policies/schemas/u7s-start-stop-status.schema.ts' }),
    // Not enabled on install (the kubeadm wrapper enables it after init/join); never restarted by an upgrade.
    systemUnit('u7s.service', unitTemplate('u7s.service'), { keepRunningOnUpgrade: true }),
    userUnit('rootlesskit.service', unitTemplate('user/rootlesskit.service')),
    userUnit('kubelet.service', unitTemplate('user/kubelet.service')),
    userUnit('u7s-service-ports.service', unitTemplate('user/u7s-service-ports.service')),

    // Host settings. Upstream did not own the drop-in directory.
    dir('%_unitdir/user@.service.d'),
    dropIn('%_unitdir/user@.service.d/delegate.conf', { ejs: 'units/user@.service.d/delegate.conf.ejs' }),
    // A plain file (upstream: %config): the vendor directory is not edited; an admin overrides it
    // with /etc/modules-load.d/u7s.conf. 0644 (upstream 0640): the module list is not secret.
    file('%_modules_loaddir/u7s.conf', { ejs: 'policies/u7s/modules-load.conf.ejs' }, 0o644),

    // State. Only etcd's data belongs to u7s-admin. Upstream gave u7s-admin all of
    // /var/lib/podsec/u7s, but podsec-inotify-check-kubeapi (root) writes in log/kubeapi: a
    // u7s-admin-owned path there would let it redirect root's writes through a symlink.
    dir(state, 0o755),
    dir(`${state}/etcd`, 0o700, u7sAdmin),
    // etcd snapshots (podsec-u7s-etcd-snapshot): root's alone, they hold every Secret of the cluster.
    dir(`${state}/etcd-snapshots`, 0o700),
    dir(`${state}/log`, 0o700),
    dir(`${state}/log/kubeapi`, 0o700),

    etcDir(etc),
    etcDir(`${etc}/audit`),
    // noreplace: sites tune what they audit; podsec-inotify-check-kubeapi only needs the 403s.
    configNoReplace(`${etc}/audit/policy.yaml`, { yaml: 'policies/u7s/audit/policy.ts' }, 0o644),

    etcDir(configDir),
    // CNI and flannel files are plain %config: they must match the flannel manifest we ship.
    etcDir(`${configDir}/flannel`),
    etcDir(`${configDir}/flannel/cni_net.d`),
    config(`${configDir}/flannel/cni_net.d/10-flannel.conflist`, { json: 'policies/u7s/cni/10-flannel.conflist.ts' }),
    // Replaces upstream's unused flannel/etcd/coreos.com_network_config (a wrong 10.5.0.0/16).
    config(`${configDir}/flannel/net-conf.json`, { json: 'policies/u7s/flannel/network-config.ts' }),

    // What the wrapper renders for one kubeadm run (init.yaml, join.yaml); removed after a join,
    // whose document holds the join secrets.
    etcDir(`${configDir}/rendered`),
    etcDir(kubeadmConfigs),
    // %config: every variable field of these comes from the wrapper's command line.
    kubeadmDocument('InitConfiguration', config),
    kubeadmDocument('JoinConfiguration', config),
    kubeadmDocument('JoinControlPlaneConfiguration', config),
    // noreplace: where a site tunes its cluster, kubelet and kube-proxy beyond the wrapper's flags.
    configNoReplace(`${kubeadmConfigs}/InitClusterConfiguration.yaml`, kubeadmSource('ClusterConfiguration'), 0o640, readableByU7sAdmin),
    // Upstream shipped a byte-identical copy; a link keeps the name without a second file to drift.
    symlink(`${kubeadmConfigs}/JoinClusterConfiguration.yaml`, 'InitClusterConfiguration.yaml'),
    kubeadmDocument('KubeletConfiguration', configNoReplace),
    kubeadmDocument('KubeProxyConfiguration', configNoReplace),

    // %config: pinned to the flannel version and images this release was tested with.
    etcDir(`${etc}/manifests`),
    config(`${etc}/manifests/coredns.yaml`, { yaml: 'policies/u7s/manifests/coredns.ts', multiDocument: true }, 0o640, readableByU7sAdmin),
    // One flannel version instead of upstream's 26 vendored manifests.
    config(`${etc}/manifests/kube-flannel.yml`, { yaml: 'policies/u7s/manifests/kube-flannel.ts', multiDocument: true }, 0o640, readableByU7sAdmin),
    // Not applied by the wrapper: the operator's choice, with the site's platform filled in (README, "Ingress").
    config(`${etc}/manifests/ingress-traefik.yaml`, { yaml: 'policies/u7s/manifests/ingress-traefik.ts', multiDocument: true }, 0o640, readableByU7sAdmin),

    // u7s-admin's home: its own, as upstream.
    dir(home, 0o700, u7sAdmin),
    dir(`${home}/.local`, 0o700, u7sAdmin),
    dir(`${home}/.local/share`, 0o700, u7sAdmin),
    dir(`${home}/.local/share/usernetes`, 0o700, u7sAdmin),
    dir(`${home}/.local/share/usernetes/containers`, 0o700, u7sAdmin),
    // podman and CRI-O share one image store. Declared here instead of made by %pre (upstream); a
    // directory podman made there before the package is moved into the store by %pre.
    symlink(`${home}/.local/share/containers`, 'usernetes/containers', { ...u7sAdmin, replacesDirectory: true }),
  ],
};

export default podsecK8s;
