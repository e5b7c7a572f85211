/**
 * The static artifacts of podsec-k8s, podsec-icinga, podsec-nagios and the nagwad filter: every
 * content source is rendered as the build renders it, parsed back with a real parser (or run, for
 * the sed filter) and checked for the values a rootless node and the monitoring chain depend on.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { CRITICAL_SEVERITIES, MONITORED_PROGRAMS, WARNING_SEVERITIES } from '../../policies/monitoring/monitored-programs.ts';
import {
  KUBEADM_TEMPLATED_FIELDS,
  MANIFEST_TEMPLATED_FIELDS,
  PLATFORM_PLACEHOLDER,
  pathSegments,
  TRAEFIK_VERSION,
  type TemplatedField,
} from '../../bin/u7s/lib/kubeadm-fields.ts';
import { BRANCHES, resolvePath, rootMacroOf } from '../../scripts/model/branches.ts';
import { externalDirs } from '../../scripts/model/packages/external-dirs.ts';
import nagwadFilter from '../../scripts/model/packages/nagwad-entry.ts';
import podsecIcinga from '../../scripts/model/packages/podsec-icinga.ts';
import podsecK8s from '../../scripts/model/packages/podsec-k8s.ts';
import podsecNagios from '../../scripts/model/packages/podsec-nagios.ts';
import { INGRESS_NAMESPACE, INGRESS_NODE_PORT } from '../../policies/u7s/manifests/ingress-traefik.ts';
import type { Entry, PackageDecl } from '../../scripts/model/types.ts';
import { renderContent, type RenderContext } from '../../scripts/render.ts';

const context: RenderContext = { branch: 'p11', version: '2.0.0', release: 'alt1' };
const packages: PackageDecl[] = [podsecK8s, podsecIcinga, podsecNagios];
const allEntries: Entry[] = [...packages.flatMap((p) => p.entries), nagwadFilter];

function entryAt(path: string): Entry {
  const entry = allEntries.find((e) => e.path === path);
  if (!entry) throw new Error(`no entry declares ${path}`);
  return entry;
}

async function rendered(path: string): Promise<string> {
  const { content } = entryAt(path);
  if (!content) throw new Error(`${path} has no content`);
  return renderContent(content, context);
}

type Doc = Record<string, any>;
const yamlAt = async (path: string): Promise<Doc> => YAML.parse(await rendered(path));
const jsonAt = async (path: string): Promise<Doc> => JSON.parse(await rendered(path));
const yamlDocumentsAt = async (path: string): Promise<Doc[]> => YAML.parseAllDocuments(await rendered(path)).map((document) => document.toJS());

const U7S = '%_sysconfdir/podsec/u7s';
const KUBEADM = `${U7S}/config/kubeadm-configs`;
const FLANNEL_MANIFEST = `${U7S}/manifests/kube-flannel.yml`;
const COREDNS_MANIFEST = `${U7S}/manifests/coredns.yaml`;
const INGRESS_MANIFEST = `${U7S}/manifests/ingress-traefik.yaml`;
const SED = '%_sysconfdir/nagwad/podsec.sed';

function valueAt(document: unknown, path: string): unknown {
  let node: any = document;
  for (const segment of pathSegments(path)) {
    if (node === null || typeof node !== 'object' || !(segment in node)) return undefined;
    node = node[segment];
  }
  return node;
}

function assertTemplatedFields(document: Doc, fields: TemplatedField[], where: string) {
  for (const field of fields) {
    const actual = valueAt(document, field.path);
    if ('default' in field) assert.equal(actual, field.default, `${where} ${field.path}: packaged default`);
    else assert.is(actual, undefined, `${where} ${field.path}: left for the wrapper, must be absent`);
  }
}

const manifestDocument = (documents: Doc[], id: string): Doc => {
  const found = documents.find((d) => `${d.kind}/${d.metadata?.name}` === id);
  if (!found) throw new Error(`no ${id} in the manifest`);
  return found;
};

test('every content source of the packages renders, and YAML/JSON sources parse back', async () => {
  const withContent = allEntries.filter((e) => e.content && !('program' in e.content));
  assert.ok(withContent.length >= 19, `only ${withContent.length} content entries`);
  for (const entry of withContent) {
    const text = await renderContent(entry.content!, context);
    assert.ok(text.trim().length > 0, `${entry.path} rendered empty`);
    assert.not.match(text, /&#\d+;|&(amp|lt|gt|quot);/, `${entry.path}: HTML-escaped output`);
    if ('json' in entry.content!) JSON.parse(text);
    if ('yaml' in entry.content!) assert.not.match(text, /[&*]a\d+\b/, `${entry.path}: YAML alias from a shared object`);
    if ('yaml' in entry.content!) YAML.parseAllDocuments(text).forEach((d) => assert.equal(d.errors, [], entry.path));
  }
});

test('KubeletConfiguration carries the rootless settings', async () => {
  const kubelet = await yamlAt(`${KUBEADM}/KubeletConfiguration.yaml`);
  assert.is(kubelet.kind, 'KubeletConfiguration');
  assert.is(kubelet.featureGates.KubeletInUserNamespace, true);
  assert.is(kubelet.cgroupDriver, 'cgroupfs');
  assert.is(kubelet.failSwapOn, false);
  assert.equal(kubelet.evictionHard, { 'nodefs.available': '3%' });
  assert.is(kubelet.localStorageCapacityIsolation, false);
  assert.is(kubelet.cgroupsPerQOS, true);
  assert.equal(kubelet.enforceNodeAllocatable, []);
  assert.is(kubelet.volumePluginDir, '/var/lib/u7s-admin/.local/share/usernetes/kubelet-plugins-exec');
});

test('KubeProxyConfiguration leaves conntrack alone (all zeros) and uses iptables', async () => {
  const proxy = await yamlAt(`${KUBEADM}/KubeProxyConfiguration.yaml`);
  assert.is(proxy.mode, 'iptables');
  assert.equal(proxy.conntrack, { maxPerCore: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' });
});

test('kubeadm documents: API version, CRI socket, and the wrapper-filled fields match templated-fields', async () => {
  const installedFile: Record<keyof typeof KUBEADM_TEMPLATED_FIELDS, string> = {
    InitConfiguration: 'InitConfiguration.yaml',
    ClusterConfiguration: 'InitClusterConfiguration.yaml',
    JoinConfiguration: 'JoinConfiguration.yaml',
    JoinControlPlaneConfiguration: 'JoinControlPlaneConfiguration.yaml',
    KubeletConfiguration: 'KubeletConfiguration.yaml',
    KubeProxyConfiguration: 'KubeProxyConfiguration.yaml',
  };
  for (const [document, fields] of Object.entries(KUBEADM_TEMPLATED_FIELDS)) {
    const parsed = await yamlAt(`${KUBEADM}/${installedFile[document as keyof typeof installedFile]}`);
    assertTemplatedFields(parsed, fields, document);
  }
  for (const name of ['InitConfiguration', 'JoinConfiguration', 'JoinControlPlaneConfiguration']) {
    const parsed = await yamlAt(`${KUBEADM}/${name}.yaml`);
    assert.is(parsed.apiVersion, 'kubeadm.k8s.io/v1beta3', name);
    assert.is(parsed.nodeRegistration.criSocket, 'unix:///run/crio/crio.sock', name);
    assert.is(parsed.nodeRegistration.taints, null, `${name}: null lets kubeadm apply its default taints`);
  }
  const controlPlaneJoin = await yamlAt(`${KUBEADM}/JoinControlPlaneConfiguration.yaml`);
  assert.is(controlPlaneJoin.kind, 'JoinConfiguration');
  assert.ok(controlPlaneJoin.controlPlane, 'a control-plane join has a controlPlane section');
  const cluster = await yamlAt(`${KUBEADM}/InitClusterConfiguration.yaml`);
  assert.is(cluster.etcd.local.dataDir, '/var/lib/podsec/u7s/etcd');
  assert.is(cluster.etcd.local.extraArgs['enable-v2'], undefined, 'etcd 3.6 rejects --enable-v2');
  const joinCluster = entryAt(`${KUBEADM}/JoinClusterConfiguration.yaml`);
  assert.is(joinCluster.kind, 'symlink');
  assert.is(joinCluster.target, 'InitClusterConfiguration.yaml'); // relative: the link survives a moved root
  assert.not.ok(
    allEntries.some((e) => e.path.includes('Confijuration')),
    'upstream typo fixed',
  );
});

test('cluster manifests: placeholders and defaults match templated-fields, images are registry.local/<platform>/', async () => {
  const manifests = { 'kube-flannel': FLANNEL_MANIFEST, coredns: COREDNS_MANIFEST };
  for (const [manifest, documents] of Object.entries(MANIFEST_TEMPLATED_FIELDS)) {
    const parsed = await yamlDocumentsAt(manifests[manifest as keyof typeof manifests]);
    for (const [id, fields] of Object.entries(documents)) {
      // net-conf.json is present (flannel needs one) and rewritten with the pod CIDR at run time.
      const withoutNetConf = fields.filter((f: TemplatedField) => f.path !== 'data[net-conf.json]');
      assertTemplatedFields(manifestDocument(parsed, id), withoutNetConf, `${manifest} ${id}`);
    }
    const images = JSON.stringify(parsed).match(/"image":"[^"]*"/g) ?? [];
    assert.ok(images.length > 0, `${manifest}: no images`);
    for (const image of images) assert.ok(image.startsWith(`"image":"registry.local/${PLATFORM_PLACEHOLDER}/`), image);
  }
  const flannelDocuments = await yamlDocumentsAt(FLANNEL_MANIFEST);
  assert.equal(
    flannelDocuments.map((d) => d.kind),
    ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet'],
  );
});

test('the ingress manifest: the registry.local placeholder image, a restricted namespace, a hardened non-root controller, the published NodePort', async () => {
  const documents = await yamlDocumentsAt(INGRESS_MANIFEST);
  assert.equal(
    documents.map((d) => d.kind),
    ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'IngressClass', 'Deployment', 'Service'],
  );
  assert.is(manifestDocument(documents, `Namespace/${INGRESS_NAMESPACE}`).metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
  const pod = manifestDocument(documents, 'Deployment/traefik').spec.template.spec;
  const [container] = pod.containers;
  assert.is(container.image, `registry.local/${PLATFORM_PLACEHOLDER}/traefik:${TRAEFIK_VERSION}`);
  assert.is(pod.securityContext.runAsNonRoot, true);
  assert.equal(container.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true });
  // A closed network: the controller must not call home.
  for (const flag of ['--global.checkNewVersion=false', '--global.sendAnonymousUsage=false']) assert.ok(container.args.includes(flag), flag);
  const rules = manifestDocument(documents, 'ClusterRole/podsec-ingress-traefik').rules as { verbs: string[] }[];
  assert.ok(
    rules.every((r) => r.verbs.every((v) => ['get', 'list', 'watch', 'update'].includes(v))),
    'the controller only reads, and updates Ingress status',
  );
  const service = manifestDocument(documents, 'Service/traefik');
  assert.is(service.spec.type, 'NodePort');
  assert.is(service.spec.ports[0].nodePort, INGRESS_NODE_PORT);
});

test('the flannel Network is the same everywhere: net-conf.json, manifest, kubeadm pod subnet; CNI conflist too', async () => {
  const netConf = await jsonAt(`${U7S}/config/flannel/net-conf.json`);
  const configMap = manifestDocument(await yamlDocumentsAt(FLANNEL_MANIFEST), 'ConfigMap/kube-flannel-cfg');
  const manifestNetConf = JSON.parse(configMap.data['net-conf.json']);
  const cluster = await yamlAt(`${KUBEADM}/InitClusterConfiguration.yaml`);
  assert.is(netConf.Network, '10.244.0.0/16');
  assert.equal(netConf.Backend, { Type: 'vxlan' });
  assert.equal(manifestNetConf, netConf);
  assert.is(cluster.networking.podSubnet, netConf.Network);
  assert.is(cluster.controllerManager.extraArgs['cluster-cidr'], netConf.Network);
  const conflist = await jsonAt(`${U7S}/config/flannel/cni_net.d/10-flannel.conflist`);
  assert.equal(JSON.parse(configMap.data['cni-conf.json']), conflist);
  assert.equal(
    conflist.plugins.map((p: Doc) => p.type),
    ['flannel', 'portmap'],
  );
});

/** First-match evaluation of an audit policy, enough for the rules podsec ships. */
function auditLevel(policy: Doc, request: { user: string; groups: string[]; verb: string; group?: string; resource?: string; url?: string }) {
  const globMatch = (pattern: string, value: string) => (pattern.endsWith('*') ? value.startsWith(pattern.slice(0, -1)) : pattern === value);
  const rule = policy.rules.find((r: Doc) => {
    if (r.users && !r.users.includes(request.user)) return false;
    if (r.userGroups && !r.userGroups.some((g: string) => request.groups.includes(g))) return false;
    if (r.verbs && !r.verbs.includes(request.verb)) return false;
    if (r.nonResourceURLs) return request.url !== undefined && r.nonResourceURLs.some((u: string) => globMatch(u, request.url!));
    if (r.resources)
      return request.resource !== undefined && r.resources.some((g: Doc) => g.group === (request.group ?? '') && g.resources.includes(request.resource));
    return true;
  });
  return rule?.level ?? 'None';
}

test('audit policy records cluster administrators (system:masters), still skips the noisy system users', async () => {
  const policy = await yamlAt(`${U7S}/audit/policy.yaml`);
  assert.is(policy.apiVersion, 'audit.k8s.io/v1');
  const noneRules = policy.rules.filter((r: Doc) => r.level === 'None');
  assert.not.ok(
    noneRules.some((r: Doc) => r.userGroups?.includes('system:masters')),
    'system:masters excluded',
  );
  const admin = { user: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] };
  assert.is(auditLevel(policy, { ...admin, verb: 'get', resource: 'secrets' }), 'Metadata');
  assert.is(auditLevel(policy, { ...admin, verb: 'create', resource: 'pods' }), 'RequestResponse');
  assert.is(auditLevel(policy, { ...admin, verb: 'get', url: '/healthz/ready' }), 'None');
  assert.is(auditLevel(policy, { user: 'system:node:n1', groups: ['system:nodes'], verb: 'get', resource: 'pods' }), 'None');
  assert.is(auditLevel(policy, { user: 'system:kube-scheduler', groups: [], verb: 'list', resource: 'pods' }), 'None');
  assert.is(auditLevel(policy, { user: 'alice', groups: ['k8s'], verb: 'list', resource: 'nodes' }), 'Metadata');
});

test('cgroup delegation drop-in and kernel module list', async () => {
  const delegate = await rendered('%_unitdir/user@.service.d/delegate.conf');
  assert.match(delegate, /^\[Service\]\nDelegate=cpu cpuset io memory pids$/m);
  assert.not.match(delegate, /Delegate=yes/);
  const modules = (await rendered('%_modules_loaddir/u7s.conf')).split('\n').filter((l) => l && !l.startsWith('#'));
  for (const module of ['fuse', 'tun', 'br_netfilter', 'veth', 'vxlan', 'iptable_nat', 'xt_MASQUERADE', 'xt_conntrack', 'nf_tables'])
    assert.ok(modules.includes(module), module);
  assert.is(modules.length, 23);
  assert.is(entryAt('%_modules_loaddir/u7s.conf').mode, 0o644);
});

test('every monitored program appears in the sed filter, Icinga, the Director basket, Nagios and NRPE', async () => {
  const sed = await rendered(SED);
  const icinga = await rendered('%_sysconfdir/icinga2/conf.d/podsec.conf');
  const director = await jsonAt('%_docdir/podsec-icinga/podsec-icinga2.json');
  const nagios = await rendered('%_sysconfdir/nagios/templates/podsec-services.cfg');
  const nrpe = await rendered('%_sysconfdir/nagios/nrpe-commands/podsec-commands.cfg');
  assert.is(MONITORED_PROGRAMS.length, 7);
  for (const { name, nrpeCommand, description } of MONITORED_PROGRAMS) {
    assert.ok(sed.includes(`[[:space:]]${name}\\[`), `sed: ${name}`);
    assert.ok(icinga.includes(`apply Service "${name}" {`), `icinga: ${name}`);
    assert.ok(icinga.includes(`vars.nagwad_filter = "${name}"`), `icinga filter: ${name}`);
    assert.is(director.ServiceTemplate[`d-${name}`]?.vars.nagwad_filter, name, `director: ${name}`);
    assert.ok(nagios.includes(`check_command           check_nrpe!${nrpeCommand}\n`), `nagios: ${name}`);
    assert.ok(nagios.includes(`service_description     ${description}\n`), `nagios description: ${name}`);
    assert.ok(nrpe.includes(`command[${nrpeCommand}]=/usr/lib/nagios/plugins/check_nagwad ${name}\n`), `nrpe: ${name}`);
  }
  assert.is(icinga.match(/^apply Service /gm)?.length, 7);
  assert.is(nagios.match(/^define service \{/gm)?.length, 7);
  assert.is(nrpe.match(/^command\[/gm)?.length, 7);
  assert.is(director.ServiceSet['d-nagwad-podsec-set'].services.length, 7);
  assert.match(icinga, /assign where "nagwad-nodes" in host.groups && "podsec-nodes" in host.groups/);
  // Every Nagios service is scoped to the podsec nodes (upstream: all nagwad nodes).
  assert.equal([...new Set(nagios.match(/^\s*hostgroup_name\s+\S+/gm)!.map((l) => l.trim().split(/\s+/)[1]))], ['podsec-nodes']);
});

function runSed(script: string, input: string, extended: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'podsec-sed-'));
  try {
    const file = join(dir, 'podsec.sed');
    writeFileSync(file, script);
    const args = extended ? ['-n', '-E', '-f', file] : ['-n', '-f', file];
    const result = spawnSync('sed', args, { input, encoding: 'utf8' });
    assert.is(result.status, 0, `sed ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const journal = (program: string, text: string) => `Jan 01 00:00:00 node1 ${program}[123]: ${text}\n`;

for (const extended of [true, false]) {
  test(`nagwad sed filter maps severities to nagwad levels (sed ${extended ? '-E' : 'basic regex'})`, async () => {
    const sed = await rendered(SED);
    const filter = (input: string) => runSed(sed, input, extended);
    assert.is(
      filter('Jan 01 00:00:00 host podsec-inotify-check-policy[123]: High: bad policy\n'),
      'podsec-inotify-check-policy:CRITICAL:podsec-inotify-check-policy(High) bad policy\n',
    );
    for (const { name, reportsWarnings } of MONITORED_PROGRAMS) {
      for (const severity of CRITICAL_SEVERITIES)
        assert.is(filter(journal(name, `${severity}: m`)), `${name}:CRITICAL:${name}(${severity}) m\n`, `${name} ${severity}`);
      for (const severity of WARNING_SEVERITIES)
        assert.is(filter(journal(name, `${severity}: w`)), reportsWarnings ? `${name}:WARNING:${name}(${severity}) w\n` : '', name);
      for (const quiet of ['Low: l', 'Debug: d', 'no severity word', 'Highly: h']) assert.is(filter(journal(name, quiet)), '', `${name} ${quiet}`);
    }
    assert.is(
      filter(journal('podsec-inotify-check-containers', 'Warning: x')),
      'podsec-inotify-check-containers:WARNING:podsec-inotify-check-containers(Warning) x\n',
    );
    assert.is(
      filter(journal('podsec-inotify-build-invulnerable-image', 'Fatal: z')),
      'podsec-inotify-build-invulnerable-image:CRITICAL:podsec-inotify-build-invulnerable-image(Fatal) ' + 'z\n',
    );
    // Exact program names only.
    assert.is(filter(journal('xpodsec-inotify-check-policy', 'High: x')), '');
    assert.is(filter(journal('podsec-inotify-check-policyx', 'High: x')), '');
    assert.is(filter(journal('podsec-inotify-check-other', 'Critical: x')), '');
    // Consistent rules: a line that starts with the program name matches every level alike.
    assert.is(filter('podsec-inotify-check-vuln[1]: Warning: w\n'), 'podsec-inotify-check-vuln:WARNING:podsec-inotify-check-vuln(Warning) w\n');
    assert.is(filter('podsec-inotify-check-vuln[1]: Critical: c\n'), 'podsec-inotify-check-vuln:CRITICAL:podsec-inotify-check-vuln(Critical) c\n');
    // Another program quoting a podsec line is not an alert; a message quoting one is reported once.
    assert.is(filter(journal('sshd', 'podsec-inotify-check-vuln[1]: High: forged')), '');
    assert.is(
      filter(journal('podsec-inotify-check-vuln', 'High: a podsec-inotify-check-kubeapi[2]: Critical: b')),
      'podsec-inotify-check-vuln:CRITICAL:podsec-inotify-check-vuln(High) a podsec-inotify-check-kubeapi[2]: Critical: b\n',
    );
    // One output line per alert line, nothing for the rest.
    const mixed = journal('podsec-inotify-check-images', 'Middle: 1') + journal('kernel', 'High: 2') + journal('podsec-inotify-check-kubeapi', 'Crash: 3');
    assert.is(filter(mixed).split('\n').filter(Boolean).length, 2);
  });
}

test('the sed filter prints nothing but alerts even without -n, and leaves other lines untouched', async () => {
  const sed = await rendered(SED);
  const dir = mkdtempSync(join(tmpdir(), 'podsec-sed-'));
  try {
    const file = join(dir, 'podsec.sed');
    writeFileSync(file, sed);
    const quiet = spawnSync('sed', ['-f', file], { input: journal('podsec-inotify-check-policy', 'Low: l') + 'other\n', encoding: 'utf8' });
    assert.is(quiet.stdout, '');
    // Appended to a second filter that prints everything, a non-alert podsec line comes out unchanged.
    const passThrough = spawnSync('sed', ['-n', '-f', file, '-e', 'p'], { input: journal('podsec-inotify-check-policy', 'Low: l'), encoding: 'utf8' });
    assert.is(passThrough.stdout, journal('podsec-inotify-check-policy', 'Low: l'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const BASE_PACKAGE_DIRS = ['%_sysconfdir/podsec', '%_localstatedir/podsec', '%_libexecdir/podsec'];

test('paths use root macros, resolve on every branch, and every parent directory has an owner', () => {
  const owned = new Set([...allEntries.filter((e) => e.kind === 'dir').map((e) => e.path), ...BASE_PACKAGE_DIRS]);
  const external = new Set(externalDirs.map((d) => d.path));
  for (const entry of allEntries) {
    assert.ok(rootMacroOf(entry.path), `${entry.path}: literal path, use a root macro`);
    for (const branch of BRANCHES) resolvePath(entry.path, branch);
    for (let parent = entry.path.slice(0, entry.path.lastIndexOf('/')); !/^%_[a-z_]+$/.test(parent); parent = parent.slice(0, parent.lastIndexOf('/')))
      assert.ok(owned.has(parent) || external.has(parent), `${entry.path}: nobody owns ${parent}`);
  }
  for (const dir of externalDirs) assert.not.ok(owned.has(dir.path), `${dir.path} is ours, not external`);
  for (const pkg of [podsecIcinga, podsecNagios]) {
    for (const entry of pkg.entries) {
      const provider = externalDirs.find((d) => entry.path.startsWith(`${d.path}/`) && entry.path.split('/').length === d.path.split('/').length + 1);
      if (provider)
        assert.ok(
          pkg.requires.some((r) => r.name === provider.providedBy),
          `${pkg.name} must require ${provider.providedBy}`,
        );
    }
  }
});

test('podsec-k8s: nothing root reads under /etc/podsec/u7s or /var/lib/podsec/u7s/log is u7s-admin-writable', () => {
  for (const entry of podsecK8s.entries) {
    if (!entry.path.startsWith(U7S) && !entry.path.startsWith('%_localstatedir/podsec/u7s/log')) continue;
    assert.is(entry.owner, 'root', `${entry.path} owner`);
    const groupWritable = (entry.mode & 0o020) !== 0 && entry.kind !== 'symlink';
    assert.not.ok(groupWritable || (entry.kind !== 'symlink' && (entry.mode & 0o002) !== 0), `${entry.path} mode ${entry.mode.toString(8)}`);
  }
  const etcd = entryAt('%_localstatedir/podsec/u7s/etcd');
  assert.is(etcd.owner, 'u7s-admin');
  assert.is(etcd.mode, 0o700);
  assert.is(entryAt('%_localstatedir/u7s-admin').owner, 'u7s-admin');
  assert.is(entryAt('%_localstatedir/u7s-admin/.local/share/containers').target, 'usernetes/containers');
});

test('package declarations: requires, users, config kinds', () => {
  const names = (p: PackageDecl) => p.requires.map((r) => `${r.name}${r.op ? ` ${r.op} ${r.version}` : ''}`);
  assert.equal(names(podsecK8s), ['podsec >= %EVR', 'rootlesskit >= 1.1.0', 'slirp4netns >= 1.1.12', 'crun >= 1.14.3', 'etcd >= 3.5.0']);
  assert.equal(podsecK8s.groups, ['u7s-admin']);
  assert.equal(podsecK8s.users, [
    {
      name: 'u7s-admin',
      group: 'u7s-admin',
      home: '%_localstatedir/u7s-admin',
      supplementaryGroups: ['systemd-journal', 'podman'],
      comment: 'usernet user account',
    },
  ]);
  assert.ok(names(podsecIcinga).includes('nagwad-icinga-templates >= 0.11.2'));
  assert.ok(names(podsecNagios).includes('nagwad-nagios-templates >= 0.11.2'));
  assert.is(podsecIcinga.group, 'Monitoring');
  assert.is(podsecNagios.group, 'Monitoring');
  for (const path of [
    '%_sysconfdir/icinga2/conf.d/podsec.conf',
    '%_sysconfdir/nagios/templates/podsec-services.cfg',
    '%_sysconfdir/nagios/nrpe-commands/podsec-commands.cfg',
    SED,
  ])
    assert.is(entryAt(path).kind, 'config-noreplace', path);
  assert.is(entryAt(SED).mode, 0o644);
  assert.is(entryAt('%_unitdir/user@.service.d/delegate.conf').kind, 'drop-in');
});

test.run();
