/** Which host ports a rootless node publishes for Services, and the changes to rootlesskit's forwards. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { forwardKey, portChanges, serviceForwards, type Service, type ServicePort } from '../../bin/u7s/lib/service-ports.ts';
import type { PortStatus } from '../../bin/u7s/lib/rootlesskit-api.ts';

const service = (name: string, type: string, ports: ServicePort[]): Service => ({
  metadata: { namespace: 'default', name },
  spec: { type, ports },
});

test('NodePort and LoadBalancer Services ask for their node ports; a LoadBalancer also for its own port; ClusterIP for none', () => {
  const forwards = serviceForwards([
    service('web', 'NodePort', [{ port: 80, nodePort: 30080 }]),
    service('dns', 'LoadBalancer', [{ protocol: 'UDP', port: 5353, nodePort: 31053 }]),
    service('inside', 'ClusterIP', [{ port: 80 }]),
    service('sctp', 'NodePort', [{ protocol: 'SCTP', port: 9, nodePort: 30009 }]),
    service('pending', 'NodePort', [{ port: 81 }]),
  ]);
  assert.equal(
    forwards.map((f) => [f.proto, f.parentPort, f.childPort, f.service]),
    [
      ['tcp', 30080, 30080, 'default/web'],
      ['udp', 31053, 31053, 'default/dns'],
      ['udp', 5353, 31053, 'default/dns'],
    ],
  );
});

test('a host port asked by two Services goes to the first', () => {
  const forwards = serviceForwards([
    service('a', 'LoadBalancer', [{ port: 8080, nodePort: 30001 }]),
    service('b', 'LoadBalancer', [{ port: 8080, nodePort: 30002 }]),
  ]);
  assert.equal(
    forwards.filter((f) => f.parentPort === 8080).map((f) => f.service),
    ['default/a'],
  );
});

const status = (id: number, proto: string, parentPort: number, childPort = parentPort): PortStatus => ({
  id,
  spec: { proto, parentIP: '192.0.2.1', parentPort, childPort },
});

test("changes: new ports added, ours no longer asked for removed; the node's own and an admin's ports are never touched", () => {
  const wanted = serviceForwards([
    service('web', 'NodePort', [{ port: 80, nodePort: 30080 }]),
    service('own', 'LoadBalancer', [{ port: 10250, nodePort: 30250 }]),
  ]);
  const current = [status(1, 'tcp', 10250), status(2, 'udp', 8472), status(3, 'tcp', 30999), status(4, 'tcp', 31000)];
  const ours = new Set(['tcp/30999']);
  const changes = portChanges(wanted, current, ours);
  assert.equal(
    changes.add.map((f) => forwardKey(f)),
    ['tcp/30080', 'tcp/30250'],
  );
  assert.equal(
    changes.remove.map((c) => c.id),
    [3],
  );
  // 10250 is the kubelet's (the node's own forward): reported, not replaced.
  assert.equal(
    changes.taken.map((f) => forwardKey(f)),
    ['tcp/10250'],
  );
});

test('changes: nothing to do when rootlesskit already has what is asked; a changed target port is replaced', () => {
  const wanted = serviceForwards([service('web', 'LoadBalancer', [{ port: 8080, nodePort: 30080 }])]);
  const same = [status(7, 'tcp', 30080), status(8, 'tcp', 8080, 30080)];
  const ours = new Set(['tcp/30080', 'tcp/8080']);
  assert.equal(portChanges(wanted, same, ours), { add: [], remove: [], taken: [] });
  const moved = [status(7, 'tcp', 30080), status(8, 'tcp', 8080, 30079)];
  const changes = portChanges(wanted, moved, ours);
  assert.equal(
    changes.remove.map((c) => c.id),
    [8],
  );
  assert.equal(
    changes.add.map((f) => [f.parentPort, f.childPort]),
    [[8080, 30080]],
  );
});

test.run();
