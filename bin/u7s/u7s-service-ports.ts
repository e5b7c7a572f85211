/**
 * u7s-service-ports: publishes the node ports of Kubernetes Services on the host, through
 * rootlesskit's API, as Services appear, and removes them when they go (the user unit
 * u7s-service-ports.service runs `nsenter_u7s u7s-service-ports`). Without it a NodePort answers
 * only inside the node's namespace, and an admin has to `rootlessctl add-ports` each one.
 * It lists and watches Services with the kubelet's own credentials (a node may read Services).
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { createInterface } from 'node:readline';
import YAML from 'yaml';
import { CommandError } from '../lib/command.ts';
import { httpGet } from '../lib/http.ts';
import { translator } from '../lib/i18n.ts';
import { atomicWrite } from '../lib/safe-fs.ts';
import { runWrapper } from './lib/cli.ts';
import { envFileOf, runContext } from './lib/context.ts';
import { logger } from './lib/log.ts';
import { readNodeSettings } from './lib/node-env.ts';
import { stateFiles, type UserLayout } from './lib/paths.ts';
import { addPort, listPorts, removePort } from './lib/rootlesskit-api.ts';
import { forwardKey, portChanges, portSpec, serviceForwards, type Service } from './lib/service-ports.ts';

const t = translator('podsec-k8s');
const log = logger('u7s-service-ports');
const KUBELET_CONF = '/etc/kubernetes/kubelet.conf';
/** A watch event larger than this ends the watch (and a fresh list starts): a Service is a few KiB. */
const MAX_EVENT_BYTES = 4 * 1024 * 1024;
const MAX_LIST_BYTES = 64 * 1024 * 1024;
const RETRY_MS = [1000, 2000, 5000, 10_000, 30_000];

interface ApiAccess {
  server: URL;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

type Doc = Record<string, unknown>;

/** The API server and the kubelet's client certificate, from kubeadm's kubelet.conf. */
function apiAccess(file: string): ApiAccess {
  const config = YAML.parse(readFileSync(file, 'utf8')) as Doc;
  const first = (list: unknown, inner: string) => ((Array.isArray(list) ? list[0] : undefined) as Doc | undefined)?.[inner] as Doc | undefined;
  const cluster = first(config.clusters, 'cluster');
  const user = first(config.users, 'user');
  const fromFileOrData = (path: unknown, data: unknown) =>
    typeof data === 'string' ? Buffer.from(data, 'base64') : typeof path === 'string' ? readFileSync(path) : undefined;
  const ca = fromFileOrData(cluster?.['certificate-authority'], cluster?.['certificate-authority-data']);
  const cert = fromFileOrData(user?.['client-certificate'], user?.['client-certificate-data']);
  const key = fromFileOrData(user?.['client-key'], user?.['client-key-data']);
  if (typeof cluster?.server !== 'string' || !ca || !cert || !key) throw new CommandError(t('{file}: no API server or client certificate', { file }));
  return { server: new URL(cluster.server), ca, cert, key };
}

/** A watch of the API server, streamed (httpGet reads whole bodies): `onLine` gets each event, a line each. */
function watchLines(api: ApiAccess, path: string, maxLine: number, onLine: (line: string) => void, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, api.server), { ca: api.ca, cert: api.cert, key: api.key, agent: false, timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${path}: HTTP ${res.statusCode}`));
        return;
      }
      const lines = createInterface({ input: res, crlfDelay: Infinity });
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxLine) req.destroy(new Error(`GET ${path}: more than ${maxLine} bytes without a line end`));
      });
      lines.on('line', (line) => {
        size = 0;
        try {
          if (line.trim()) onLine(line);
        } catch (error) {
          req.destroy(error as Error);
        }
      });
      lines.on('close', resolve);
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end();
  });
}

class Publisher {
  private readonly ours: Set<string>;
  private running = Promise.resolve();

  constructor(
    private readonly socket: string,
    private readonly parentIP: string,
    private readonly oursFile: string,
    private readonly root: string,
  ) {
    let saved: unknown = [];
    try {
      saved = JSON.parse(readFileSync(oursFile, 'utf8'));
    } catch {
      // first start of this namespace
    }
    this.ours = new Set(Array.isArray(saved) ? saved.filter((k): k is string => typeof k === 'string') : []);
  }

  /** Brings rootlesskit's forwards to what `services` ask for; runs one at a time, in order. */
  sync(services: Service[]): Promise<void> {
    this.running = this.running
      .then(() => this.apply(services))
      .catch((error: Error) => {
        log(t('cannot publish the Service ports: {reason}', { reason: error.message }));
      });
    return this.running;
  }

  private async apply(services: Service[]): Promise<void> {
    const changes = portChanges(serviceForwards(services), await listPorts(this.socket), this.ours);
    for (const c of changes.remove) {
      await removePort(this.socket, c.id);
      this.ours.delete(forwardKey(c.spec));
      log(t('unpublished {port}', { port: `${c.spec.parentPort}/${c.spec.proto}` }));
    }
    for (const f of changes.add) {
      this.ours.add(forwardKey(f));
      this.save();
      try {
        await addPort(this.socket, portSpec(f, this.parentIP));
        log(t('published {port} for {service}', { port: `${this.parentIP}:${f.parentPort}/${f.proto}`, service: f.service }));
      } catch (error) {
        this.ours.delete(forwardKey(f));
        log(t('cannot publish {port} for {service}: {reason}', { port: `${f.parentPort}/${f.proto}`, service: f.service, reason: (error as Error).message }));
      }
    }
    for (const f of changes.taken)
      log(t('{port} of {service} is already published by the node itself; not changed', { port: `${f.parentPort}/${f.proto}`, service: f.service }));
    this.save();
  }

  private save(): void {
    atomicWrite(this.oursFile, `${JSON.stringify([...this.ours].sort())}\n`, { mode: 0o600, root: this.root });
  }
}

const serviceKey = (s: Service) => `${s.metadata.namespace}/${s.metadata.name}`;

/** List, then watch from the list's version; returns when the watch ends (the caller lists again). */
async function listAndWatch(api: ApiAccess, publisher: Publisher): Promise<void> {
  const services = new Map<string, Service>();
  const url = new URL('/api/v1/services', api.server).href;
  const listed = await httpGet(url, {
    timeoutMs: 30_000,
    maxBytes: MAX_LIST_BYTES,
    accept: 'application/json',
    ca: api.ca,
    client: { cert: api.cert, key: api.key },
  });
  if (listed.status !== 200) throw new Error(`GET ${url}: HTTP ${listed.status}`);
  const list = JSON.parse(listed.body.toString('utf8')) as { metadata: { resourceVersion: string }; items: Service[] };
  for (const s of list.items) services.set(serviceKey(s), s);
  await publisher.sync([...services.values()]);
  await watchLines(
    api,
    `/api/v1/services?watch=1&resourceVersion=${encodeURIComponent(list.metadata.resourceVersion)}&timeoutSeconds=1800`,
    MAX_EVENT_BYTES,
    (line) => {
      const event = JSON.parse(line) as { type: string; object: Service };
      if (event.type === 'ERROR') throw new Error(`watch: ${JSON.stringify(event.object)}`);
      if (event.type === 'DELETED') services.delete(serviceKey(event.object));
      else if (event.type === 'ADDED' || event.type === 'MODIFIED') services.set(serviceKey(event.object), event.object);
      else return;
      void publisher.sync([...services.values()]);
    },
    1900_000,
  );
}

function publisherFor(layout: UserLayout, envFile: string): Publisher {
  const settings = readNodeSettings(envFile);
  return new Publisher(stateFiles(layout).apiSocket, settings.publishAddress, `${layout.usernetesRun}/service-ports.json`, layout.usernetesRun);
}

runWrapper(
  {
    name: 'u7s-service-ports',
    summary: 'Publish the node ports of Kubernetes Services on the host (rootless node).',
    usage: ['[--env-file FILE]'],
    options: { 'env-file': { type: 'string', valueName: 'FILE', description: 'the node settings (default /etc/podsec/u7s/config/env)' } },
    description: [
      'Run by u7s-service-ports.service through nsenter_u7s. Lists and watches the Services with the ' +
        "kubelet's credentials (/etc/kubernetes/kubelet.conf) and keeps rootlesskit's port forwards in " +
        "step: every nodePort of a NodePort or LoadBalancer Service is published on the node's address " +
        "(U7S_PUBLISH_ADDRESS), and a LoadBalancer's own port too, to its nodePort. A port the node " +
        'publishes for itself, or an admin by hand, is never changed or removed. Ports below ' +
        'net.ipv4.ip_unprivileged_port_start cannot be published by an unprivileged user: each is logged.',
    ],
    files: {
      '/etc/kubernetes/kubelet.conf': 'where the API server is, and the kubelet client certificate',
      '/run/user/UID/usernetes/service-ports.json': 'the forwards this program made (the others are left alone)',
    },
    exitCodes: { 1: 'not in the node namespace, or the kubelet is not configured yet' },
    seeAlso: ['rootlessctl(1)', 'nsenter_u7s(8)', 'u7s-kubelet(8)'],
  },
  t,
  async ({ values }) => {
    const { layout, inNamespace } = runContext();
    if (!inNamespace) throw new CommandError(t('u7s-service-ports runs inside the node namespace: nsenter_u7s u7s-service-ports'));
    const publisher = publisherFor(layout, envFileOf(values['env-file']));
    // Until the unit stops it (SIGTERM ends the process): a watch ends every half hour, a failure waits and lists again.
    for (let attempt = 0; ; attempt++) {
      try {
        const api = apiAccess(KUBELET_CONF);
        await listAndWatch(api, publisher);
        attempt = 0;
      } catch (error) {
        if (error instanceof CommandError) throw error;
        const wait = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]!;
        log(t('the API server: {reason}; again in {seconds} s', { reason: (error as Error).message, seconds: wait / 1000 }));
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  },
);
