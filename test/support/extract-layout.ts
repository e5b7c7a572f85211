/**
 * `extract-layout.ts ARCHIVE ARCH DEST MAX_BYTES MAX_ENTRIES`: bin/trust/oci/archive.ts's
 * extractLayout as a process, so that a test can run it in a private mount namespace (a small
 * tmpfs for a full disk). Prints {"ok": true} or {"kind": …, "message": …}.
 */
import { ArchiveError, extractLayout } from '../../bin/trust/oci/archive.ts';

const [archive, arch, dest, maxBytes, maxEntries] = process.argv.slice(2);
try {
  await extractLayout(archive!, arch!, dest!, { maxBytes: Number(maxBytes), maxEntries: Number(maxEntries) });
  process.stdout.write(JSON.stringify({ ok: true }) + '\n');
} catch (error) {
  if (!(error instanceof ArchiveError)) throw error;
  process.stdout.write(JSON.stringify({ kind: error.kind, message: error.message }) + '\n');
}
