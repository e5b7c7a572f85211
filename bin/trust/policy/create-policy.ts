/**
 * podsec-create-policy's work, as a plan (see plan.ts). Master (the address is local): groups,
 * sysctl, /etc/hosts, the /var/sigstore tree, a reject-by-default policy that keeps the image
 * makers' scopes, registries.d lookaside, registries.conf, the trust key and the published,
 * signed trust bundle. Node: the same, except that the policy and keys come from the master's
 * trust bundle, verified against the pinned fingerprint or checksum before anything changes.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError } from '../../lib/command.ts';
import {
  parsePolicy,
  parseRegistriesD,
  PolicySyntaxError,
  rejectAllPolicy,
  serializePolicy,
  serializeRegistriesD,
  type ContainersPolicy,
  type PolicyRequirement,
} from '../../lib/containers-policy.ts';
import { translator } from '../../lib/i18n.ts';
import { atomicWrite } from '../../lib/safe-fs.ts';
import { CONTAINERS_CONFIG_DIR, PODMAN_DEV_GROUP, PODMAN_GROUP, SIGSTORE_HOST, SIGSTORE_PORT, SIGSTORE_ROOT, SIGSTORE_URL } from '../../lib/names.ts';
import {
  BUNDLE_NAME,
  fingerprintOf,
  formatFingerprint,
  KEYS_DIR,
  MASTER_KEY_FILE,
  NODE_STATE_FILE,
  PUBLISHED_POLICY_NAME,
  type Pin,
} from '../bundle/format.ts';
import { fetchTrustBundle, readNodeState, writeNodeState, type FetchedBundle, type NodeTrustState } from '../bundle/node.ts';
import { installMasterKey, newMasterKey, readMasterKey } from '../bundle/key.ts';
import { planPublish } from '../bundle/publish.ts';
import { SIGSTORE_REGISTRIES_D, SIGSTORE_REGISTRIES_D_PREFIX, sigstoreRegistriesD } from './maker-policy.ts';
import { planDir, planFile, planManaged, planParentDir, readCurrent, type Current } from '../file-changes.ts';
import { HOSTS_FILE, readHostsFile } from '../../lib/hosts.ts';
import { planHostsBinding } from '../hosts.ts';
import { Plan } from '../../lib/plan.ts';
import { planRegistriesConf, RegistriesConfError } from './registries-conf.ts';
import { addSystemGroup, groupGid } from '../../lib/accounts.ts';
import {
  applyUsernsSysctl,
  CONTROL_FACILITIES,
  CONTROL_STATE,
  controlState,
  hasControlFacility,
  setControlState,
  SYSCTL_CONTENT,
  SYSCTL_FILE,
  USERNS_SYSCTL,
  usernsSysctlValue,
  writesUsernsSysctl,
} from '../userns.ts';

const t = translator('podsec');

export const POLICY_FILE = `${CONTAINERS_CONFIG_DIR}/policy.json`;
const REGISTRIES_D_DIR = `${CONTAINERS_CONFIG_DIR}/registries.d`;
const DEFAULT_YAML = `${REGISTRIES_D_DIR}/default.yaml`;
const REGISTRIES_CONF = `${CONTAINERS_CONFIG_DIR}/registries.conf`;
const INDEX_HTML = `${SIGSTORE_ROOT}/index.html`;
export const SIGNATURES_DIR = `${SIGSTORE_ROOT}/sigstore`;

export const POLICY_HISTORY = { prefix: 'policy_', backupPrefix: 'policy_', backup: 'move' } as const;
const DEFAULT_YAML_HISTORY = { prefix: 'default_', backupPrefix: 'default.yaml.', backup: 'move' } as const;
const REGISTRIES_CONF_HISTORY = { prefix: 'registries_', backupPrefix: 'registries.conf.', backup: 'copy' } as const;

const INDEX_HTML_CONTENT = '<html><body><h1>SigStore works!</h1></body></html>\n';

/** registries.d/default.yaml as upstream writes it: both the current and the pre-1.26 key names. */
const DEFAULT_YAML_CONTENT = `default-docker:\n  lookaside: ${SIGSTORE_URL}\n  sigstore: ${SIGSTORE_URL}\n`;

export type Role = 'master' | 'node';

interface CreatePolicyInput {
  root: string;
  address: string;
  role: Role;
  now: Date;
  /** Node: the pin given on the command line (else the one this node stored). */
  pin?: Pin;
  /** Node: the oldest bundle (days) a node that has accepted none yet takes; undefined: any age. */
  maxBundleAgeDays?: number;
  /** Node: where the bundle is; default http://<address>:81/keys/ with Host sigstore.local:81. */
  keysUrl?: string;
  /** Whether this run applies changes (a dry run must not generate a key it would then forget). */
  dryRun: boolean;
}

const isSignatureRequirement = (r: PolicyRequirement) => r.type === 'signedBy' || r.type === 'sigstoreSigned';

/** The existing policy, parsed strictly; a malformed one is refused with where it is broken. */
export function readExistingPolicy(root: string): { current: Current; policy?: ContainersPolicy } {
  const current = readCurrent(root, POLICY_FILE);
  if (current.kind === 'absent' || current.bytes === undefined) return { current };
  try {
    return { current, policy: parsePolicy(current.bytes.toString('utf8'), POLICY_FILE) };
  } catch (error) {
    if (error instanceof PolicySyntaxError) throw new CommandError(t('refusing to edit a malformed policy: {reason}', { reason: error.message }), 1);
    throw error;
  }
}

/**
 * The master's policy: reject by default, plus every docker scope of the current policy that
 * requires signatures (the image makers' scopes). Anything else is dropped and reported.
 */
export function masterPolicy(current: ContainersPolicy | undefined): { policy: ContainersPolicy; dropped: string[] } {
  const policy = rejectAllPolicy();
  const dropped: string[] = [];
  if (!current) return { policy, dropped };
  for (const [transport, scopes] of Object.entries(current.transports ?? {})) {
    for (const [scope, requirements] of Object.entries(scopes)) {
      if (transport === 'docker' && scope !== '' && requirements.every(isSignatureRequirement)) policy.transports!.docker![scope] = requirements;
      else dropped.push(`${transport}:${scope === '' ? '""' : scope}`);
    }
  }
  return { policy, dropped };
}

function planGroups(plan: Plan, root: string): void {
  for (const group of [PODMAN_GROUP, PODMAN_DEV_GROUP]) {
    if (groupGid(root, group) !== undefined) continue;
    plan.change(t('create the system group {group}', { group }), () => addSystemGroup(root, group));
  }
}

function planSysctl(plan: Plan, root: string): void {
  const value = root === '/' ? usernsSysctlValue() : undefined;
  if (!writesUsernsSysctl(root, value)) {
    plan.note(
      t('This kernel has no {setting}: unprivileged user namespaces need no switch, and {file} is not written.', { setting: USERNS_SYSCTL, file: SYSCTL_FILE }),
    );
    return;
  }
  planParentDir(plan, root, '/etc/sysctl.d');
  planFile(plan, root, SYSCTL_FILE, SYSCTL_CONTENT, { mode: 0o644, what: `${USERNS_SYSCTL}=1` });
  if (root === '/' && value !== '1') plan.change(t('set {setting}=1 in the running kernel', { setting: USERNS_SYSCTL }), applyUsernsSysctl);
}

function planControl(plan: Plan, root: string): void {
  for (const facility of CONTROL_FACILITIES) {
    if (!hasControlFacility(root, facility)) continue;
    if (root !== '/') {
      plan.note(t('control {facility} {state}: not applied under --root; run it on the node', { facility, state: CONTROL_STATE }));
      continue;
    }
    if (controlState(facility) === CONTROL_STATE) continue;
    plan.change(t('control {facility} {state} (only group podman may map sub-ids)', { facility, state: CONTROL_STATE }), () =>
      setControlState(facility, CONTROL_STATE),
    );
  }
}

function planSigstoreTree(plan: Plan, root: string, role: Role): void {
  planParentDir(plan, root, '/var');
  planDir(plan, root, SIGSTORE_ROOT, { mode: 0o755 });
  // Upstream made keys/ writable by podman_dev (0775), so any maker could swap another's key or
  // the published policy. Keys are installed by root now; the group is kept for compatibility.
  planDir(plan, root, KEYS_DIR, { mode: 0o755, group: role === 'master' ? PODMAN_DEV_GROUP : PODMAN_GROUP });
  if (role === 'master') {
    // Every maker writes here (setgid keeps the group); sticky: no maker renames or removes another's directory.
    planDir(plan, root, SIGNATURES_DIR, { mode: 0o3775, group: PODMAN_DEV_GROUP });
    planFile(plan, root, INDEX_HTML, INDEX_HTML_CONTENT, { mode: 0o644, what: t('the signature server page') });
  }
}

function planContainersConfigs(plan: Plan, root: string, policyText: string, current: Current, now: Date): void {
  planParentDir(plan, root, CONTAINERS_CONFIG_DIR);
  planManaged(plan, root, POLICY_FILE, policyText, POLICY_HISTORY, { now, what: t('the container image trust policy'), current });
  planParentDir(plan, root, REGISTRIES_D_DIR);
  planManaged(plan, root, DEFAULT_YAML, DEFAULT_YAML_CONTENT, DEFAULT_YAML_HISTORY, { now, what: t('signature lookaside {url}', { url: SIGSTORE_URL }) });
  // Sigstore signatures are attachments in the registry, read only where registries.d says so: a
  // node that adopts a policy with sigstoreSigned scopes needs that as much as the master does.
  const sigstoreD = sigstoreRegistriesD(parsePolicy(policyText, POLICY_FILE));
  if (sigstoreD) {
    const scopes = Object.keys(sigstoreD.docker ?? {}).join(', ');
    planManaged(
      plan,
      root,
      SIGSTORE_REGISTRIES_D,
      serializeRegistriesD(sigstoreD),
      { prefix: SIGSTORE_REGISTRIES_D_PREFIX },
      { now, what: t('sigstore signatures of {scopes} are read from the registry', { scopes }) },
    );
  }
  warnOtherDefaultDocker(plan, root);

  const conf = readCurrent(root, REGISTRIES_CONF);
  const text = conf.kind === 'absent' ? undefined : conf.bytes?.toString('utf8');
  let confPlan;
  try {
    confPlan = planRegistriesConf(text, REGISTRIES_CONF);
  } catch (error) {
    if (error instanceof RegistriesConfError)
      throw new CommandError(t('refusing to edit {file}: {reason}', { file: REGISTRIES_CONF, reason: error.message }), 1);
    throw error;
  }
  if (confPlan.change) {
    planManaged(plan, root, REGISTRIES_CONF, confPlan.text, REGISTRIES_CONF_HISTORY, { now, what: t('registry.local over plain HTTP'), current: conf });
  } else if (confPlan.table.insecure !== true) {
    plan.warn(
      t('{file}:{line}: registry.local is configured without insecure = true; podman will use HTTPS for ' + 'it', {
        file: REGISTRIES_CONF,
        line: confPlan.table.line,
      }),
    );
  }
}

/** containers/image refuses two default-docker entries across registries.d: name any other file that has one. */
function warnOtherDefaultDocker(plan: Plan, root: string): void {
  let names: string[];
  try {
    names = readdirSync(join(root, REGISTRIES_D_DIR));
  } catch {
    return;
  }
  for (const name of names.filter((n) => n.endsWith('.yaml') && n !== 'default.yaml').sort()) {
    const path = `${REGISTRIES_D_DIR}/${name}`;
    try {
      const current = readCurrent(root, path);
      if (current.kind === 'absent' || current.bytes === undefined) continue;
      if (parseRegistriesD(current.bytes.toString('utf8'), path)['default-docker']) {
        plan.warn(t('{file} also defines default-docker, which containers/image refuses next to default.yaml; remove it', { file: path }));
      }
    } catch (error) {
      plan.warn(t('{file} cannot be read as registries.d YAML ({reason}); podman will refuse it', { file: path, reason: (error as Error).message }));
    }
  }
}

function planHosts(plan: Plan, root: string, address: string): void {
  const hosts = readHostsFile(root);
  const hostsPlan = planHostsBinding(hosts.text, address, HOSTS_FILE);
  if (!hostsPlan.changed) return;
  planParentDir(plan, root, '/etc');
  plan.change(t('bind {names} to {address} in {file}', { names: hostsPlan.added.join(' '), address, file: HOSTS_FILE }), () =>
    atomicWrite(join(root, HOSTS_FILE), hostsPlan.text, { mode: 0o644, uid: 0, gid: 0, root }),
  );
}

/** The node's pin: the one given, else the one stored by an earlier bootstrap. */
function nodePin(given: Pin | undefined, previous: NodeTrustState | undefined): Pin {
  const pin = given ?? previous?.pin;
  if (!pin) {
    throw new CommandError(
      t(
        "this host is a node: the master's policy and keys are accepted only when verified. Pass " +
          '--trust-fingerprint FINGERPRINT (printed by podsec-create-policy on the master) or ' +
          '--trust-sha256 HASH',
      ),
      1,
    );
  }
  return pin;
}

function planNodeKeys(plan: Plan, root: string, bundle: FetchedBundle): void {
  for (const [name, bytes] of bundle.files) {
    if (name === PUBLISHED_POLICY_NAME) continue;
    planFile(plan, root, `${KEYS_DIR}/${name}`, bytes, { mode: 0o644, what: t('public key from the master') });
  }
  planFile(plan, root, `${KEYS_DIR}/${PUBLISHED_POLICY_NAME}`, bundle.policyText, { mode: 0o644, what: t("the master's published policy") });
  planFile(plan, root, `${KEYS_DIR}/${BUNDLE_NAME}`, bundle.envelope, { mode: 0o644, what: t('the verified trust bundle') });
}

interface CreatePolicyResult {
  plan: Plan;
}

export async function planCreatePolicy(input: CreatePolicyInput): Promise<CreatePolicyResult> {
  const { root, address, role, now } = input;
  const plan = new Plan();

  // Everything that can refuse comes first: input files, then (node) the trust bundle.
  const hostsText = readHostsFile(root).text;
  planHostsBinding(hostsText, address, HOSTS_FILE); // a conflict refuses here, before any change
  const existing = readExistingPolicy(root);

  let policyText: string;
  let bundle: FetchedBundle | undefined;
  let pin: Pin | undefined;
  let masterKey: KeyObject | undefined;
  let newKey = false;
  if (role === 'master') {
    const { policy, dropped } = masterPolicy(existing.policy);
    for (const scope of dropped) plan.warn(t('{file}: the scope {scope} does not require signatures and is dropped', { file: POLICY_FILE, scope }));
    policyText = serializePolicy(policy);
    masterKey = readMasterKey(root);
    if (!masterKey) {
      masterKey = newMasterKey();
      newKey = true;
    }
  } else {
    const previous = readNodeState(root);
    pin = nodePin(input.pin, previous);
    const keysUrl = input.keysUrl ?? `http://${address}:${SIGSTORE_PORT}/keys/`;
    bundle = await fetchTrustBundle({
      baseUrl: keysUrl,
      host: input.keysUrl ? undefined : `${SIGSTORE_HOST}:${SIGSTORE_PORT}`,
      pin,
      previous,
      maxAgeDays: input.maxBundleAgeDays,
      now,
    });
    policyText = bundle.policyText;
  }

  planGroups(plan, root);
  planSysctl(plan, root);
  planControl(plan, root);
  planSigstoreTree(plan, root, role);
  if (bundle) planNodeKeys(plan, root, bundle);
  planContainersConfigs(plan, root, policyText, existing.current, now);

  if (role === 'master') {
    const key = masterKey!;
    if (newKey) plan.change(t('generate the trust key of this master ({file})', { file: MASTER_KEY_FILE }), () => installMasterKey(root, key));
    // The keys the policy names must be publishable now; a dry run with a missing keys/ directory reads nothing.
    const publish = planPublish(root, policyText, { now, masterKey: key });
    for (const warning of publish.warnings) plan.warn(warning);
    if (publish.changed) plan.change(publish.changes.join('; '), publish.apply);
    if (!input.dryRun || !newKey) {
      const fingerprint = fingerprintOf(createPublicKey(key));
      plan.note(t('Trust key fingerprint of this master: {fingerprint}', { fingerprint: formatFingerprint(fingerprint) }));
      plan.note(t('Bundle checksum (changes with every new image maker): {sha256}', { sha256: publish.manifestSha256 }));
      plan.note(t('On each node run: podsec-create-policy --trust-fingerprint {fingerprint} {address}', { fingerprint, address }));
    }
  } else {
    const state: NodeTrustState = { pin: pin!, serial: bundle!.manifest.serial, manifestSha256: bundle!.manifestSha256 };
    const previous = readNodeState(root);
    if (JSON.stringify(previous) !== JSON.stringify(state)) {
      plan.change(t('remember the accepted trust bundle (serial {serial}) in {file}', { serial: state.serial, file: NODE_STATE_FILE }), () =>
        writeNodeState(root, state),
      );
    }
    plan.note(t('The trust bundle of {address} (serial {serial}) is verified.', { address, serial: bundle!.manifest.serial }));
  }
  planHosts(plan, root, address);
  return { plan };
}
