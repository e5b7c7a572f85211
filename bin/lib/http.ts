/**
 * The one HTTP GET of the runtime programs (trust bundles, registry tag lists, signature checks):
 * bounded in time and size, no redirects, HTTPS with certificate verification, an optional Host
 * header (a node connects to the master's address and names sigstore.local, so the result does
 * not depend on the resolver or on /etc/hosts being written yet), an optional bearer token and
 * trusted CA (the Kubernetes API), or, only where the answer is checked by other means (a cluster
 * CA pinned by its hash), no certificate verification at all. node:http rather than fetch:
 * Node 18's fetch is experimental and cannot set Host.
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { translator } from './i18n.ts';

const t = translator('podsec');

export class HttpError extends Error {
  constructor(
    readonly url: string,
    readonly status: number | undefined,
    reason: string,
  ) {
    super(`${url}: ${reason}`);
  }
}

interface GetOptions {
  /** Value of the Host header; default: the URL's host. */
  host?: string;
  timeoutMs: number;
  maxBytes: number;
  /** The Accept header; default any type. */
  accept?: string;
  /** The CA certificates to trust instead of the system's (tests; a cluster's own CA). */
  ca?: string | Buffer;
  /** No certificate verification: only for an answer checked by other means (kubeadm's discovery: the CA's hash). */
  insecure?: boolean;
  /** Sent as `Authorization: Bearer <token>`. */
  bearer?: string;
  /** Resolve host names differently (tests: registry.local -> 127.0.0.1). */
  lookup?: RequestOptions['lookup'];
  /** A client certificate and its key (PEM), for a server that asks for one (the Kubernetes API). */
  client?: { cert: Buffer; key: Buffer };
}

export function httpGet(url: string, options: GetOptions): Promise<{ status: number; body: Buffer }> {
  const parsed = new URL(url);
  const request = parsed.protocol === 'https:' ? httpsRequest : parsed.protocol === 'http:' ? httpRequest : undefined;
  if (!request) return Promise.reject(new HttpError(url, undefined, t('unsupported protocol {protocol}', { protocol: parsed.protocol })));
  if (options.bearer && (options.insecure || parsed.protocol !== 'https:'))
    return Promise.reject(new HttpError(url, undefined, t('a bearer token is sent only over HTTPS with a verified certificate')));
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error: HttpError | undefined, value?: { status: number; body: Buffer }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        req.destroy();
        reject(error);
      } else resolve(value!);
    };
    const req = request(
      parsed,
      {
        method: 'GET',
        headers: {
          ...(options.host ? { Host: options.host } : {}),
          ...(options.bearer ? { Authorization: `Bearer ${options.bearer}` } : {}),
          'User-Agent': 'podsec',
          Accept: options.accept ?? '*/*',
        },
        agent: false,
        ...(options.lookup ? { lookup: options.lookup } : {}),
        ...(options.ca ? { ca: options.ca } : {}),
        ...(options.insecure ? { rejectUnauthorized: false } : {}),
        ...(options.client ?? {}),
      },
      (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let total = 0;
        response.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (total > options.maxBytes) finish(new HttpError(url, status, t('larger than {max} bytes', { max: options.maxBytes })));
          else chunks.push(chunk);
        });
        response.on('end', () => finish(undefined, { status, body: Buffer.concat(chunks) }));
        response.on('error', (error) => finish(new HttpError(url, status, error.message)));
      },
    );
    const timer = setTimeout(
      () => finish(new HttpError(url, undefined, t('no answer within {seconds} s', { seconds: options.timeoutMs / 1000 }))),
      options.timeoutMs,
    );
    req.on('error', (error) => finish(new HttpError(url, undefined, error.message)));
    req.end();
  });
}
