/**
 * Subordinate uid/gid ranges for the node account (system users get none from useradd -r).
 * The first free range of 65536 ids at or above SUB_UID_MIN (login.defs) that overlaps no range
 * of /etc/subuid or /etc/subgid is appended to both; an existing range is kept. Upstream created
 * and deleted a temporary ordinary user to get one.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { translator } from '../../lib/i18n.ts';
import { atomicWrite } from '../../lib/safe-fs.ts';
import { loginDefsNumber, parseSubid, rangesOf, readSubidFile, type Account, type SubidRange } from '../../lib/accounts.ts';

const t = translator('podsec-k8s');
const SUBID_COUNT = 65536;

class SubidError extends Error {
  readonly expected = true;
}

export function freeStart(taken: SubidRange[], min: number, max: number, count = SUBID_COUNT): number | undefined {
  const candidates = [min, ...taken.map((r) => r.start + r.count)].filter((s) => s >= min).sort((a, b) => a - b);
  for (const start of candidates) {
    if (start + count - 1 > max) continue;
    if (!taken.some((r) => start < r.start + r.count && r.start < start + count)) return start;
  }
  return undefined;
}

interface SubidResult {
  start: number;
  count: number;
  added: ('subuid' | 'subgid')[];
}

/** Plans (without writing) the ranges the account needs; `apply` writes them. */
export function planSubids(root: string, account: Account): SubidResult & { apply(): void } {
  const files = { subuid: 'etc/subuid', subgid: 'etc/subgid' } as const;
  const texts = { subuid: readSubidFile(root, 'subuid'), subgid: readSubidFile(root, 'subgid') };
  const ranges = { subuid: parseSubid(texts.subuid), subgid: parseSubid(texts.subgid) };
  const has = (kind: 'subuid' | 'subgid') => rangesOf(ranges[kind], account).some((r) => r.count >= SUBID_COUNT);
  const added = (['subuid', 'subgid'] as const).filter((kind) => !has(kind));
  const min = loginDefsNumber(root, 'SUB_UID_MIN', 100000);
  const max = loginDefsNumber(root, 'SUB_UID_MAX', 600100000);
  const start = added.length ? freeStart([...ranges.subuid, ...ranges.subgid], min, max) : (rangesOf(ranges.subuid, account)[0]?.start ?? 0);
  if (start === undefined)
    throw new SubidError(
      t.n('no free range of {count} subordinate id between {min} and {max}', 'no free range of {count} subordinate ids between {min} and {max}', SUBID_COUNT, {
        min,
        max,
      }),
    );
  return {
    start,
    count: SUBID_COUNT,
    added,
    apply() {
      for (const kind of added) {
        const path = join(root, files[kind]);
        let mode = 0o644;
        try {
          mode = statSync(path).mode & 0o7777;
        } catch {
          // created
        }
        const text = texts[kind];
        const line = `${account.name}:${start}:${SUBID_COUNT}\n`;
        atomicWrite(path, (text === '' || text.endsWith('\n') ? text : `${text}\n`) + line, { mode, uid: 0, gid: 0, root });
      }
    },
  };
}
