/**
 * IPv4 addresses as podsec accepts them for the registry/signature server: dotted decimal, four
 * octets 0-255 without leading zeros (inet_aton would read 010 as octal 8), and a unicast host
 * address. Upstream's exit codes are kept: 2 when the text is not four dot-separated fields, 3 when
 * a field is not an octet, 1 for a loopback address ("must not be local"); the other non-host
 * addresses (0/8, multicast, reserved, broadcast) exit 3 as well.
 */

type IPv4Problem =
  | { kind: 'fields'; fields: number } // not four dot-separated fields
  | { kind: 'octet'; field: string } // a field that is not 0-255 in plain decimal
  | { kind: 'loopback' } // 127/8
  | { kind: 'not-host'; range: string }; // 0/8, 224/4 multicast, 240/4 reserved and broadcast

type IPv4Result = { ok: true; address: string; octets: [number, number, number, number] } | { ok: false; problem: IPv4Problem };

const OCTET = /^(0|[1-9][0-9]{0,2})$/;

export function parseIPv4(text: string): IPv4Result {
  const fields = text.split('.');
  if (fields.length !== 4) return { ok: false, problem: { kind: 'fields', fields: fields.length } };
  const octets: number[] = [];
  for (const field of fields) {
    if (!OCTET.test(field) || Number(field) > 255) return { ok: false, problem: { kind: 'octet', field } };
    octets.push(Number(field));
  }
  const [a] = octets as [number, number, number, number];
  if (a === 127) return { ok: false, problem: { kind: 'loopback' } };
  if (a === 0) return { ok: false, problem: { kind: 'not-host', range: '0.0.0.0/8' } };
  if (a >= 224 && a <= 239) return { ok: false, problem: { kind: 'not-host', range: '224.0.0.0/4' } };
  if (a >= 240) return { ok: false, problem: { kind: 'not-host', range: '240.0.0.0/4' } };
  return { ok: true, address: octets.join('.'), octets: octets as [number, number, number, number] };
}

/** Exit codes of podsec-create-policy for each problem (upstream's, as listed above). */
export function ipv4ExitCode(problem: IPv4Problem): number {
  switch (problem.kind) {
    case 'loopback':
      return 1;
    case 'fields':
      return 2;
    default:
      return 3;
  }
}
