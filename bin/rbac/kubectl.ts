/**
 * The client boundary of podsec-k8s-rbac: every API call is one `kubectl` run with an argument
 * array, objects go in as JSON on stdin and come back as JSON on stdout.
 *
 * Why kubectl and not @kubernetes/client-node: kubectl is what the administrator already uses
 * with this kubeconfig (every auth method and exec plugin included), it costs ~0.1 s a call, and
 * our programs stay small (a bundled @kubernetes/client-node 0.22 is 7.8 MB and starts in ~0.57 s
 * against ~0.12 s for `node -e 0`; its 1.x/2.x lines need Node ≥ 22, our packages target Node 18).
 */
import { run } from '../lib/proc.ts';

export type KubeObject = Record<string, any> & { apiVersion?: string; kind?: string; metadata?: Record<string, any> };

/** The reason kubectl printed as "Error from server (<Reason>)", when it did. */
export type KubectlReason = 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Forbidden' | 'Invalid' | 'Other';

export class KubectlError extends Error {
  constructor(
    readonly args: string[],
    readonly reason: KubectlReason,
    readonly stderr: string,
    readonly exitCode: number | null,
  ) {
    super(stderr.trim().split('\n').pop() || `kubectl ${args[0] ?? ''} failed (exit ${exitCode})`);
  }
}

export class KubectlMissingError extends Error {}

export interface KubectlOptions {
  kubeconfig?: string;
  /** The kubectl program; PATH lookup by default. */
  program?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export const RESOURCES = {
  csr: 'certificatesigningrequests.certificates.k8s.io',
  clusterRole: 'clusterroles.rbac.authorization.k8s.io',
  role: 'roles.rbac.authorization.k8s.io',
  clusterRoleBinding: 'clusterrolebindings.rbac.authorization.k8s.io',
  roleBinding: 'rolebindings.rbac.authorization.k8s.io',
} as const;

function reasonOf(stderr: string): KubectlReason {
  const match = /Error from server \((\w+)\)/.exec(stderr);
  const reason = match?.[1];
  if (reason === 'NotFound' || reason === 'AlreadyExists' || reason === 'Conflict' || reason === 'Forbidden' || reason === 'Invalid') return reason;
  if (/the object has been modified/.test(stderr)) return 'Conflict';
  return 'Other';
}

export class Kubectl {
  constructor(readonly options: KubectlOptions = {}) {}

  /** Runs kubectl; resolves with stdout on exit 0, rejects with a KubectlError otherwise. */
  run(args: string[], input?: string): Promise<string> {
    const fullArgs = [...(this.options.kubeconfig ? ['--kubeconfig', this.options.kubeconfig] : []), ...args];
    const program = this.options.program ?? 'kubectl';
    return run(program, fullArgs, {
      fullEnv: this.options.env ?? process.env,
      cwd: process.cwd(),
      input: input ?? '',
      timeoutMs: this.options.timeoutMs ?? 60_000,
    }).then(({ status, stdout, stderr, error, timedOut }) => {
      if (error && !timedOut) throw (error as NodeJS.ErrnoException).code === 'ENOENT' ? new KubectlMissingError(program) : error;
      if (status === 0) return stdout;
      throw new KubectlError(args, reasonOf(stderr), stderr, status);
    });
  }

  private async json(args: string[], input?: string): Promise<KubeObject> {
    const text = await this.run(args, input);
    try {
      return JSON.parse(text) as KubeObject;
    } catch {
      throw new KubectlError(args, 'Other', `kubectl ${args[0]}: output is not JSON`, 0);
    }
  }

  /** The object, or undefined when the server says it does not exist. */
  async get(resource: string, name: string, namespace?: string): Promise<KubeObject | undefined> {
    const text = await this.run(['get', resource, name, ...ns(namespace), '--ignore-not-found', '-o', 'json']);
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text) as KubeObject;
    } catch {
      throw new KubectlError(['get', resource, name], 'Other', 'kubectl get: output is not JSON', 0);
    }
  }

  /** Items of a list; `namespace: '*'` lists across all namespaces. */
  async list(resource: string, namespace?: string): Promise<KubeObject[]> {
    const scope = namespace === '*' ? ['--all-namespaces'] : ns(namespace);
    const list = await this.json(['get', resource, ...scope, '-o', 'json']);
    return Array.isArray(list.items) ? (list.items as KubeObject[]) : [];
  }

  create(object: KubeObject): Promise<KubeObject> {
    return this.json(['create', '-f', '-', '-o', 'json'], JSON.stringify(object));
  }

  /** A replace guarded by the object's metadata.resourceVersion: a concurrent change is a Conflict. */
  replace(object: KubeObject): Promise<KubeObject> {
    return this.json(['replace', '-f', '-', '-o', 'json'], JSON.stringify(object));
  }

  async delete(resource: string, name: string, namespace?: string): Promise<void> {
    await this.run(['delete', resource, name, ...ns(namespace), '--ignore-not-found']);
  }

  async approveCsr(name: string): Promise<void> {
    await this.run(['certificate', 'approve', name]);
  }

  raw(path: string): Promise<KubeObject> {
    return this.json(['get', '--raw', path]);
  }

  /** The current context of the kubeconfig with its cluster and user, files embedded. */
  currentConfig(): Promise<KubeObject> {
    return this.json(['config', 'view', '--raw', '--minify', '--flatten', '-o', 'json']);
  }
}

const ns = (namespace?: string) => (namespace ? ['--namespace', namespace] : []);
