/**
 * podsec-create-policy <ip>: sets up this host's container image trust for the registry and
 * signature server at <ip> (upstream's podsec-create-policy). The master is the host that has <ip>;
 * every other host is a node and takes the master's policy and keys from its signed trust bundle.
 */
import { createPublicKey } from 'node:crypto';
import { CommandError, runCommand } from './lib/command.ts';
import { translator } from './lib/i18n.ts';
import { DRY_RUN_OPTION } from './lib/plan.ts';
import { fingerprintOf, formatFingerprint, normalizeHash, type Pin } from './trust/bundle/format.ts';
import { readMasterKey } from './trust/bundle/key.ts';
import { DEFAULT_MAX_BUNDLE_AGE_DAYS } from './trust/bundle/node.ts';
import { planCreatePolicy, type Role } from './trust/policy/create-policy.ts';
import { isLocalAddress } from './trust/hosts.ts';
import { ipv4ExitCode, parseIPv4 } from './trust/ipv4.ts';

const t = translator('podsec');
const NAME = 'podsec-create-policy';

runCommand(
  {
    name: NAME,
    summary: 'Set up the signed-image trust policy of this host for the registry and signature server at IP.',
    usage: ['[--dry-run] [--root DIR] IP', '[--trust-fingerprint FINGERPRINT | --trust-sha256 HASH] [--keys-url URL] IP'],
    positionals: true,
    description: [
      'IP is the address of the master: the host that runs the registry registry.local and the ' +
        'signature server sigstore.local:81. When IP is an address of this host, this host is the master: ' +
        'its policy rejects every image until image makers are added (podsec-create-imagemakeruser), and ' +
        "the policy and the makers' public keys are published as a signed trust bundle under " +
        '/var/sigstore/keys.',
      "On any other host (a node) the master's bundle is fetched from http://IP:81/keys/ and accepted " +
        'only when it verifies against the trust key fingerprint the master printed (--trust-fingerprint, ' +
        'stored for later runs) or the bundle checksum (--trust-sha256). A bundle that does not verify, ' +
        'or one with a lower serial than the bundle this node accepted (whichever pin it was accepted ' +
        'under), is refused and nothing is changed. A node that has accepted no bundle yet has no serial to ' +
        'compare with: it refuses a bundle signed longer ago than --max-bundle-age allows (an old bundle ' +
        'replayed to a new node); re-running this command on the master signs the bundle anew when it is ' +
        'more than a day old.',
      'Both roles bind registry.local, sigstore.local and trivy.local to IP in /etc/hosts, create the ' +
        'groups podman and podman_dev, write the sysctl drop-in, point registries.d at the lookaside ' +
        'http://sigstore.local:81/sigstore/ and mark registry.local as plain HTTP in registries.conf. The ' +
        "configs in /etc/containers keep upstream's history: each is a symlink to a timestamped file. " +
        'Running the command again with the same IP changes nothing, or only what differs; on the master ' +
        "the image makers' scopes are kept.",
    ],
    options: {
      ...DRY_RUN_OPTION,
      'trust-fingerprint': {
        type: 'string',
        valueName: 'FINGERPRINT',
        description: "node: the master's trust key fingerprint (64 hex digits, as printed on the master)",
      },
      'trust-sha256': { type: 'string', valueName: 'HASH', description: 'node: accept exactly the bundle with this checksum (as printed on the master)' },
      'keys-url': {
        type: 'string',
        valueName: 'URL',
        description: 'node: fetch the trust bundle from URL instead of http://IP:81/keys/ (it is verified the same ' + 'way)',
      },
      'max-bundle-age': {
        type: 'string',
        valueName: 'DAYS',
        description: 'node: a node that has accepted no bundle yet refuses one the master signed more than DAYS days ago (default ' + '30; 0: any age)',
      },
      role: {
        type: 'string',
        valueName: 'ROLE',
        description: "master or node: decide the role instead of detecting it from this host's addresses (for images " + 'built under --root)',
      },
    },
    files: {
      '/etc/hosts': 'the registry.local, sigstore.local and trivy.local binding',
      '/etc/containers/policy.json': 'the trust policy (a symlink to policy_<timestamp>)',
      '/etc/containers/registries.d/default.yaml': 'the signature lookaside (a symlink to default_<timestamp>)',
      '/etc/containers/registries.conf': 'registry.local over plain HTTP (a symlink to registries_<timestamp>)',
      '/etc/sysctl.d/99-podman.conf': 'kernel.unprivileged_userns_clone=1',
      '/var/sigstore/keys': 'public keys, the published policy and the signed trust bundle podsec-trust-bundle.json',
      '/var/lib/podsec/trust': 'master: the trust key; node: the pinned fingerprint and the accepted bundle serial',
    },
    usageExitCode: 1,
    exitCodes: {
      1: 'no or several IPs, a loopback IP, a binding conflict in /etc/hosts, a malformed configuration file, or a node without a pin',
      2: 'the IP is not four dot-separated fields',
      3: 'a field of the IP is not 0-255, or the IP is not a host address',
      4: "the master's trust bundle does not verify (tampered with, another key, older than the one accepted, or too old for a new node)",
      5: 'the signature server cannot be reached or does not serve the bundle',
    },
    examples: {
      'podsec-create-policy 192.168.10.1': 'on the master 192.168.10.1: set up the policy and print the trust key fingerprint',
      'podsec-create-policy --trust-fingerprint 3f1c…e0a2 192.168.10.1': "on a node: adopt the master's verified policy and keys",
      'podsec-create-policy --dry-run 192.168.10.1': 'show what would change',
    },
    seeAlso: ['podsec-create-services(1)', 'podsec-create-imagemakeruser(1)', 'containers-policy.json(5)'],
  },
  t,
  async ({ values, positionals, root }) => {
    if (process.geteuid?.() !== 0) throw new CommandError(t('{command} must be run as root', { command: NAME }), 1);
    if (positionals.length === 0) {
      throw new CommandError(t('The IP address of the registry and signature server is not specified; usage: {command} IP', { command: NAME }), 1);
    }
    if (positionals.length > 1) {
      throw new CommandError(t('Only one IP address of the registry and signature server must be specified; usage: {command} IP', { command: NAME }), 1);
    }
    const text = positionals[0]!;
    const ip = parseIPv4(text);
    if (!ip.ok) {
      const shown = JSON.stringify(text);
      const message =
        ip.problem.kind === 'loopback'
          ? t('The IP address {ip} must not be local (a loopback address): nodes could not reach it', { ip: shown })
          : ip.problem.kind === 'fields'
            ? t('Invalid IP address {ip}: an IPv4 address has four fields separated by "."', { ip: shown })
            : ip.problem.kind === 'octet'
              ? t('Invalid IP address {ip}: {field} is not a number from 0 to 255', { ip: shown, field: JSON.stringify(ip.problem.field) })
              : t('Invalid IP address {ip}: it is not a host address ({range})', { ip: shown, range: ip.problem.range });
      throw new CommandError(message, ipv4ExitCode(ip.problem));
    }

    const roleOption = values.role as string | undefined;
    if (roleOption !== undefined && roleOption !== 'master' && roleOption !== 'node') {
      throw new CommandError(t('--role must be master or node, not {role}', { role: JSON.stringify(roleOption) }), 1);
    }
    const role: Role = (roleOption as Role | undefined) ?? (isLocalAddress(ip.address) ? 'master' : 'node');

    const fingerprintOption = values['trust-fingerprint'] as string | undefined;
    const sha256Option = values['trust-sha256'] as string | undefined;
    if (fingerprintOption !== undefined && sha256Option !== undefined) throw new CommandError(t('give --trust-fingerprint or --trust-sha256, not both'), 1);
    let pin: Pin | undefined;
    if (fingerprintOption !== undefined) {
      const value = normalizeHash(fingerprintOption);
      if (!value)
        throw new CommandError(t('--trust-fingerprint: expected 64 hexadecimal digits, got {value}', { value: JSON.stringify(fingerprintOption) }), 1);
      pin = { kind: 'fingerprint', value };
    } else if (sha256Option !== undefined) {
      const value = normalizeHash(sha256Option);
      if (!value) throw new CommandError(t('--trust-sha256: expected 64 hexadecimal digits, got {value}', { value: JSON.stringify(sha256Option) }), 1);
      pin = { kind: 'sha256', value };
    }

    let keysUrl = values['keys-url'] as string | undefined;
    if (keysUrl !== undefined) {
      let url: URL;
      try {
        url = new URL(keysUrl);
      } catch {
        throw new CommandError(t('--keys-url: not a URL: {url}', { url: JSON.stringify(keysUrl) }), 1);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CommandError(t('--keys-url: only http and https URLs are supported'), 1);
      keysUrl = url.href.endsWith('/') ? url.href : `${url.href}/`;
    }

    if (role === 'master') {
      if (keysUrl !== undefined) throw new CommandError(t('--keys-url is for nodes; {ip} is an address of this host (the master)', { ip: ip.address }), 1);
      if (pin?.kind === 'fingerprint') {
        const key = readMasterKey(root);
        const own = key ? fingerprintOf(createPublicKey(key)) : undefined;
        if (own !== pin.value) {
          throw new CommandError(
            t('this host is the master and its trust key is {own}, not the given {given}', {
              own: own ? formatFingerprint(own) : t('not created yet'),
              given: formatFingerprint(pin.value),
            }),
            1,
          );
        }
      }
    }

    const maxAgeText = (values['max-bundle-age'] as string | undefined) ?? String(DEFAULT_MAX_BUNDLE_AGE_DAYS);
    if (!/^\d{1,6}$/.test(maxAgeText)) {
      throw new CommandError(t('--max-bundle-age: expected a number of days, got {value}', { value: JSON.stringify(maxAgeText) }), 1);
    }
    const maxBundleAgeDays = Number(maxAgeText) === 0 ? undefined : Number(maxAgeText);

    const dryRun = values['dry-run'] === true;
    const { plan } = await planCreatePolicy({ root, address: ip.address, role, now: new Date(), pin, keysUrl, maxBundleAgeDays, dryRun });
    await plan.carryOut(NAME, dryRun);
    return 0;
  },
);
