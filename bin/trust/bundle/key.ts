/** The master's trust key: an Ed25519 key, 0600 root in a 0700 root directory (/var/lib/podsec/trust). */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { CommandError } from '../../lib/command.ts';
import { translator } from '../../lib/i18n.ts';
import { PODSEC_STATE_DIR } from '../../lib/names.ts';
import { openTrustedDir, safeMkdir, UnsafePathError } from '../../lib/safe-fs.ts';
import { MASTER_KEY_FILE, MASTER_KEY_NAME, TRUST_STATE_DIR } from './format.ts';

const t = translator('podsec');

/** The master's trust key, or undefined when this host has none yet. */
export function readMasterKey(root: string): KeyObject | undefined {
  let dir;
  try {
    dir = openTrustedDir(join(root, TRUST_STATE_DIR), { root });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const st = dir.lstat(MASTER_KEY_NAME);
    if (!st) return undefined;
    if (!st.isFile() || st.uid !== 0 || st.mode & 0o077) {
      throw new UnsafePathError(join(root, MASTER_KEY_FILE), t('the trust key must be a regular file of root with mode 0600'));
    }
    return createPrivateKey(dir.readFile(MASTER_KEY_NAME, 64 * 1024));
  } finally {
    dir.close();
  }
}

/** A new trust key (not saved yet: see installMasterKey). */
export function newMasterKey(): KeyObject {
  return generateKeyPairSync('ed25519').privateKey;
}

/**
 * Saves the master's trust key (0600 root in a 0700 root directory). It never replaces a key: if
 * another run saved one in the meantime, this fails and nothing signed with `key` is published.
 */
export function installMasterKey(root: string, key: KeyObject): void {
  safeMkdir(join(root, PODSEC_STATE_DIR), { mode: 0o755, uid: 0, gid: 0, root });
  safeMkdir(join(root, TRUST_STATE_DIR), { mode: 0o700, uid: 0, gid: 0, root });
  const dir = openTrustedDir(join(root, TRUST_STATE_DIR), { root });
  try {
    dir.writeFile(MASTER_KEY_NAME, key.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600, uid: 0, gid: 0, noReplace: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CommandError(t('{file} was created by another run at the same time; run the command again', { file: MASTER_KEY_FILE }), 1);
    }
    throw error;
  } finally {
    dir.close();
  }
}
