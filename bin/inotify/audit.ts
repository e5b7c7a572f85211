/**
 * Following the kube-apiserver audit log (JSON lines) for podsec-inotify-check-kubeapi: a
 * persistent cursor (inode, offset, last timestamp) so a restart neither replays nor loses events,
 * and rotation handled the way kube-apiserver rotates (rename audit.log to audit-<time>.log, open
 * a new audit.log): the rest of the renamed file is read before the new one.
 */
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface Cursor {
  ino: number;
  offset: number;
  /** requestReceivedTimestamp of the last reported event. */
  lastTime?: string;
}

export interface AuditEvent {
  time: string;
  code: number;
  user: string;
  verb: string;
  resource: string;
  namespace?: string;
  name?: string;
  sourceIP: string;
  message: string;
  uri: string;
}

/** The events worth reporting: completed requests refused for lack of authority (403) or identity (401). */
export function forbidden(line: string): AuditEvent | undefined {
  let e: any;
  try {
    e = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!e || typeof e !== 'object' || e.kind !== 'Event') return undefined;
  if (e.stage !== undefined && e.stage !== 'ResponseComplete' && e.stage !== 'Panic') return undefined;
  const code = Number(e.responseStatus?.code);
  if (code !== 403 && code !== 401) return undefined;
  const ref = e.objectRef ?? {};
  const resource =
    [ref.apiGroup, ref.resource, ref.subresource].filter((x: unknown) => typeof x === 'string' && x !== '').join('/') || String(e.requestURI ?? '');
  return {
    time: String(e.requestReceivedTimestamp ?? e.stageTimestamp ?? ''),
    code,
    user: String(e.user?.username ?? (code === 401 ? 'system:anonymous' : '')),
    verb: String(e.verb ?? ''),
    resource,
    ...(typeof ref.namespace === 'string' ? { namespace: ref.namespace } : {}),
    ...(typeof ref.name === 'string' ? { name: ref.name } : {}),
    sourceIP: String(e.sourceIPs?.[0] ?? ''),
    message: String(e.responseStatus?.message ?? e.responseStatus?.reason ?? ''),
    uri: String(e.requestURI ?? ''),
  };
}

export function describe(e: AuditEvent): string {
  const q = JSON.stringify;
  return (
    `Forbidden request (${e.code}) of user ${q(e.user)}: verb ${q(e.verb)}` +
    ` resource ${q(e.resource)}${e.namespace ? ` namespace ${q(e.namespace)}` : ''}${e.name ? ` name ${q(e.name)}` : ''}` +
    ` from ${q(e.sourceIP)} at ${e.time}: ${q(e.message)}`
  );
}

export interface ReadResult {
  lines: string[];
  cursor: Cursor;
}

function readFrom(path: string, offset: number): { text: string; ino: number; end: number } | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    const start = offset <= st.size ? offset : 0; // truncated in place: start again
    const length = st.size - start;
    const buffer = Buffer.alloc(length);
    let n = 0;
    while (n < length) {
      const got = readSync(fd, buffer, n, length - n, start + n);
      if (got === 0) break;
      n += got;
    }
    // Only complete lines; a partial last line is read again next time.
    const text = buffer.toString('utf8', 0, n);
    const last = text.lastIndexOf('\n');
    return { text: last < 0 ? '' : text.slice(0, last + 1), ino: st.ino, end: start + (last < 0 ? 0 : Buffer.byteLength(text.slice(0, last + 1))) };
  } finally {
    closeSync(fd);
  }
}

/** The rotated file that still has our inode (audit-<time>.log beside audit.log), if any. */
function rotatedWith(path: string, ino: number): string | undefined {
  const dir = dirname(path);
  const stem = basename(path).replace(/\.log$/, '');
  for (const name of readdirSync(dir)) {
    if (name === basename(path) || !name.startsWith(stem)) continue;
    try {
      if (statSync(join(dir, name)).ino === ino) return join(dir, name);
    } catch {
      // removed meanwhile
    }
  }
  return undefined;
}

/** New complete lines since the cursor, following a rotation. Without a cursor, starts at the end. */
export function readNew(path: string, cursor: Cursor | undefined): ReadResult {
  let st;
  try {
    st = statSync(path);
  } catch {
    return { lines: [], cursor: cursor ?? { ino: 0, offset: 0 } };
  }
  if (!cursor || cursor.ino === 0) {
    if (cursor?.ino === 0) return read(path, { ...cursor, ino: st.ino, offset: 0 });
    return { lines: [], cursor: { ino: st.ino, offset: st.size } };
  }
  if (cursor.ino === st.ino) return read(path, cursor);
  // Rotated: finish the old file (if it is still there), then the new one from its start.
  const lines: string[] = [];
  const old = rotatedWith(path, cursor.ino);
  if (old) {
    const tail = readFrom(old, cursor.offset);
    if (tail) lines.push(...tail.text.split('\n').filter((l) => l !== ''));
  }
  const fresh = read(path, { ...cursor, ino: st.ino, offset: 0 });
  return { lines: [...lines, ...fresh.lines], cursor: fresh.cursor };
}

function read(path: string, cursor: Cursor): ReadResult {
  const got = readFrom(path, cursor.offset);
  if (!got) return { lines: [], cursor };
  return { lines: got.text.split('\n').filter((l) => l !== ''), cursor: { ...cursor, ino: got.ino, offset: got.end } };
}

export function loadCursor(path: string): Cursor | undefined {
  try {
    const c = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof c.ino === 'number' && typeof c.offset === 'number') return c;
  } catch {
    // none yet, or damaged: start at the end of the log
  }
  return undefined;
}
