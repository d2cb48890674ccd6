// Failover behaves the same over mutual TLS: the example backends serving mTLS with the
// authorization layer, a mesh client with its own certificate, a backend killed and one drained.
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createMesh, type MeshConfigInput } from 'grpc-meshlite';
import { startBackend } from '../../examples/backend.js';
import { MemoryOrderStore } from '../../examples/order-store.js';
import { OrderClient } from '../../examples/orders.js';
import { silentLogger } from '../../src/observability/logger.js';
import { testCa } from '../helpers/certs.js';
import { connectAndWait, callLoop, until } from '../helpers/mesh.js';
import { FreezableProxy } from '../helpers/proxy.js';
import { useTestPool } from '../helpers/servers.js';
import { until as waitFor } from '../helpers/until.js';

const CLIENT_ID = 'spiffe://mesh/test-client';

describe('failover over mutual TLS (real TLS servers)', function () {
  this.timeout(20_000);
  const pool = useTestPool();

  it('keeps answering through a killed and a drained backend, with no failed call', async () => {
    const ca = testCa(pool);
    const serverCert = ca.issue('server', 'serverAuth');
    const store = new MemoryOrderStore();
    const start = async (name: string) => {
      const backend = await startBackend({
        name,
        port: 0,
        store,
        logger: silentLogger,
        drain: { graceMs: 100 },
        tls: { ...serverCert, allow: [CLIENT_ID] },
      });
      pool.defer(() => backend.forceStop());
      await backend.ready;
      return backend;
    };
    const [a, b, c] = [await start('ServiceA'), await start('ServiceB'), await start('ServiceC')];
    const client = ca.issue('client', 'clientAuth', `URI:${CLIENT_ID}`);
    const config: MeshConfigInput = {
      services: {
        orders: {
          endpoints: [a, b, c].map((backend) => ({ name: backend.name, address: backend.address })),
          tls: { caFile: ca.caFile, certFile: client.certFile, keyFile: client.keyFile },
          healthCheck: { serviceName: 'orders.v1.OrderService', probeIntervalMs: 0 },
          balancer: { slowStart: { windowMs: 0 } },
          client: { retry: { maxAttempts: 3, idempotent: true, backoff: { baseMs: 1, capMs: 1 } } },
        },
      },
    };
    const mesh = createMesh({ config });
    pool.defer(() => mesh.close());
    const orders = pool.track(mesh.client(OrderClient, 'orders'));
    await connectAndWait(mesh, orders, ['ServiceA', 'ServiceB', 'ServiceC']);
    const loop = callLoop(orders);
    pool.defer(() => loop.stop());

    a.forceStop(); // killed: connections reset
    await until(mesh, (endpoints) => !endpoints['ServiceA']!.usable);
    const drained = b.drain(); // NOT_SERVING, then shutdown
    await until(mesh, (endpoints) => !endpoints['ServiceB']!.usable);
    await drained;
    const count = loop.count;
    await waitFor(() => loop.count > count + 50);
    // The example backends answer NOT_FOUND for an order they do not have: an answer, not a failure.
    expect((await loop.stop()).errors.filter((error) => error.code !== grpc.status.NOT_FOUND)).to.deep.equal([]);
  });

  it('moves calls off a hung backend (connections open, nothing answered) with no failed call', async () => {
    const ca = testCa(pool);
    const serverCert = ca.issue('server', 'serverAuth');
    const store = new MemoryOrderStore();
    const start = async (name: string) => {
      const backend = await startBackend({ name, port: 0, store, logger: silentLogger, tls: { ...serverCert, allow: [CLIENT_ID] } });
      pool.defer(() => backend.forceStop());
      await backend.ready;
      return backend;
    };
    const [a, b] = [await start('ServiceA'), await start('ServiceB')];
    // ServiceA is reached through a proxy that can freeze: a hung process, TLS and all.
    const proxy = await new FreezableProxy(a.port).listen();
    pool.defer(() => proxy.close());
    const client = ca.issue('client', 'clientAuth', `URI:${CLIENT_ID}`);
    const config: MeshConfigInput = {
      services: {
        orders: {
          endpoints: [
            { name: 'ServiceA', address: proxy.address },
            { name: 'ServiceB', address: b.address },
          ],
          tls: { caFile: ca.caFile, certFile: client.certFile, keyFile: client.keyFile },
          healthCheck: { serviceName: 'orders.v1.OrderService', probeIntervalMs: 200, probeTimeoutMs: 100 },
          balancer: { slowStart: { windowMs: 0 } },
          client: {
            retry: {
              maxAttempts: 3,
              perAttemptTimeoutMs: 100,
              methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true, hedging: { delayMs: 50 } } },
              backoff: { baseMs: 1, capMs: 1 },
            },
          },
        },
      },
    };
    const mesh = createMesh({ config });
    pool.defer(() => mesh.close());
    const orders = pool.track(mesh.client(OrderClient, 'orders'));
    await connectAndWait(mesh, orders, ['ServiceA', 'ServiceB']);
    const loop = callLoop(orders);
    pool.defer(() => loop.stop());

    proxy.freeze();
    await until(mesh, (endpoints) => !endpoints['ServiceA']!.usable);
    const count = loop.count;
    await waitFor(() => loop.count > count + 50);
    proxy.thaw();
    expect((await loop.stop()).errors.filter((error) => error.code !== grpc.status.NOT_FOUND)).to.deep.equal([]);
  });
});
