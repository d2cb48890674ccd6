// gRPC's standard metric names, units and labels (A66, A96), pinned against the real
// OpenTelemetry SDK with an in-memory reader.
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { clientLayers, createServerStack, LATENCY_BUCKETS_S } from 'grpc-meshlite';
import { OrderClient, orderServiceDefinition, type Order } from '../../examples/orders.js';
import { getOrder } from '../helpers/clients.js';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { meshClient, allUsable, until } from '../helpers/mesh.js';
import { testMeter, valueOf } from '../helpers/metrics.js';
import { expectGrpcError, useTestPool } from '../helpers/servers.js';

const METHOD = 'orders.v1.OrderService/GetOrder';

describe('metrics (OpenTelemetry, gRPC A66/A96 names)', function () {
  this.timeout(20_000);
  const pool = useTestPool();

  it('records client calls and attempts with A66 names, units and labels, and retries per A96', async () => {
    const backend = await startFakeBackend('ServiceA');
    pool.defer(() => backend.stop());
    const meter = testMeter();
    pool.defer(() => meter.shutdown());
    const { mesh, client } = meshClient(
      pool,
      { config: { services: { orders: { endpoints: [{ name: 'A', address: backend.address }], balancer: { slowStart: { windowMs: 0 } } } } } },
      { stack: { metrics: { meterProvider: meter.provider }, retry: { maxAttempts: 3, idempotent: true, backoff: { baseMs: 1, capMs: 1 } } } },
    );
    client.getChannel().getConnectivityState(true);
    await until(mesh, allUsable('A'));
    await getOrder(client, { 'x-test-fail-times': '1', 'x-test-key': 'm' }); // UNAVAILABLE, then OK
    await expectGrpcError(getOrder(client, { 'x-test-status': String(grpc.status.NOT_FOUND) }));

    const metrics = await meter.collect();
    const base = { 'grpc.method': METHOD, 'grpc.target': 'mesh:///orders' };
    const started = metrics.get('grpc.client.attempt.started')!;
    expect(started.unit).to.equal('{attempt}');
    expect(valueOf(started, base)).to.equal(3);
    const attempts = metrics.get('grpc.client.attempt.duration')!;
    expect(attempts.unit).to.equal('s');
    expect(attempts.boundaries).to.deep.equal([...LATENCY_BUCKETS_S]);
    expect(['UNAVAILABLE', 'OK', 'NOT_FOUND'].map((status) => valueOf(attempts, { ...base, 'grpc.status': status }))).to.deep.equal([1, 1, 1]);
    const calls = metrics.get('grpc.client.call.duration')!;
    expect(calls.unit).to.equal('s');
    expect(['OK', 'NOT_FOUND', 'UNAVAILABLE'].map((status) => valueOf(calls, { ...base, 'grpc.status': status }))).to.deep.equal([1, 1, undefined]);
    const retries = metrics.get('grpc.client.call.retries')!;
    expect(retries.unit).to.equal('{retry}');
    expect(valueOf(retries, base)).to.equal(1); // one call retried; calls without retries report no 0
    expect(metrics.has('grpc.client.call.hedges')).to.equal(false);
  });

  it("records the mesh's own per-endpoint attempts and state", async () => {
    const backend = await startFakeBackend('ServiceA');
    pool.defer(() => backend.stop());
    const meter = testMeter();
    pool.defer(() => meter.shutdown());
    const { mesh, client } = meshClient(pool, {
      meterProvider: meter.provider,
      config: { services: { orders: { endpoints: [{ name: 'A', address: backend.address, weight: 7 }], balancer: { slowStart: { windowMs: 0 } } } } },
    });
    client.getChannel().getConnectivityState(true);
    await until(mesh, allUsable('A'));
    await getOrder(client);
    const metrics = await meter.collect();
    const endpoint = { 'meshlite.service': 'orders', 'meshlite.endpoint': 'A', 'meshlite.address': backend.address };
    expect(valueOf(metrics.get('meshlite.endpoint.attempts'), { ...endpoint, 'grpc.status': 'OK' })).to.equal(1);
    expect(metrics.get('meshlite.endpoint.attempt.duration')!.unit).to.equal('s');
    expect(valueOf(metrics.get('meshlite.endpoint.attempt.duration'), { ...endpoint, 'grpc.status': 'OK' })).to.equal(1);
    expect(valueOf(metrics.get('meshlite.endpoint.in_rotation'), endpoint)).to.equal(1);
    expect(valueOf(metrics.get('meshlite.endpoint.ejected'), endpoint)).to.equal(0);
    expect(valueOf(metrics.get('meshlite.endpoint.effective_weight'), endpoint)).to.equal(7);
    expect(valueOf(metrics.get('meshlite.client.breaker.state'), { 'meshlite.breaker': 'orders.v1.OrderService/GetOrder' })).to.equal(0);
  });

  it('records server calls with A66 names, units and labels', async () => {
    const meter = testMeter();
    pool.defer(() => meter.shutdown());
    const stack = createServerStack({ metrics: { meterProvider: meter.provider } });
    const { address } = await pool.server(
      (server) =>
        server.addService(orderServiceDefinition, {
          GetOrder: (call: grpc.ServerUnaryCall<{ id: string }, Order>, callback: grpc.sendUnaryData<Order>) =>
            call.request.id === 'missing'
              ? callback({ code: grpc.status.NOT_FOUND, details: 'no' })
              : callback(null, { id: 'o', item: '', quantity: 0, idempotency_key: '', created_by: '', created_at_ms: '0', served_by: 'S' }),
        }),
      { interceptors: stack.interceptors },
    );
    const client = pool.track(new OrderClient(address, grpc.credentials.createInsecure()));
    const get = (id: string) => new Promise<unknown>((resolve) => client.GetOrder({ id }, (error: unknown) => resolve(error)));
    await get('x');
    await get('missing');

    const metrics = await meter.collect();
    expect(metrics.get('grpc.server.call.started')!.unit).to.equal('{call}');
    expect(valueOf(metrics.get('grpc.server.call.started'), { 'grpc.method': METHOD })).to.equal(2);
    const durations = metrics.get('grpc.server.call.duration')!;
    expect(durations.unit).to.equal('s');
    expect(['OK', 'NOT_FOUND'].map((status) => valueOf(durations, { 'grpc.method': METHOD, 'grpc.status': status }))).to.deep.equal([1, 1]);
  });

  it('costs nothing without an OpenTelemetry SDK: the layer is not in the stack', () => {
    expect(clientLayers().map((layer) => layer.name)).not.to.include('metrics');
  });
});
