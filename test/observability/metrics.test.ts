// gRPC's standard metric names, units and labels (A66, A96), pinned against the real
// OpenTelemetry SDK with an in-memory reader.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createServerStack, drainServer, HealthState } from 'grpc-meshlite';
import { clientLayers, metricsLayer } from 'grpc-meshlite/layers';
import { DRAIN_PHASE_VALUES } from '../../src/server/metrics.js';
import { LATENCY_BUCKETS_S, SIZE_BUCKETS_BYTES } from '../../src/observability/metrics.js';
import { VERSION } from '../../src/version.js';
import { describeMethod } from '../../src/call/method.js';
import type { ClientCall, ClientResult } from '../../src/interceptors/types.js';

import { OrderClient, orderServiceDefinition, type Order } from '../../examples/orders.js';
import { getOrder } from '../helpers/clients.js';
import { manualClock } from '../helpers/clock.js';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { connectAndWait, meshClient, until } from '../helpers/mesh.js';
import { histogramOf, RECORDING_MODES, testMeter, valueOf } from '../helpers/metrics.js';
import { until as untilTrue } from '../helpers/until.js';
import { expectGrpcError, useTestPool } from '../helpers/servers.js';

const METHOD = 'orders.v1.OrderService/GetOrder';
const okResult: ClientResult = {
  status: { code: grpc.status.OK, details: '', metadata: new grpc.Metadata() },
  headers: undefined,
  message: {},
  peer: undefined,
  attempts: [],
};

describe('metrics (OpenTelemetry, gRPC A66/A96 names)', function () {
  this.timeout(20_000);
  const pool = useTestPool();

  for (const mode of RECORDING_MODES) {
    describe(`recorded ${mode === 'api' ? "through the API's instruments" : 'aggregated in the process (servePrometheus)'}`, () => {
      it('records client calls and attempts with A66 names, units and labels, and retries per A96', async () => {
        const backend = await startFakeBackend('ServiceA');
        pool.defer(() => backend.stop());
        const meter = await testMeter(mode);
        pool.defer(() => meter.shutdown());
        const { mesh, client } = meshClient(
          pool,
          {
            config: {
              services: { orders: { endpoints: [{ name: 'A', address: backend.address }], balancer: { slowStart: { windowMs: 0 } } } },
            },
          },
          {
            stack: {
              metrics: { meterProvider: meter.provider },
              retry: { maxAttempts: 3, idempotent: true, backoff: { baseMs: 1, capMs: 1 } },
            },
          },
        );
        await connectAndWait(mesh, client, ['A']);
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
        expect(['UNAVAILABLE', 'OK', 'NOT_FOUND'].map((status) => valueOf(attempts, { ...base, 'grpc.status': status }))).to.deep.equal([
          1, 1, 1,
        ]);
        const calls = metrics.get('grpc.client.call.duration')!;
        expect(calls.unit).to.equal('s');
        expect(['OK', 'NOT_FOUND', 'UNAVAILABLE'].map((status) => valueOf(calls, { ...base, 'grpc.status': status }))).to.deep.equal([
          1,
          1,
          undefined,
        ]);
        const retries = metrics.get('grpc.client.call.retries')!;
        expect(retries.unit).to.equal('{retry}');
        expect(valueOf(retries, base)).to.equal(1); // one call retried; calls without retries report no 0
        expect(metrics.has('grpc.client.call.hedges')).to.equal(false);
        // A66's message sizes per attempt: the request as serialized, the response as received.
        const sent = metrics.get('grpc.client.attempt.sent_total_compressed_message_size')!;
        const received = metrics.get('grpc.client.attempt.rcvd_total_compressed_message_size')!;
        expect([sent.unit, received.unit]).to.deep.equal(['By', 'By']);
        expect(sent.boundaries).to.deep.equal([...SIZE_BUCKETS_BYTES]);
        const request = orderServiceDefinition['GetOrder']!.requestSerialize({ id: 'o-1' }).length;
        expect(histogramOf(sent, { ...base, 'grpc.status': 'OK' }).sum).to.equal(request);
        expect(histogramOf(received, { ...base, 'grpc.status': 'OK' }).sum).to.be.above(0);
        expect(histogramOf(received, { ...base, 'grpc.status': 'UNAVAILABLE' }).sum).to.equal(0);
      });

      it('counts an attempt as started when it is sent, before it ends (A66: including those not completed)', async () => {
        const backendClock = manualClock();
        const backend = await startFakeBackend('ServiceA', { clock: backendClock });
        pool.defer(() => backend.stop());
        const meter = await testMeter(mode);
        pool.defer(() => meter.shutdown());
        const { mesh, client } = meshClient(
          pool,
          {
            config: {
              services: { orders: { endpoints: [{ name: 'A', address: backend.address }], balancer: { slowStart: { windowMs: 0 } } } },
            },
          },
          { stack: { metrics: { meterProvider: meter.provider } } },
        );
        await connectAndWait(mesh, client, ['A']);
        const base = { 'grpc.method': METHOD, 'grpc.target': 'mesh:///orders' };
        const held = getOrder(client, { 'x-test-delay-ms': '300' });
        await untilTrue(() => backendClock.pending() === 1);
        let metrics = await meter.collect();
        expect(valueOf(metrics.get('grpc.client.attempt.started'), base)).to.equal(1);
        expect(valueOf(metrics.get('grpc.client.attempt.duration'), base)).to.equal(undefined);
        backendClock.tick(300);
        await held;
        metrics = await meter.collect();
        expect(valueOf(metrics.get('grpc.client.attempt.started'), base)).to.equal(1);
        expect(valueOf(metrics.get('grpc.client.attempt.duration'), { ...base, 'grpc.status': 'OK' })).to.equal(1);
      });

      it("records the mesh's own per-endpoint attempts and state", async () => {
        // The backend's delays wait on this clock: a held call ends when the test says.
        const backendClock = manualClock();
        const backend = await startFakeBackend('ServiceA', { clock: backendClock });
        pool.defer(() => backend.stop());
        const meter = await testMeter(mode);
        pool.defer(() => meter.shutdown());
        const { mesh, client } = meshClient(pool, {
          meterProvider: meter.provider,
          config: {
            services: {
              orders: { endpoints: [{ name: 'A', address: backend.address, weight: 7 }], balancer: { slowStart: { windowMs: 0 } } },
            },
          },
        });
        await connectAndWait(mesh, client, ['A']);
        await getOrder(client);
        const metrics = await meter.collect();
        const endpoint = { 'meshlite.service': 'orders', 'meshlite.endpoint': 'A', 'meshlite.address': backend.address };
        expect(valueOf(metrics.get('meshlite.endpoint.attempts'), { ...endpoint, 'grpc.status': 'OK' })).to.equal(1);
        expect(metrics.get('meshlite.endpoint.attempt.duration')!.unit).to.equal('s');
        expect(valueOf(metrics.get('meshlite.endpoint.attempt.duration'), { ...endpoint, 'grpc.status': 'OK' })).to.equal(1);
        expect(valueOf(metrics.get('meshlite.endpoint.in_rotation'), endpoint)).to.equal(1);
        expect(valueOf(metrics.get('meshlite.endpoint.ejected'), endpoint)).to.equal(0);
        expect(valueOf(metrics.get('meshlite.endpoint.effective_weight'), endpoint)).to.equal(7);
        expect(valueOf(metrics.get('meshlite.endpoint.in_flight'), endpoint)).to.equal(0);
        // A call the backend holds is in flight until it ends.
        const held = getOrder(client, { 'x-test-delay-ms': '300' });
        await untilTrue(() => mesh.snapshot('orders')[0]?.endpoints[0]?.inFlight === 1 && backendClock.pending() === 1);
        expect(valueOf((await meter.collect()).get('meshlite.endpoint.in_flight'), endpoint)).to.equal(1);
        backendClock.tick(300);
        await held;
        expect(valueOf((await meter.collect()).get('meshlite.endpoint.in_flight'), endpoint)).to.equal(0);
        const breaker = { 'meshlite.client': 'orders', 'meshlite.breaker': 'orders.v1.OrderService/GetOrder' };
        const states = ['closed', 'half-open', 'open'].map((state) =>
          valueOf(metrics.get('meshlite.client.breaker.state'), { ...breaker, 'meshlite.state': state }),
        );
        expect(states).to.deep.equal([1, 0, 0]);
      });

      it('counts the picks of each route by destination subset, labelled by names from the config only', async () => {
        const [a, b] = [await startFakeBackend('ServiceA'), await startFakeBackend('ServiceB')];
        pool.defer(() => a.stop());
        pool.defer(() => b.stop());
        const meter = await testMeter(mode);
        pool.defer(() => meter.shutdown());
        const { mesh, client } = meshClient(pool, {
          meterProvider: meter.provider,
          config: {
            services: {
              orders: {
                endpoints: [
                  { name: 'A', address: a.address, labels: { version: 'v1' } },
                  { name: 'B', address: b.address, labels: { version: 'v2' } },
                ],
                subsets: { v1: { version: 'v1' }, v2: { version: 'v2' } },
                routes: [
                  { name: 'canary', match: { headers: [{ name: 'x-canary', exact: '1' }] }, destinations: [{ subset: 'v2' }] },
                  {
                    name: 'split',
                    destinations: [
                      { subset: 'v1', weight: 3 },
                      { subset: 'v2', weight: 1 },
                    ],
                  },
                ],
                balancer: { slowStart: { windowMs: 0 } },
              },
            },
          },
        });
        await connectAndWait(mesh, client, ['A', 'B']);
        for (let i = 0; i < 8; i++) await getOrder(client);
        await getOrder(client, { 'x-canary': '1' });
        const picks = (await meter.collect()).get('meshlite.route.picks');
        const of = (route: string, subset: string) =>
          valueOf(picks, {
            'meshlite.service': 'orders',
            'meshlite.route': route,
            'meshlite.subset': subset,
            'meshlite.fallback': 'false',
          });
        expect([of('split', 'v1'), of('split', 'v2'), of('canary', 'v2')]).to.deep.equal([6, 2, 1]);
        expect(
          picks!.points.every(
            (p) => Object.keys(p.attributes).sort().join() === 'meshlite.fallback,meshlite.route,meshlite.service,meshlite.subset',
          ),
        ).to.equal(true);
      });

      it('records server calls with A66 names, units and labels', async () => {
        const meter = await testMeter(mode);
        pool.defer(() => meter.shutdown());
        const stack = createServerStack({ metrics: { meterProvider: meter.provider } });
        const { address } = await pool.server(
          (server) =>
            server.addService(orderServiceDefinition, {
              GetOrder: (call: grpc.ServerUnaryCall<{ id: string }, Order>, callback: grpc.sendUnaryData<Order>) =>
                call.request.id === 'missing'
                  ? callback({ code: grpc.status.NOT_FOUND, details: 'no' })
                  : callback(null, {
                      id: 'o',
                      item: '',
                      quantity: 0,
                      idempotency_key: '',
                      created_by: '',
                      created_at_ms: '0',
                      served_by: 'S',
                    }),
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
        expect(['OK', 'NOT_FOUND'].map((status) => valueOf(durations, { 'grpc.method': METHOD, 'grpc.status': status }))).to.deep.equal([
          1, 1,
        ]);
      });

      it('labels a method the client does not know as A66\'s "other", and times the pause before a retry (A96 retry_delay)', async () => {
        const backend = await startFakeBackend('ServiceA');
        pool.defer(() => backend.stop());
        const meter = await testMeter(mode);
        pool.defer(() => meter.shutdown());
        const { mesh, client } = meshClient(
          pool,
          {
            config: {
              services: { orders: { endpoints: [{ name: 'A', address: backend.address }], balancer: { slowStart: { windowMs: 0 } } } },
            },
          },
          { stack: { metrics: { meterProvider: meter.provider }, retry: { maxAttempts: 2, idempotent: true } } },
        );
        await connectAndWait(mesh, client, ['A']);
        // The server asks for 50 ms before the retry: the call has no attempt running for that long.
        await getOrder(client, { 'x-test-fail-times': '1', 'x-test-key': 'd', 'x-test-pushback-ms': '50' });
        const generic = await new Promise<grpc.ServiceError | null>((resolve) =>
          client.makeUnaryRequest(
            '/orders.v1.OrderService/NoSuchMethod',
            (value: Buffer) => value,
            (value: Buffer) => value,
            Buffer.alloc(0),
            (error) => resolve(error),
          ),
        );
        expect(generic?.code).to.equal(grpc.status.UNIMPLEMENTED);

        const metrics = await meter.collect();
        const calls = metrics.get('grpc.client.call.duration');
        expect(valueOf(calls, { 'grpc.method': METHOD, 'grpc.status': 'OK' })).to.equal(1);
        expect(valueOf(calls, { 'grpc.method': 'other', 'grpc.status': 'UNIMPLEMENTED' })).to.equal(1);
        expect(calls!.points.map((point) => point.attributes['grpc.method'])).not.to.include('orders.v1.OrderService/NoSuchMethod');
        const delay = metrics.get('grpc.client.call.retry_delay')!;
        expect(delay.unit).to.equal('s');
        const point = histogramOf(delay, { 'grpc.method': METHOD });
        expect(point.count).to.equal(1);
        expect(point.sum!).to.be.at.least(0.049);
        expect(point.sum!).to.be.below(histogramOf(calls!, { 'grpc.method': METHOD, 'grpc.status': 'OK' }).sum!);
      });

      it("records ejections, tier failovers and each tier's share, and breaker openings", async () => {
        const [a, b] = await Promise.all([startFakeBackend('ServiceA'), startFakeBackend('ServiceB')]);
        for (const backend of [a, b]) pool.defer(() => backend.stop());
        const meter = await testMeter(mode);
        pool.defer(() => meter.shutdown());
        const { mesh, client } = meshClient(
          pool,
          {
            meterProvider: meter.provider,
            config: {
              services: {
                orders: {
                  endpoints: [
                    { name: 'A', address: a.address, priority: 0 },
                    { name: 'B', address: b.address, priority: 1 },
                  ],
                  balancer: {
                    slowStart: { windowMs: 0 },
                    ejection: { consecutiveFailures: 1, baseEjectionMs: 60_000, maxEjectionMs: 60_000 },
                  },
                },
              },
            },
          },
          { stack: { retry: false, breaker: { volumeThreshold: 1, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 } } },
        );
        await connectAndWait(mesh, client, ['A', 'B']);
        a.behaviour.status = grpc.status.UNAVAILABLE;
        for (let i = 0; i < 2; i++) await expectGrpcError(getOrder(client));
        await until(mesh, (_, snapshot) => snapshot?.tiers.some((t) => t.priority === 1 && t.load === 100) === true);

        const metrics = await meter.collect();
        const endpointA = { 'meshlite.service': 'orders', 'meshlite.endpoint': 'A' };
        expect(valueOf(metrics.get('meshlite.endpoint.ejections'), endpointA)).to.equal(1);
        expect(valueOf(metrics.get('meshlite.endpoint.ejected'), endpointA)).to.equal(1);
        expect(valueOf(metrics.get('meshlite.service.failovers'), { 'meshlite.service': 'orders' })).to.equal(1);
        expect(
          valueOf(metrics.get('meshlite.service.tier.load'), { 'meshlite.service': 'orders', 'meshlite.priority': 1 as never }),
        ).to.equal(1);
        expect(metrics.get('meshlite.service.tier.load')!.unit).to.equal('1');
        expect(
          valueOf(metrics.get('meshlite.service.tier.panic'), { 'meshlite.service': 'orders', 'meshlite.priority': 1 as never }),
        ).to.equal(0);
        expect(valueOf(metrics.get('meshlite.client.breaker.opened'), { 'meshlite.breaker': METHOD })).to.equal(1);
        expect(valueOf(metrics.get('meshlite.client.breaker.state'), { 'meshlite.breaker': METHOD, 'meshlite.state': 'open' })).to.equal(1);
        expect(valueOf(metrics.get('meshlite.client.breaker.state'), { 'meshlite.breaker': METHOD, 'meshlite.state': 'closed' })).to.equal(
          0,
        );
      });

      it("records the server's state: calls shed, idempotent replays, the limit in use and the drain phase", async () => {
        const meter = await testMeter(mode);
        pool.defer(() => meter.shutdown());
        const stack = createServerStack({ metrics: { meterProvider: meter.provider }, loadShedding: { maxConcurrent: 1 } });
        pool.defer(() => stack.close());
        let release = () => {};
        const held = new Promise<void>((resolve) => (release = resolve));
        const { address, server } = await pool.server(
          (s) =>
            s.addService(orderServiceDefinition, {
              GetOrder: (call: grpc.ServerUnaryCall<{ id: string }, Order>, callback: grpc.sendUnaryData<Order>) => {
                const answer = () =>
                  callback(null, {
                    id: call.request.id,
                    item: '',
                    quantity: 0,
                    idempotency_key: '',
                    created_by: '',
                    created_at_ms: '0',
                    served_by: 'S',
                  });
                if (call.request.id === 'hold') void held.then(answer);
                else answer();
              },
            }),
          { interceptors: stack.interceptors },
        );
        const client = pool.track(new OrderClient(address, grpc.credentials.createInsecure()));
        const get = (id: string, key?: string) =>
          new Promise<grpc.ServiceError | null>((resolve) => {
            const metadata = new grpc.Metadata();
            if (key) metadata.set('idempotency-key', key);
            client.GetOrder({ id }, metadata, (error: grpc.ServiceError | null) => resolve(error));
          });
        const holding = get('hold');
        await untilTrue(() => stack.loadShedding!.limit.inFlight === 1);
        expect((await get('x'))?.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
        let metrics = await meter.collect();
        expect(valueOf(metrics.get('meshlite.server.concurrency.in_flight'), {})).to.equal(1);
        expect(valueOf(metrics.get('meshlite.server.concurrency.limit'), {})).to.equal(1);
        release();
        expect(await holding).to.equal(null);
        await get('k', 'key-1');
        await get('k', 'key-1'); // replayed
        await drainServer({ server, health: new HealthState(), stack }, { graceMs: 0 });

        metrics = await meter.collect();
        expect(valueOf(metrics.get('meshlite.server.shed'), {})).to.equal(1);
        expect(valueOf(metrics.get('meshlite.server.idempotent_replays'), {})).to.equal(1);
        expect(valueOf(metrics.get('meshlite.server.drain.phase'), {})).to.equal(DRAIN_PHASE_VALUES.stopped);
      });
    });
  }

  it("records a hedge's loser as CANCELLED, never as its endpoint's failure: a slow but healthy endpoint is not ejected", async () => {
    // ServiceA answers only when this clock is ticked (slow, never failing); every hedge wins at B.
    const slowClock = manualClock();
    const [a, b] = [await startFakeBackend('ServiceA', { clock: slowClock }), await startFakeBackend('ServiceB')];
    pool.defer(() => a.stop());
    pool.defer(() => b.stop());
    a.behaviour.delayMs = 60_000;
    const meter = await testMeter();
    pool.defer(() => meter.shutdown());
    const { mesh, client } = meshClient(pool, {
      meterProvider: meter.provider,
      config: {
        services: {
          orders: {
            endpoints: [
              { name: 'A', address: a.address },
              { name: 'B', address: b.address },
            ],
            balancer: { slowStart: { windowMs: 0 }, ejection: { consecutiveFailures: 3 } },
            client: { retry: { methods: { [METHOD]: { idempotent: true, hedging: { delayMs: 10, maxAttempts: 2 } } } } },
          },
        },
      },
    });
    const ejected: string[] = [];
    mesh.events.onEndpoint((event) => event.kind === 'ejected' && ejected.push(event.endpoint));
    await connectAndWait(mesh, client, ['A', 'B']);
    for (let i = 0; i < 16; i++) expect((await getOrder(client)).served_by).to.equal('ServiceB');

    expect(ejected).to.deep.equal([]);
    expect(mesh.snapshot('orders')[0]!.endpoints[0]).to.include({ name: 'A', status: 'in-rotation' });
    const base = { 'grpc.method': METHOD, 'grpc.target': 'mesh:///orders' };
    const attempts = (await meter.collect()).get('grpc.client.attempt.duration')!;
    // Every call that went to A first lost to its hedge: more than the 3 in a row that would eject A.
    expect(valueOf(attempts, { ...base, 'grpc.status': 'CANCELLED' })).to.be.at.least(4);
    expect(valueOf(attempts, { ...base, 'grpc.status': 'DEADLINE_EXCEEDED' })).to.equal(undefined);
    // The balancer hears of each loser's end as CANCELLED too, never as a failure.
    await untilTrue(() => mesh.snapshot('orders')[0]!.endpoints[0]!.inFlight === 0);
    const endpointA = async (status: string) =>
      valueOf((await meter.collect()).get('meshlite.endpoint.attempts'), { 'meshlite.endpoint': 'A', 'grpc.status': status });
    expect(await endpointA('CANCELLED')).to.be.at.least(1);
    expect(await endpointA('DEADLINE_EXCEEDED')).to.equal(undefined);
  });

  it("forgets the series of an endpoint that left: after five address changes only the last address's are scraped", async () => {
    const backends = await Promise.all(Array.from({ length: 6 }, (_, i) => startFakeBackend(`Pod${i}`)));
    for (const backend of backends) pool.defer(() => backend.stop());
    const meter = await testMeter('aggregated');
    pool.defer(() => meter.shutdown());
    const configAt = (address: string) => ({
      services: { orders: { endpoints: [{ name: 'A', address }], balancer: { slowStart: { windowMs: 0 } } } },
    });
    const { mesh, client } = meshClient(pool, { meterProvider: meter.provider, config: configAt(backends[0]!.address) });
    await connectAndWait(mesh, client, ['A']);
    const endpoints = () => mesh.snapshot('orders')[0]!.endpoints;
    for (const backend of backends) {
      // A pod replaced on a new IP: the endpoint keeps its name, its address changes.
      mesh.update(configAt(backend.address));
      await untilTrue(() => endpoints().length === 1 && endpoints()[0]!.address === backend.address && endpoints()[0]!.usable);
      expect((await getOrder(client)).served_by).to.equal(backend.name);
    }
    const metrics = await meter.collect();
    const last = backends[5]!.address;
    for (const name of ['meshlite.endpoint.attempts', 'meshlite.endpoint.attempt.duration', 'meshlite.endpoint.in_rotation']) {
      expect([...new Set(metrics.get(name)!.points.map((point) => point.attributes['meshlite.address']))], name).to.deep.equal([last]);
    }
    expect(valueOf(metrics.get('meshlite.endpoint.attempt.duration'), { 'meshlite.address': last, 'grpc.status': 'OK' })).to.equal(1);
    // The calls themselves are the client's, not the endpoints': all six stay counted.
    const calls = metrics.get('grpc.client.call.duration');
    expect(valueOf(calls, { 'grpc.method': METHOD, 'grpc.status': 'OK' })).to.equal(6);
  });

  it('names the package version the metrics scope carries as package.json does', () => {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(VERSION).to.equal(manifest.version);
  });

  it('aggregates in the process exactly as the SDK does: same buckets (bounds inclusive), count, sum, min and max', async () => {
    const values = [0, 0.00001, 0.000011, 0.0004, 0.001, 0.0010001, 0.25, 99, 100, 101, 0.5];
    const collected = await Promise.all(
      RECORDING_MODES.map(async (mode) => {
        const meter = await testMeter(mode);
        pool.defer(() => meter.shutdown());
        const layer = metricsLayer({ meterProvider: meter.provider, target: 't' })!;
        const call = { method: describeMethod('/p.S/M') } as ClientCall;
        for (const durationMs of values) {
          await layer(async () => ({
            ...okResult,
            attempts: [{ code: 0, peer: undefined, mayHaveReachedServer: true, startedAt: 0, durationMs: durationMs * 1000 }],
          }))(call);
        }
        const point = histogramOf((await meter.collect()).get('grpc.client.attempt.duration')!, { 'grpc.method': 'p.S/M' });
        return { ...point, sum: Math.round(point.sum! * 1e9) / 1e9 };
      }),
    );
    expect(collected[1]).to.deep.equal(collected[0]);
    expect(collected[0]!.count).to.equal(values.length);
  });

  it('costs nothing without an OpenTelemetry SDK: the layer is not in the stack', () => {
    expect(clientLayers().map((layer) => layer.name)).not.to.include('metrics');
  });
});
