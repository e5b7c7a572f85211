/**
 * podsec-create-imagemakeruser's work: validate everything, then create or reconfigure image
 * makers as one plan (--dry-run prints it). Order of the changes, chosen so that a failure or a
 * kill -9 never leaves a policy naming a key that is not installed:
 *   accounts and passwords → the maker's own config and key pair → public keys in
 *   /var/sigstore/keys (root-owned) → the system policy (one atomic switch of the policy.json
 *   symlink) → registries.d for sigstore scopes → other makers' copies → the published policy and
 *   the signed trust bundle.
 * When any step fails, what nodes see stays as it was: the steps before it are undone in reverse
 * (the accounts this run created are removed, a replaced public key gets its old content back, the
 * system policy its old text), and the publishing step puts back the published policy and bundle
 * if it fails halfway. Only a kill -9 between writing a key and signing the bundle can leave them
 * apart, until the next run.
 */
import type { KeyObject } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError } from '../../lib/command.ts';
import { installManaged } from '../../lib/config-history.ts';
import { serializePolicy, serializeRegistriesD, type ContainersPolicy } from '../../lib/containers-policy.ts';
import { translator } from '../../lib/i18n.ts';
import { PODMAN_DEV_GROUP, PODMAN_GROUP, REGISTRY_HOST, SIGSTORE_ROOT } from '../../lib/names.ts';
import { findAccount, type Account } from '../../lib/accounts.ts';
import { atomicWrite, openTrustedDir, safeMkdir, UnsafePathError } from '../../lib/safe-fs.ts';
import { BUNDLE_NAME, PUBLISHED_POLICY_NAME } from '../bundle/format.ts';
import { planPublish, readOptional } from '../bundle/publish.ts';
import { readMasterKey } from '../bundle/key.ts';
import { POLICY_FILE, POLICY_HISTORY, readExistingPolicy } from '../policy/create-policy.ts';
import { readCurrent, managedUpToDate } from '../file-changes.ts';
import { requireSigstoreServer } from '../hosts.ts';
import { Plan } from '../../lib/plan.ts';
import { parseMakerSpecs, quote, type MakerSpec } from '../validate.ts';
import { addToGroups, createUser, groupGid, hasSubIds, isSystemAccount, membersOf, removeUser, requireGroup, runAs, setPassword } from '../../lib/accounts.ts';
import { checkPublicKey, exportPublicKey, generateKeyBatch, generateKeyInteractive } from '../keys/gpg.ts';
import {
  userDir,
  userFile,
  userFileState,
  USER_CONTAINERS_DIR,
  USER_POLICY,
  USER_REGISTRIES_D,
  USER_REGISTRIES_D_FILE,
  USER_SIGSTORE_DIR,
  USER_SIGSTORE_KEY,
} from './homes.ts';
import {
  KEYS_DIR,
  keyFileName,
  makerPolicy,
  makerRegistriesD,
  scopesOf,
  sigstoreRegistriesD,
  SIGSTORE_REGISTRIES_D,
  SIGSTORE_REGISTRIES_D_PREFIX,
  withMakers,
  type KeyKind,
} from '../policy/maker-policy.ts';
import { promptSecret, secretFromFile, secretFromStdin } from '../../lib/secrets.ts';
import { lookasideRepairs, repairLookaside } from '../policy/lookaside.ts';
import { generateSigstoreKeyPair } from '../keys/sigstore-key.ts';

const t = translator('podsec');

/** Where the maker's key comes from. */
export type KeySource =
  | { kind: 'gpg-interactive' }
  | { kind: 'gpg-generate'; email?: string }
  | { kind: 'gpg-import'; file: string; bytes: Buffer }
  | { kind: 'sigstore' }
  | { kind: 'keep' };

export type PasswordSource = { kind: 'prompt' } | { kind: 'file'; file: string } | { kind: 'stdin' } | { kind: 'none' } | { kind: 'keep' };

export interface ImageMakerInput {
  root: string;
  args: string[];
  reconfigure: boolean;
  key: KeySource;
  /** Passphrase of generated keys: undefined = ask on the terminal. */
  keyPassphrase?: { kind: 'file'; file: string } | { kind: 'none' } | { kind: 'stdin' };
  password: PasswordSource;
  now: Date;
  interactive: boolean;
}

interface MakerPlan {
  user: string;
  repoPaths: string[];
  existing?: Account;
  kind: KeyKind;
  source: KeySource;
}

interface Secrets {
  /** The accounts' password from a file or stdin; undefined: ask (or none). */
  password?: string;
  /** The passphrase of generated keys from a file, stdin or --no-key-passphrase (''); undefined: ask. */
  passphrase?: string;
}

const SERVER_REFUSAL = () => t('It is not possible to create users of the container image developer class');

/** Key kind of an existing maker: the kind its scopes use, else the key file that exists. */
function existingKind(root: string, policy: ContainersPolicy, user: string): KeyKind | undefined {
  for (const scope of scopesOf(policy, user)) {
    const r = policy.transports!.docker![scope]![0]!;
    return r.type === 'sigstoreSigned' ? 'sigstore' : 'gpg';
  }
  const dir = (() => {
    try {
      return openTrustedDir(join(root, KEYS_DIR), { root });
    } catch {
      return undefined;
    }
  })();
  if (!dir) return undefined;
  try {
    if (dir.lstat(keyFileName(user, 'gpg'))?.isFile()) return 'gpg';
    if (dir.lstat(keyFileName(user, 'sigstore'))?.isFile()) return 'sigstore';
    return undefined;
  } finally {
    dir.close();
  }
}

/** Groups specs by user (a user may be given several paths), keeping the order of first appearance. */
function byUser(specs: MakerSpec[]): Map<string, string[]> {
  const users = new Map<string, string[]>();
  for (const { user, repoPath } of specs) users.set(user, [...(users.get(user) ?? []), repoPath]);
  return users;
}

/** What must be in place before image makers can be made; the current policy and the master key. */
function checkPrerequisites(root: string): { current: ContainersPolicy; masterKey: KeyObject } {
  if (process.geteuid?.() !== 0) throw new CommandError(t('The script must be run by a user with root rights.'), 1);
  requireSigstoreServer(root, SERVER_REFUSAL());
  try {
    openTrustedDir(join(root, SIGSTORE_ROOT), { root }).close();
  } catch {
    throw new CommandError(t('Signature server directory {dir}/ not created; call the podsec-create-policy script', { dir: SIGSTORE_ROOT }), 1);
  }
  const hint = t('run podsec-create-policy first');
  requireGroup(root, PODMAN_GROUP, hint);
  requireGroup(root, PODMAN_DEV_GROUP, hint);
  const { policy: current } = readExistingPolicy(root);
  if (!current) throw new CommandError(t('{file} does not exist; run podsec-create-policy first', { file: POLICY_FILE }), 1);
  const masterKey = readMasterKey(root);
  if (!masterKey) throw new CommandError(t('this host has no trust key to sign the published policy with; run podsec-create-policy on the master first'), 1);
  return { current, masterKey };
}

/** One MakerPlan per user of the command line: which account, which key kind from which source. */
function planMakers(input: ImageMakerInput, current: ContainersPolicy): MakerPlan[] {
  const { root } = input;
  const users = byUser(parseMakerSpecs(input.args));
  if (input.key.kind === 'gpg-generate' && input.key.email !== undefined && users.size > 1) {
    throw new CommandError(t('--gpg-email names one key; give one user per run with it'), 1);
  }
  if (input.key.kind === 'gpg-import' && users.size > 1) throw new CommandError(t('--gpg-public-key holds one key; give one user per run with it'), 1);
  const makers: MakerPlan[] = [];
  for (const [user, repoPaths] of users) {
    const existing = findAccount(root, user);
    if (existing && !input.reconfigure) {
      throw new CommandError(t('the user {user} already exists; use --reconfigure to make an existing account an image maker', { user: quote(user) }), 1);
    }
    if (existing && isSystemAccount(root, existing)) {
      throw new CommandError(
        t('{user} is a system account (uid {uid}); podsec does not turn system accounts into image makers', { user: quote(user), uid: existing.uid }),
        1,
      );
    }
    let source = input.key;
    let kind: KeyKind;
    if (source.kind === 'keep') {
      const found = existing ? existingKind(root, current, user) : undefined;
      if (found) kind = found;
      else {
        if (!input.interactive)
          throw new CommandError(
            t('no key for {user}: give --gpg-generate, --gpg-public-key FILE or --sigstore (or run on a ' + 'terminal to create one interactively)', { user }),
            1,
          );
        source = { kind: 'gpg-interactive' };
        kind = 'gpg';
      }
    } else kind = source.kind === 'sigstore' ? 'sigstore' : 'gpg';
    if (existing) {
      // Reconfiguring writes into a home the user controls: a planted symlink is refused now, before anything changes.
      for (const path of [USER_POLICY, USER_REGISTRIES_D_FILE, ...(kind === 'sigstore' && source.kind === 'sigstore' ? [USER_SIGSTORE_KEY] : [])]) {
        const state = userFileState(root, existing, path);
        if (state.kind === 'other') throw new CommandError(t('refusing to write ~{user}/{path}: {reason}', { user, path, reason: state.reason }), 1);
      }
    }
    makers.push({ user, repoPaths, existing, kind, source });
  }
  return makers;
}

/** The secrets given in files or on stdin, read while planning so that a missing file changes nothing. */
async function readSecrets(input: ImageMakerInput, makers: MakerPlan[]): Promise<Secrets> {
  if (input.password.kind === 'prompt' && !input.interactive && makers.some((m) => !m.existing)) {
    throw new CommandError(t('no terminal to ask for the password on; use --password-file FILE, --password-stdin or --no-password'), 1);
  }
  const needsPassphrase = makers.some((m) => m.source.kind === 'gpg-generate' || m.source.kind === 'sigstore');
  if (needsPassphrase && input.keyPassphrase === undefined && !input.interactive) {
    throw new CommandError(t('no terminal to ask for the key passphrase on; use --key-passphrase-file FILE or --no-key-passphrase'), 1);
  }
  if (input.password.kind === 'stdin' && input.keyPassphrase?.kind === 'stdin') throw new CommandError(t('only one secret can come from standard input'), 1);
  const password = input.password.kind === 'file' ? secretFromFile(input.password.file) : input.password.kind === 'stdin' ? await secretFromStdin() : undefined;
  if (password !== undefined && password === '') throw new CommandError(t('the password is empty'), 1);
  const passphrase =
    input.keyPassphrase?.kind === 'file'
      ? secretFromFile(input.keyPassphrase.file)
      : input.keyPassphrase?.kind === 'stdin'
        ? await secretFromStdin()
        : input.keyPassphrase?.kind === 'none'
          ? ''
          : undefined;
  if (input.key.kind === 'gpg-import') await checkPublicKey(input.key.bytes, input.key.file);
  return { password, passphrase };
}

/** What the steps of one run share: the accounts (known once created) and the public keys (once made). */
interface Run {
  root: string;
  input: ImageMakerInput;
  plan: Plan;
  secrets: Secrets;
  accounts: Map<string, Account>;
  publicKeys: Map<string, Buffer>;
  /** The accounts a failed run removed again, for its message. */
  removed: string[];
}

/** The account (created, or added to podman_dev) and its password. */
function planAccount(run: Run, maker: MakerPlan): void {
  const { root, plan, input, secrets } = run;
  const { user } = maker;
  if (!maker.existing) {
    plan.change(
      t('create the user {user} (group {group}, also in {devGroup})', { user, group: PODMAN_GROUP, devGroup: PODMAN_DEV_GROUP }),
      async () => {
        const account = await createUser(root, user, PODMAN_GROUP, [PODMAN_DEV_GROUP], t('podsec image maker'));
        run.accounts.set(user, account);
        if (!hasSubIds(root, user, account.uid))
          plan.warn(t('{user} has no range in /etc/subuid or /etc/subgid: rootless podman needs one (usermod ' + '--add-subuids)', { user }));
      },
      async () => {
        await removeUser(root, user);
        run.removed.unshift(user);
      },
    );
  } else {
    run.accounts.set(user, maker.existing);
    if (!membersOf(root, PODMAN_DEV_GROUP).includes(user)) {
      plan.change(t('add {user} to the group {group}', { user, group: PODMAN_DEV_GROUP }), () => addToGroups(root, user, [PODMAN_DEV_GROUP]));
    }
  }
  if (secrets.password !== undefined || (input.password.kind === 'prompt' && !maker.existing)) {
    plan.change(t('set the password of {user}', { user }), async () => {
      const value =
        secrets.password ??
        (await promptSecret(t('Enter the password for user {user} - the container image developer: ', { user }), t('Repeat the password: ')));
      await setPassword(root, user, value);
    });
  }
}

/** A new key pair (or the imported public key), and its public key installed in /var/sigstore/keys. */
function planKey(run: Run, maker: MakerPlan): void {
  const { root, plan, secrets } = run;
  const { user, source } = maker;
  if (source.kind === 'keep') return;
  const account = () => run.accounts.get(user)!;
  const gid = () => groupGid(root, PODMAN_GROUP)!;
  const keyFile = keyFileName(user, maker.kind);
  const what =
    source.kind === 'sigstore'
      ? t('generate a sigstore key pair for {user} (private key ~{user}/{path})', { user, path: USER_SIGSTORE_KEY })
      : source.kind === 'gpg-import'
        ? t('take the public key of {user} from {file}', { user, file: source.file })
        : t('generate a GPG signing key in the keyring of {user}', { user });
  plan.change(what, async () => {
    if (source.kind === 'gpg-import') {
      run.publicKeys.set(keyFile, source.bytes);
      return;
    }
    const passphrase =
      secrets.passphrase ??
      (source.kind === 'gpg-interactive' ? '' : await promptSecret(t('Passphrase for the signing key of {user}: ', { user }), t('Repeat the passphrase: ')));
    if (source.kind === 'sigstore') {
      const pair = generateSigstoreKeyPair(Buffer.from(passphrase));
      userDir(root, account(), USER_SIGSTORE_DIR, 0o700, gid());
      userFile(root, account(), USER_SIGSTORE_KEY, pair.privateKeyPem, 0o600, gid());
      run.publicKeys.set(keyFile, Buffer.from(pair.publicKeyPem));
      return;
    }
    const as = runAs(root, account());
    const fingerprint =
      source.kind === 'gpg-generate'
        ? await generateKeyBatch(as, `${user} <${source.email ?? `${user}@registry.local`}>`, passphrase)
        : await generateKeyInteractive(as);
    const exported = await exportPublicKey(as, fingerprint);
    const info = await checkPublicKey(exported, t('the exported key of {user}', { user }));
    if (!info.primaries.includes(fingerprint)) throw new CommandError(t('gpg exported another key than {fingerprint}', { fingerprint }), 1);
    run.publicKeys.set(keyFile, exported);
    plan.note(
      t(
        '{user} signs with the GPG key {fingerprint}: podsec-push-sign-image IMAGE {registry}/PATH:TAG (images built with podman) ' +
          'or podsec-load-sign-oci ARCHIVE ARCH {fingerprint}',
        {
          user,
          fingerprint,
          registry: REGISTRY_HOST,
        },
      ),
    );
  });
  let previousKey: Buffer | undefined;
  plan.change(
    t('install the public key {path} (owner root, mode 0644)', { path: `${KEYS_DIR}/${keyFile}` }),
    () => {
      previousKey = readOptional(join(root, KEYS_DIR, keyFile));
      try {
        atomicWrite(join(root, KEYS_DIR, keyFile), run.publicKeys.get(keyFile)!, { mode: 0o644, uid: 0, gid: 0, root });
      } catch (error) {
        // A failure after the rename (fsync of the directory) must not leave the new key published.
        restorePublished(root, keyFile, previousKey);
        if (error instanceof UnsafePathError) throw new CommandError(error.message, 1);
        throw error;
      }
    },
    () => restorePublished(root, keyFile, previousKey),
  );
  if (source.kind === 'sigstore')
    plan.note(
      t('{user} signs with the sigstore key ~{user}/{path}: podsec-load-sign-oci --sigstore-key ~/{path} ' + 'ARCHIVE ARCH', { user, path: USER_SIGSTORE_KEY }),
    );
}

/** The system policy (from here on the new keys are trusted; undone with the old text on a later failure) and the registries.d file of sigstore scopes. */
function planSystemPolicy(run: Run, makers: MakerPlan[], policy: ContainersPolicy, policyText: string): void {
  const { root, plan, input } = run;
  const current = readCurrent(root, POLICY_FILE);
  if (!managedUpToDate(root, POLICY_FILE, policyText, POLICY_HISTORY, current)) {
    const scopes = makers.flatMap((m) => m.repoPaths.map((p) => `${p} → ${keyFileName(m.user, m.kind)}`)).join(', ');
    const install = (text: string | Buffer) => {
      installManaged(join(root, POLICY_FILE), text, { root, ...POLICY_HISTORY, timestamp: input.now, mode: 0o644, uid: 0, gid: 0 });
    };
    const before = current.kind === 'absent' ? undefined : current.bytes;
    plan.change(
      t("write {path} (the image makers' scopes: {scopes})", { path: POLICY_FILE, scopes }),
      () => install(policyText),
      () => {
        if (before) install(before);
      },
    );
  }
  const sigstoreD = sigstoreRegistriesD(policy);
  if (!sigstoreD) return;
  const text = serializeRegistriesD(sigstoreD);
  if (managedUpToDate(root, SIGSTORE_REGISTRIES_D, text, { prefix: SIGSTORE_REGISTRIES_D_PREFIX })) return;
  plan.change(
    t('write {path} (sigstore signatures of {scopes} are read from the registry)', {
      path: SIGSTORE_REGISTRIES_D,
      scopes: Object.keys(sigstoreD.docker ?? {}).join(', '),
    }),
    () => {
      safeMkdir(join(root, '/etc/containers/registries.d'), { mode: 0o755, uid: 0, gid: 0, root });
      installManaged(join(root, SIGSTORE_REGISTRIES_D), text, {
        root,
        prefix: SIGSTORE_REGISTRIES_D_PREFIX,
        timestamp: input.now,
        mode: 0o644,
        uid: 0,
        gid: 0,
      });
    },
  );
}

/**
 * The makers' own policy and registries.d: written for the makers of this run; other makers'
 * copies follow the system policy only while they still hold what podsec wrote for them.
 */
function planMakerCopies(run: Run, makers: MakerPlan[], current: ContainersPolicy, policy: ContainersPolicy): void {
  const { root, plan } = run;
  const mineText = serializePolicy(makerPolicy(policy));
  const mineD = serializeRegistriesD(makerRegistriesD(policy));
  const oldMineText = serializePolicy(makerPolicy(current));
  const oldMineD = serializeRegistriesD(makerRegistriesD(current));
  for (const maker of makers) {
    const existing = maker.existing;
    const upToDate =
      existing !== undefined &&
      [
        [USER_POLICY, mineText],
        [USER_REGISTRIES_D_FILE, mineD],
      ].every(([path, text]) => {
        const state = userFileState(root, existing, path!);
        return state.kind === 'file' && state.text === text;
      });
    if (upToDate) continue;
    plan.change(t('write ~{user}/{policy} and ~{user}/{registries}', { user: maker.user, policy: USER_POLICY, registries: USER_REGISTRIES_D_FILE }), () => {
      const account = run.accounts.get(maker.user)!;
      const gid = groupGid(root, PODMAN_GROUP)!;
      userDir(root, account, USER_CONTAINERS_DIR, 0o755, gid);
      userDir(root, account, USER_REGISTRIES_D, 0o755, gid);
      userFile(root, account, USER_POLICY, mineText, 0o644, gid);
      userFile(root, account, USER_REGISTRIES_D_FILE, mineD, 0o644, gid);
    });
  }
  if (mineText === oldMineText && mineD === oldMineD) return;
  const thisRun = new Set(makers.map((m) => m.user));
  for (const user of membersOf(root, PODMAN_DEV_GROUP).filter((u) => !thisRun.has(u))) {
    const account = findAccount(root, user);
    if (!account) continue;
    const files: [string, string, string][] = [
      [USER_POLICY, oldMineText, mineText],
      [USER_REGISTRIES_D_FILE, oldMineD, mineD],
    ];
    for (const [path, old, next] of files) {
      if (old === next) continue;
      const state = userFileState(root, account, path);
      if (state.kind !== 'file' || state.text !== old) {
        if (state.kind !== 'absent') plan.note(t('~{user}/{path} was changed by its owner and is left alone; it lacks the new scopes', { user, path }));
        continue;
      }
      plan.change(t('update ~{user}/{path} with the new scopes', { user, path }), () => {
        try {
          userFile(root, account, path, next, 0o644, groupGid(root, PODMAN_GROUP)!);
        } catch (error) {
          // Another maker's home: what they planted there must not stop this run.
          plan.warn(t('~{user}/{path} was not updated: {reason}', { user, path, reason: (error as Error).message }));
        }
      });
    }
  }
}

/** Puts a file of /var/sigstore/keys back as it was: its old bytes, or no file. */
function restorePublished(root: string, name: string, bytes: Buffer | undefined): void {
  if (bytes) {
    atomicWrite(join(root, KEYS_DIR, name), bytes, { mode: 0o644, uid: 0, gid: 0, root });
    return;
  }
  const dir = openTrustedDir(join(root, KEYS_DIR), { root });
  try {
    unlinkSync(dir.at(name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  } finally {
    dir.close();
  }
}

/** The published policy and keys, and the signed trust bundle over them. */
function planPublishing(run: Run, policyText: string, masterKey: KeyObject): void {
  const { root, plan, input } = run;
  const publishStep = () => {
    const publish = planPublish(root, policyText, { now: input.now, masterKey });
    for (const warning of publish.warnings) plan.warn(warning);
    const before = [PUBLISHED_POLICY_NAME, BUNDLE_NAME].map((name) => [name, readOptional(join(root, KEYS_DIR, name))] as const);
    try {
      publish.apply();
    } catch (error) {
      for (const [name, bytes] of before) restorePublished(root, name, bytes);
      throw error;
    }
    plan.note(t('Bundle checksum (changes with every new image maker): {sha256}', { sha256: publish.manifestSha256 }));
  };
  if (!plan.empty) {
    plan.change(t('publish the policy and keys in {dir} and sign the trust bundle', { dir: KEYS_DIR }), publishStep);
    return;
  }
  // Nothing else changes: the keys are all on disk, so the bundle can be checked now.
  const publish = planPublish(root, policyText, { now: input.now, masterKey });
  if (publish.changed) plan.change(publish.changes.join('; '), publishStep);
}

/**
 * The signature directories on the makers' scope paths that an older podsec (or containers/image)
 * left 0755 and owned by one maker: made 03775 group podman_dev, so every maker can sign below
 * another's scope. Nodes see no change from it, so it comes last.
 */
function planLookasideRepair(run: Run, policy: ContainersPolicy): void {
  const devGid = groupGid(run.root, PODMAN_DEV_GROUP)!;
  const dirs = lookasideRepairs(run.root, policy, devGid);
  if (dirs.length === 0) return;
  run.plan.change(
    t.n(
      'make the signature directory {dirs} writable for every image maker (mode 03775, group {group})',
      'make the signature directories {dirs} writable for every image maker (mode 03775, group {group})',
      dirs.length,
      { dirs: dirs.join(', '), group: PODMAN_DEV_GROUP },
    ),
    () => repairLookaside(run.root, policy, devGid),
  );
}

/**
 * Everything that can refuse is checked here; the returned plan only applies. Its order and what
 * a failure undoes are described in the header.
 */
export async function planImageMakers(input: ImageMakerInput): Promise<{ plan: Plan; policy: ContainersPolicy }> {
  const { current, masterKey } = checkPrerequisites(input.root);
  const makers = planMakers(input, current);
  const secrets = await readSecrets(input, makers);
  const policy = withMakers(
    current,
    makers.map((m) => ({ user: m.user, kind: m.kind, repoPaths: m.repoPaths })),
  );
  const policyText = serializePolicy(policy);

  const plan = new Plan();
  const run: Run = { root: input.root, input, plan, secrets, accounts: new Map(), publicKeys: new Map(), removed: [] };
  plan.undoneError = (error) => {
    if (run.removed.length === 0) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new CommandError(
      t('{message} (the accounts created by this run were removed again: {users})', { message, users: run.removed.join(', ') }),
      error instanceof CommandError ? error.exitCode : 1,
    );
  };
  for (const maker of makers) {
    planAccount(run, maker);
    planKey(run, maker);
  }
  planSystemPolicy(run, makers, policy, policyText);
  planMakerCopies(run, makers, current, policy);
  planPublishing(run, policyText, masterKey);
  planLookasideRepair(run, policy);
  return { plan, policy };
}
