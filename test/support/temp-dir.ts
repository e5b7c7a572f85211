/** Temp directories for tests that run programs as other users. */
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A new temp directory `<prefix>XXXXXX` that every user may enter (mkdtemp makes it 0700). */
export function enterableTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}
