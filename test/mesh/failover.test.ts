import { createServer, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import {
  meshCallInfo,
  type ClientStackOptions,
  type EndpointEvent,
  type FailoverEvent,
  type MeshConfigInput,
  type MeshOptions,
} from 'grpc-meshlite';
import { callUnary } from '../../examples/orders.js';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.js';
import { connectAndWait, allUsable, callLoop, meshClient, split, tally, until } from '../helpers/mesh.js';
import { FreezableProxy } from '../helpers/proxy.js';
import { manualClock } from '../helpers/clock.js';
import { memoryLogger } from '../helpers/logs.js';
import { md } from '../helpers/clients.js';
import { expectGrpcError, useTestPool } from '../helpers/servers.js';

const SERVICE = 'orders.v1.OrderService';

describe('mesh failover between ServiceA and ServiceB', function () {
  this.timeout(20_000);
  const pool = useTestPool();

  interface Options {
    weights?: [number, number];
    /** The address the mesh is given for a backend (a proxy in front of it, say). */
    front?: (backend: FakeBackend) => Promise<string>;
    service?: Partial<MeshConfigInput['services'][string]>;
    /** The mesh's clock and logger (default: the system clock, no logs). */
    mesh?: Pick<MeshOptions, 'clock' | 'logger'>;
    /** The client's stack options. */
    stack?: ClientStackOptions;
  }

  async function setup(options: Options = {}) {
    const [wa, wb] = options.weights ?? [80, 20];
    const a = await startFakeBackend('ServiceA');
    const b = await startFakeBackend('ServiceB');
    pool.defer(() => a.stop());
    pool.defer(() => b.stop());
    const front = options.front ?? (async (backend: FakeBackend) => backend.address);
    const [addressA, addressB] = [await front(a), await front(b)];
    const events: EndpointEvent[] = [];
    const failovers: FailoverEvent[] = [];
    const config: MeshConfigInput = {
      services: {
        orders: {
          endpoints: [
            { name: 'ServiceA', address: addressA, weight: wa },
            { name: 'ServiceB', address: addressB, weight: wb },
          ],
          healthCheck: { serviceName: SERVICE, probeIntervalMs: 100, probeTimeoutMs: 100, idleProbeIntervalMs: 1000 },
          balancer: {
            ejection: { consecutiveFailures: 3, baseEjectionMs: 200, maxEjectionMs: 2000 },
            slowStart: { windowMs: 200 },
          },
          client: {
            retry: {
              maxAttempts: 3,
              perAttemptTimeoutMs: 150,
              backoff: { baseMs: 1, capMs: 5 },
              methods: { [`${SERVICE}/GetOrder`]: { idempotent: true } },
            },
            breaker: { volumeThreshold: 1000 },
          },
          ...options.service,
        },
      },
    };
    const { mesh, client } = meshClient(pool, { config, ...options.mesh }, { ...(options.stack && { stack: options.stack }) });
    mesh.events.onEndpoint((event) => events.push(event));
    mesh.events.onFailover((event) => failovers.push(event));
    await connectAndWait(mesh, client, ['ServiceA', 'ServiceB']);
    return { a, b, mesh, client, events, failovers, config };
  }

  /** A new backend ServiceC behind a frozen proxy: its connection opens, its handshake waits, so it stays "starting" until thawed. */
  async function frozenServiceC(): Promise<FreezableProxy> {
    const c = await startFakeBackend('ServiceC');
    pool.defer(() => c.stop());
    const proxy = await new FreezableProxy(c.port).listen();
    pool.defer(() => proxy.close());
    proxy.freeze();
    return proxy;
  }

  /** The setup's config with its endpoints replaced. */
  const withEndpoints = (
    config: MeshConfigInput,
    endpoints: Array<{ name: string; address: string; weight?: number }>,
  ): MeshConfigInput => ({
    services: { orders: { ...config.services['orders']!, endpoints } },
  });

  const kinds = (events: EndpointEvent[], name: string) => events.filter((e) => e.endpoint === name).map((e) => e.kind);

  it('spreads calls by weight, exactly 80/20, with its own policy in charge', async () => {
    const { client, mesh } = await setup();
    expect(await split(client, 500)).to.deep.equal({ ServiceA: 400, ServiceB: 100 });
    const [snapshot] = mesh.snapshot('orders');
    expect(snapshot!.state).to.equal('READY');
    expect(snapshot!.endpoints.map((e) => [e.name, e.weight, e.priority, e.health, e.ejection, e.connectivity])).to.deep.equal([
      ['ServiceA', 80, 0, 'serving', 'admitted', 'READY'],
      ['ServiceB', 20, 0, 'serving', 'admitted', 'READY'],
    ]);
    expect(snapshot!.endpoints.map((e) => [e.name, e.picks])).to.deep.equal([
      ['ServiceA', 400],
      ['ServiceB', 100],
    ]);
  });

  it('moves all traffic to B when A turns NOT_SERVING, without a failed call, and back to 80/20 when it heals', async () => {
    const { a, client, mesh, events } = await setup();
    const loop = callLoop(client);
    pool.defer(() => loop.stop());
    a.health.set(SERVICE, 'NOT_SERVING');
    await until(mesh, (e) => !e['ServiceA']!.usable);
    const during = await loop.stop();
    expect(during.errors).to.deep.equal([]);
    expect(await split(client, 50)).to.deep.equal({ ServiceB: 50 });

    a.health.set(SERVICE, 'SERVING');
    await until(mesh, allUsable('ServiceA', 'ServiceB'));
    const after = await split(client, 500);
    expect(after['ServiceA']).to.be.closeTo(400, 2);
    expect(kinds(events, 'ServiceA')).to.include.members(['unhealthy', 'healthy']);
  });

  it('keeps answering when A is killed, and takes A back when it restarts', async () => {
    const { a, client, mesh, events } = await setup();
    const loop = callLoop(client);
    pool.defer(() => loop.stop());
    await until(mesh, (e) => e['ServiceA']!.picks > 20);
    a.stop();
    await until(mesh, (e) => !e['ServiceA']!.usable);
    const during = await loop.stop();
    expect(during.errors).to.deep.equal([]);
    expect(await split(client, 30)).to.deep.equal({ ServiceB: 30 });
    // The operator reads what happened, not grpc-js's state name alone ("connection IDLE").
    const lost = events.find((e) => e.endpoint === 'ServiceA' && e.kind === 'disconnected');
    expect(lost?.reason).to.equal('connection closed (grpc-js subchannel IDLE)');

    const recovery = callLoop(client, { concurrency: 2 });
    pool.defer(() => recovery.stop());
    const restarted = await startFakeBackend('ServiceA', { port: a.port });
    pool.defer(() => restarted.stop());
    await until(mesh, allUsable('ServiceA', 'ServiceB'), { timeoutMs: 15_000 });
    expect((await recovery.stop()).errors).to.deep.equal([]);
    expect((await split(client, 100))['ServiceA']).to.be.closeTo(80, 2);
  });

  it('keeps the old endpoints serving when a reload replaces every one, until a new one is usable (make before break)', async () => {
    const { client, mesh, events, failovers, config } = await setup();
    const proxy = await frozenServiceC();
    mesh.update(withEndpoints(config, [{ name: 'ServiceC', address: proxy.address }]));

    // Without the bridge every call would wait for ServiceC (and fail at its deadline).
    const during = await split(client, 50);
    expect(Object.keys(during).sort()).to.deep.equal(['ServiceA', 'ServiceB']);
    const statuses = Object.fromEntries(mesh.snapshot('orders')[0]!.endpoints.map((e) => [e.name, e.status]));
    expect(statuses).to.deep.include({ ServiceA: 'leaving', ServiceB: 'leaving' });
    expect(statuses['ServiceC']).to.be.oneOf(['disconnected', 'starting']);

    proxy.thaw();
    await until(mesh, (e) => e['ServiceC']?.usable === true && !e['ServiceA'] && !e['ServiceB']);
    expect(await split(client, 10)).to.deep.equal({ ServiceC: 10 });
    const removed = events.filter((e) => e.kind === 'removed').map((e) => [e.endpoint, e.reason]);
    expect(removed).to.have.deep.members([
      [
        'ServiceA',
        'no longer in the config or its discovery source; it had kept serving until the endpoints that replace it took all the traffic',
      ],
      [
        'ServiceB',
        'no longer in the config or its discovery source; it had kept serving until the endpoints that replace it took all the traffic',
      ],
    ]);
    // Traffic never had nowhere to go.
    expect(failovers).to.deep.equal([]);
  });

  it('lets the removed endpoints go when their grace is over and the new ones never came up: calls fail UNAVAILABLE naming them, and a warning says why', async () => {
    // The grace runs on the mesh's clock; the client's own timers stay out of the way (no
    // deadline, no retry backoff on a clock that only the test moves).
    const clock = manualClock(Date.now());
    const { logger, lines } = memoryLogger('info');
    const { client, mesh, config } = await setup({ mesh: { clock, logger }, stack: { deadline: false, retry: false } });
    // A port nothing listens on: the connection is refused at once.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    mesh.update(withEndpoints(config, [{ name: 'ServiceC', address: `127.0.0.1:${port}` }]));
    await until(mesh, (e) => e['ServiceC']?.status === 'disconnected');
    expect(Object.keys(await split(client, 10)).sort()).to.deep.equal(['ServiceA', 'ServiceB']);

    clock.tick(9_999);
    expect(Object.keys(await split(client, 10)).sort()).to.deep.equal(['ServiceA', 'ServiceB']);
    clock.tick(1);
    await until(mesh, (e) => !e['ServiceA'] && !e['ServiceB']);
    const error = await expectGrpcError(callUnary(client.GetOrder, client, { id: 'x' }));
    expect(error.code).to.equal(grpc.status.UNAVAILABLE);
    expect(error.details).to.contain('ServiceC');
    const warning = lines.find((line) => String(line.msg).startsWith('removed endpoints stopped serving'));
    expect(warning?.['notUsable']).to.deep.equal([`ServiceC (127.0.0.1:${port}): disconnected`]);
  });

  it('shares the traffic between the endpoints that stay and the removed ones while the new ones come up, Envoy-tier style', async () => {
    const { client, mesh, config } = await setup({ weights: [50, 50] });
    const proxy = await frozenServiceC();
    // ServiceA leaves for ServiceC; ServiceB stays. Half the tier is usable: 50 % × 1.4 = 70 %
    // of the traffic stays with it, the removed ServiceA takes the other 30 % until C is up.
    const b = config.services['orders']!.endpoints![1]!;
    mesh.update(withEndpoints(config, [b, { name: 'ServiceC', address: proxy.address, weight: 50 }]));
    expect(await split(client, 100)).to.deep.equal({ ServiceA: 30, ServiceB: 70 });
    expect(mesh.snapshot('orders')[0]!.tiers).to.deep.equal([{ priority: 0, load: 70, panic: false }]);
    proxy.thaw();
    await until(mesh, (e) => e['ServiceC']?.usable === true && !e['ServiceA']);
    expect(await split(client, 20)).to.deep.equal({ ServiceB: 10, ServiceC: 10 });
  });

  it('ejects a removed endpoint that fails while it still serves', async () => {
    const { a, client, mesh, config } = await setup();
    const proxy = await frozenServiceC();
    mesh.update(withEndpoints(config, [{ name: 'ServiceC', address: proxy.address }]));
    a.behaviour.status = grpc.status.UNAVAILABLE;
    const loop = callLoop(client);
    pool.defer(() => loop.stop());
    // Ejected, it stops being usable and goes; ServiceB serves the rest of the grace.
    await until(mesh, (e) => !e['ServiceA']);
    expect((await loop.stop()).errors).to.deep.equal([]);
    expect(await split(client, 10)).to.deep.equal({ ServiceB: 10 });
  });

  it('removes endpoints at once when a usable one stays', async () => {
    const { client, mesh, events, config } = await setup();
    mesh.update(withEndpoints(config, [{ name: 'ServiceB', address: config.services['orders']!.endpoints![1]!.address }]));
    await until(mesh, (e) => !e['ServiceA']);
    expect(events.find((e) => e.endpoint === 'ServiceA' && e.kind === 'removed')?.reason).to.equal(
      'no longer in the config or its discovery source',
    );
    expect(await split(client, 10)).to.deep.equal({ ServiceB: 10 });
  });

  it('applies a reload of the health check settings to the endpoints it has, the old ones serving until the new ones are checked', async () => {
    const { client, mesh, config } = await setup();
    const orders = config.services['orders']!;
    const statuses = () =>
      mesh
        .snapshot('orders')[0]!
        .endpoints.map((e) => `${e.name} ${e.status} ${e.healthDetail}`)
        .sort();
    // A typo in the health service's name: the backends answer SERVICE_UNKNOWN to the new checks.
    mesh.update({ services: { orders: { ...orders, healthCheck: { ...orders.healthCheck, serviceName: 'orders.v1.Typo' } } } });
    await until(mesh, () => statuses().filter((s) => s.includes('SERVICE_UNKNOWN')).length === 2);
    expect(statuses()).to.deep.equal([
      'ServiceA leaving Watch: SERVING',
      'ServiceA not-serving Watch: SERVICE_UNKNOWN: the server has no health status for "orders.v1.Typo" (healthCheck.serviceName)',
      'ServiceB leaving Watch: SERVING',
      'ServiceB not-serving Watch: SERVICE_UNKNOWN: the server has no health status for "orders.v1.Typo" (healthCheck.serviceName)',
    ]);
    expect(Object.keys(await split(client, 10)).sort()).to.deep.equal(['ServiceA', 'ServiceB']);
    // An update without ServiceA, then one with it again: it comes back as a new endpoint, with
    // the settings in force — never the one that left for settings it no longer has.
    const typo = { ...orders, healthCheck: { ...orders.healthCheck, serviceName: 'orders.v1.Typo' } };
    mesh.update({ services: { orders: { ...typo, endpoints: [orders.endpoints![1]!] } } });
    await until(mesh, () => !statuses().some((s) => s.startsWith('ServiceA not-serving')));
    mesh.update({ services: { orders: typo } });
    await until(mesh, () => statuses().filter((s) => s.includes('SERVICE_UNKNOWN')).length === 2);
    expect(statuses().filter((s) => !s.includes('leaving'))).to.deep.equal([
      'ServiceA not-serving Watch: SERVICE_UNKNOWN: the server has no health status for "orders.v1.Typo" (healthCheck.serviceName)',
      'ServiceB not-serving Watch: SERVICE_UNKNOWN: the server has no health status for "orders.v1.Typo" (healthCheck.serviceName)',
    ]);

    // Mended: the checks pass again, and the endpoints that did not leave take over.
    mesh.update(config);
    await until(mesh, () => statuses().join() === 'ServiceA in-rotation Watch: SERVING,ServiceB in-rotation Watch: SERVING');
    expect((await split(client, 100))['ServiceA']).to.be.closeTo(80, 2);
  });

  it('routes around a hung A (connection open, nothing answered) and re-admits it when it resumes', async () => {
    let proxy!: FreezableProxy;
    const { client, mesh, events } = await setup({
      front: async (backend) => {
        if (backend.name !== 'ServiceA') return backend.address;
        proxy = await new FreezableProxy(backend.port).listen();
        pool.defer(() => proxy.close());
        return proxy.address;
      },
    });
    const loop = callLoop(client);
    pool.defer(() => loop.stop());
    await until(mesh, (e) => e['ServiceA']!.picks > 20);
    proxy.freeze();
    await until(mesh, (e) => !e['ServiceA']!.usable);
    const during = await loop.stop();
    expect(during.errors).to.deep.equal([]);
    expect(await split(client, 30)).to.deep.equal({ ServiceB: 30 });
    expect(kinds(events, 'ServiceA').some((k) => k === 'ejected' || k === 'unhealthy')).to.equal(true);

    // Re-admission takes one real call as a probe, so keep traffic flowing while A recovers.
    const recovery = callLoop(client, { concurrency: 2 });
    pool.defer(() => recovery.stop());
    proxy.thaw();
    await until(mesh, allUsable('ServiceA', 'ServiceB'));
    expect((await recovery.stop()).errors).to.deep.equal([]);
    expect((await split(client, 100))['ServiceA']).to.be.closeTo(80, 2);
  });

  it('ignores a backend that accepts connections but never speaks HTTP/2', async () => {
    const accepted = new Set<Socket>();
    const silent = createServer((socket) => accepted.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    pool.defer(() => {
      for (const socket of accepted) socket.destroy();
      silent.close();
    });
    const port = (silent.address() as { port: number }).port;
    const b = await startFakeBackend('ServiceB');
    pool.defer(() => b.stop());
    const { mesh, client } = meshClient(pool, {
      config: {
        services: {
          orders: {
            endpoints: [
              { name: 'Silent', address: `127.0.0.1:${port}`, weight: 80 },
              { name: 'ServiceB', address: b.address, weight: 20 },
            ],
            healthCheck: { serviceName: SERVICE },
          },
        },
      },
    });
    expect(await split(client, 10)).to.deep.equal({ ServiceB: 10 });
    expect(mesh.snapshot('orders')[0]!.endpoints[0]).to.include({ name: 'Silent', usable: false, connectivity: 'CONNECTING' });
  });

  it('ejects a failing A, probes it with one call, and re-admits it through slow start', async () => {
    const { a, client, mesh, events } = await setup();
    // Events come after the picker was rebuilt, so a snapshot taken in the listener is current.
    const weightAtReadmission: number[] = [];
    mesh.events.onEndpoint((event) => {
      if (event.endpoint === 'ServiceA' && event.kind === 'readmitted') {
        weightAtReadmission.push(mesh.snapshot('orders')[0]!.endpoints[0]!.effectiveWeight);
      }
    });
    a.behaviour = { status: grpc.status.UNAVAILABLE };
    const loop = callLoop(client, { concurrency: 2 });
    pool.defer(() => loop.stop());
    await until(mesh, () => kinds(events, 'ServiceA').filter((k) => k === 'ejected').length >= 2);
    a.behaviour = {};
    await until(mesh, () => kinds(events, 'ServiceA').includes('readmitted'));
    await until(mesh, allUsable('ServiceA', 'ServiceB'));
    const during = await loop.stop();
    expect(during.errors).to.deep.equal([]);
    const sequence = kinds(events, 'ServiceA').filter((k) => ['ejected', 'probing', 'readmitted'].includes(k));
    expect(sequence.slice(0, 4)).to.deep.equal(['ejected', 'probing', 'ejected', 'probing']);
    expect(sequence.at(-1)).to.equal('readmitted');
    const ejections = events.filter((e) => e.endpoint === 'ServiceA' && e.kind === 'ejected').map((e) => e.reason);
    expect(ejections[0]).to.match(/^3 consecutive failures \(last: UNAVAILABLE\); out for 200 ms$/);
    expect(ejections[1]).to.match(/^probe call failed with UNAVAILABLE; out for 400 ms$/);
    // Slow start: back at 10 % of its weight (the minimum), then ramped to the full 80.
    expect(weightAtReadmission).to.deep.equal([8]);
  });

  it('reads a backend that died while ejected as disconnected, not as probing', async () => {
    const { a, client, mesh } = await setup();
    a.behaviour = { status: grpc.status.UNAVAILABLE };
    const loop = callLoop(client, { concurrency: 2 });
    pool.defer(() => loop.stop());
    await until(mesh, (e) => e['ServiceA']!.ejection === 'ejected');
    await loop.stop();
    a.stop();
    // Its ejection runs out while it is down: nothing can probe it, it is simply not there.
    await until(mesh, (e) => e['ServiceA']!.ejection === 'probing' && e['ServiceA']!.connectivity !== 'READY');
    expect(mesh.snapshot('orders')[0]!.endpoints.find((e) => e.name === 'ServiceA')).to.include({
      status: 'disconnected',
      ejection: 'probing',
    });
  });

  it('notices a hung A without any traffic, through the health probe timeout', async () => {
    let proxy!: FreezableProxy;
    const { mesh, events } = await setup({
      front: async (backend) => {
        if (backend.name !== 'ServiceA') return backend.address;
        proxy = await new FreezableProxy(backend.port).listen();
        pool.defer(() => proxy.close());
        return proxy.address;
      },
    });
    proxy.freeze();
    await until(mesh, (e) => !e['ServiceA']!.usable);
    expect(mesh.snapshot('orders')[0]!.endpoints[0]).to.include({
      health: 'failed',
      healthDetail: 'health probe got no answer within 100 ms',
      healthFailures: 1, // meshlite.endpoint.health_failures
    });
    expect(kinds(events, 'ServiceA').at(-1)).to.equal('unhealthy');
    proxy.thaw();
    await until(mesh, allUsable('ServiceA', 'ServiceB'));
  });

  it('sends a hedge away from the endpoint its sibling is still waiting on', async () => {
    const { a, client } = await setup({
      weights: [99, 1],
      service: {
        balancer: { ejection: { enabled: false } },
        client: {
          retry: { maxAttempts: 2, methods: { [`${SERVICE}/GetOrder`]: { idempotent: true, hedging: { delayMs: 20 } } } },
        },
      },
    });
    a.behaviour = { hang: true };
    // One Metadata for every call, as callers share one: each attempt's hint rides in grpc-js's
    // own copy of it (made as the attempt starts), never in the caller's object.
    const shared = md({ 'x-user': 'u' });
    const options = shared.getOptions();
    const served: string[] = [];
    for (let i = 0; i < 10; i++) {
      served.push((await callUnary(client.GetOrder, client, { id: 'x' }, shared, { deadline: Date.now() + 5000 })).served_by);
    }
    // grpc-js cannot name a call's endpoint before it answers; the picker tells the hedge instead.
    expect(tally(served)).to.deep.equal({ ServiceB: 10 });
    expect(shared.getOptions()).to.equal(options);
    expect(Object.getOwnPropertySymbols(options)).to.deep.equal([]);
    expect(shared.toJSON()).to.deep.equal({ 'x-user': ['u'] });
  });

  it('sends a retry to the other backend (the avoid-hint), even when weights favour the failing one', async () => {
    const { a, b, client } = await setup({
      weights: [99, 1],
      service: { balancer: { ejection: { enabled: false } } },
    });
    a.behaviour = { status: grpc.status.UNAVAILABLE };
    const before = { a: a.calls.length, b: b.calls.length };
    expect(await split(client, 40)).to.deep.equal({ ServiceB: 40 });
    // One failed attempt at A and one retry at B per call: the retry never went back to A.
    expect(a.calls.length - before.a).to.be.at.most(40);
    expect(b.calls.length - before.b).to.equal(40);
  });

  it('closes an open breaker as soon as an endpoint is healthy again, without waiting for its reset timer', async () => {
    const { a, mesh, client } = await setup({
      service: {
        client: { breaker: { volumeThreshold: 5, resetTimeoutMs: 600_000 } },
      },
    });
    const failing = md({ 'x-test-status': String(grpc.status.UNAVAILABLE) });
    for (let i = 0; i < 6; i++) await expectGrpcError(callUnary(client.GetOrder, client, { id: 'x' }, failing));
    expect(client.stack.breaker!.state(`${SERVICE}/GetOrder`)).to.equal('open');
    const refused = await expectGrpcError(callUnary(client.GetOrder, client, { id: 'x' }));
    expect(refused.details).to.match(/circuit breaker open/);
    // A program tells the refusal from a backend's UNAVAILABLE without reading the details.
    expect(meshCallInfo(refused)).to.deep.include({ attempts: 0, stoppedBecause: 'circuit breaker open' });

    // ServiceA goes away and comes back, as a restarted backend would: the breaker closes
    // on the balancer's word, ten minutes before its own timer would have let a probe through.
    a.health.set(SERVICE, 'NOT_SERVING');
    await until(mesh, (endpoints) => endpoints['ServiceA']!.health === 'not-serving');
    a.health.set(SERVICE, 'SERVING');
    await until(mesh, () => client.stack.breaker!.state(`${SERVICE}/GetOrder`) === 'closed');
    expect((await callUnary(client.GetOrder, client, { id: 'x' })).served_by).to.be.oneOf(['ServiceA', 'ServiceB']);
  });
});
