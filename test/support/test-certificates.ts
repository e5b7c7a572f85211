/** Short-lived TLS material made by the real openssl in a scratch directory: a CA and servers it signs. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './exec.ts';

/** `openssl ARGS` in `dir`: its standard output, or an error with its message. */
export async function openssl(dir: string, args: string[]): Promise<string> {
  const r = await run('openssl', args, { cwd: dir });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/**
 * In `dir`: ca.key and ca.crt (subject CN=caName), and for each server NAME.key and NAME.crt
 * signed by that CA with its subjectAltName (e.g. `IP:127.0.0.1`), valid for a day.
 */
export async function testCertificates(dir: string, caName: string, servers: { name: string; commonName?: string; altNames: string }[]): Promise<void> {
  const days = ['-days', '1'];
  await openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', ...days, '-subj', `/CN=${caName}`]);
  for (const { name, commonName = name, altNames } of servers) {
    await openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${commonName}`]);
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${altNames}\n`);
    const signing = ['-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'];
    await openssl(dir, ['x509', '-req', '-in', `${name}.csr`, ...signing, '-out', `${name}.crt`, ...days, '-extfile', `${name}.ext`]);
  }
}
