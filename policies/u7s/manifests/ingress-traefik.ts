/**
 * An ingress controller for the u7s cluster: Traefik, which proxies in its own process (no nginx
 * build with Lua modules, as ingress-nginx's controller needs, which Debian does not ship). Its
 * Service has the fixed NodePort INGRESS_NODE_PORT, which podsec-k8s publishes out of every node's
 * namespace as it appears (u7s-service-ports), so a haproxy frontend or DNS names can point at the
 * nodes. The operator fills the image in: `registry.local/<platform>/` is the site's platform
 * (README, "Ingress").
 */
import { placeholderImage, TRAEFIK_VERSION } from '../../../bin/u7s/lib/kubeadm-fields.ts';
import { accountWithClusterRole } from './rbac.ts';

/** The NodePort every node publishes for HTTP to the ingress controller (upstream's ingress-nginx example used the same). */
export const INGRESS_NODE_PORT = 31000;
export const INGRESS_NAMESPACE = 'ingress-traefik';
const INGRESS_CLASS = 'traefik';

const name = 'traefik';
const namespace = INGRESS_NAMESPACE;
const labels = () => ({ 'app.kubernetes.io/name': name });
/** The entry points: HTTP for Ingress traffic, and the one with /ping for the probes. */
const HTTP_PORT = 8000;
const PING_PORT = 8080;

export default [
  {
    apiVersion: 'v1',
    kind: 'Namespace',
    // The controller needs nothing the restricted Pod Security Standard forbids.
    metadata: { name: namespace, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
  },
  ...accountWithClusterRole({
    account: name,
    namespace,
    role: 'podsec-ingress-traefik',
    rules: [
      { apiGroups: [''], resources: ['services', 'secrets', 'nodes'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      { apiGroups: ['networking.k8s.io'], resources: ['ingresses', 'ingressclasses'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['networking.k8s.io'], resources: ['ingresses/status'], verbs: ['update'] },
    ],
  }),
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: { name: INGRESS_CLASS, annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } },
    spec: { controller: 'traefik.io/ingress-controller' },
  },
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: labels() },
    spec: {
      replicas: 2,
      selector: { matchLabels: labels() },
      template: {
        metadata: { labels: labels() },
        spec: {
          serviceAccountName: name,
          // One replica per node where the nodes allow it: a node that goes away leaves the other answering.
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: labels() } } },
              ],
            },
          },
          securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name,
              image: placeholderImage(name, TRAEFIK_VERSION),
              imagePullPolicy: 'IfNotPresent',
              command: ['traefik'],
              args: [
                `--entryPoints.web.address=:${HTTP_PORT}`,
                `--entryPoints.traefik.address=:${PING_PORT}`,
                '--ping=true',
                '--providers.kubernetesingress=true',
                // A node of a closed network: no calls home.
                '--global.checkNewVersion=false',
                '--global.sendAnonymousUsage=false',
                '--log.level=INFO',
              ],
              ports: [
                { name: 'web', containerPort: HTTP_PORT, protocol: 'TCP' },
                { name: 'ping', containerPort: PING_PORT, protocol: 'TCP' },
              ],
              resources: { limits: { memory: '256Mi' }, requests: { cpu: '100m', memory: '64Mi' } },
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true },
              readinessProbe: { httpGet: { path: '/ping', port: PING_PORT }, periodSeconds: 5 },
              livenessProbe: { httpGet: { path: '/ping', port: PING_PORT }, initialDelaySeconds: 10, failureThreshold: 5 },
            },
          ],
        },
      },
    },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, labels: labels() },
    spec: {
      type: 'NodePort',
      selector: labels(),
      ports: [{ name: 'web', port: 80, targetPort: 'web', nodePort: INGRESS_NODE_PORT, protocol: 'TCP' }],
    },
  },
];
