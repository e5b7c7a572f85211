/**
 * rootlesskit's REST API over its unix socket (what rootlessctl speaks): port forwards and info.
 * Spoken directly with node:http, so publishing the ports of a role costs no process per port.
 */
import { request } from 'node:http';

export interface PortSpec {
  proto: string;
  parentIP?: string;
  parentPort: number;
  childIP?: string;
  childPort: number;
}

export interface PortStatus {
  id: number;
  spec: PortSpec;
}

class RootlesskitApiError extends Error {
  readonly expected = true;
}

function call<T>(socketPath: string, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        socketPath,
        method,
        path,
        host: 'rootlesskit',
        headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {},
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          if (status >= 200 && status < 300) resolve(parsed as T);
          else reject(new RootlesskitApiError(`${method} ${path}: HTTP ${status} ${(parsed as { message?: string })?.message ?? text.trim()}`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new RootlesskitApiError(`${method} ${path}: no answer from ${socketPath}`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export const addPort = (socket: string, spec: PortSpec) => call<PortStatus>(socket, 'POST', '/v1/ports', spec);
export const listPorts = (socket: string) => call<PortStatus[]>(socket, 'GET', '/v1/ports');
export const removePort = (socket: string, id: number) => call<unknown>(socket, 'DELETE', `/v1/ports/${id}`);
