// Routes, subsets and zones as the balancer serves them, through plain grpc-js clients of a
// mesh:/// target (no client stack: the picker routes by method, header and split on its own).
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createMesh, type MeshConfigInput, type MeshOptions, type RoutingEvent } from 'grpc-meshlite';
import { OrderClient, callUnary } from '../../examples/orders.js';
import { md } from '../helpers/clients.js';
import { manualClock } from '../helpers/clock.js';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { memoryLogger } from '../helpers/logs.js';
import { allUsable, callLoop, connectAndWait, tally, until } from '../helpers/mesh.js';
import { expectGrpcError, useTestPool } from '../helpers/servers.js';

const SERVICE = 'orders.v1.OrderService';
type Services = MeshConfigInput['services'];

describe('mesh routing: routes, subsets and zones in the balancer', function () {
  this.timeout(20_000);
  const pool = useTestPool();

  async function backends(...names: string[]) {
    const started = await Promise.all(names.map((name) => startFakeBackend(name)));
    for (const backend of started) pool.defer(() => backend.stop());
    return Object.fromEntries(started.map((backend) => [backend.name, backend]));
  }

  /** A mesh and a plain grpc-js client of mesh:///orders (no client stack), connected and ready. */
  async function plainClient(services: Services, ready: string[], options: Partial<MeshOptions> = {}) {
    const mesh = createMesh({ random: () => 0, config: { services }, ...options });
    pool.defer(() => mesh.close());
    const client = pool.track(new OrderClient(mesh.target('orders'), grpc.credentials.createInsecure(), mesh.channelOptions()));
    await connectAndWait(mesh, client, ready);
    return { mesh, client };
  }

  /** `calls` GetOrder calls one after another with `headers`: how many each backend served. */
  async function served(client: OrderClient, calls: number, headers: Record<string, string> = {}) {
    const names: string[] = [];
    for (let i = 0; i < calls; i++) names.push((await callUnary(client.GetOrder, client, { id: 'x' }, md(headers))).served_by);
    return tally(names);
  }

  const subsets = { v1: { version: 'v1' }, v2: { version: 'v2' } };
  const canary = (fallback: 'any' | 'none') => ({
    name: 'canary',
    match: { headers: [{ name: 'x-canary', exact: '1' }] },
    destinations: [{ subset: 'v2' }],
    fallback,
  });

  function versions(b: Record<string, { address: string }>, extra: Partial<Services[string]> = {}): Services {
    return {
      orders: {
        endpoints: [
          { name: 'ServiceA', address: b['ServiceA']!.address, labels: { version: 'v1' } },
          { name: 'ServiceB', address: b['ServiceB']!.address, labels: { version: 'v2' } },
        ],
        healthCheck: { serviceName: SERVICE },
        balancer: { slowStart: { windowMs: 0 } },
        subsets,
        ...extra,
      },
    };
  }

  it('sends every call with the header to v2 and every CreateOrder to v2, the rest to the whole service', async () => {
    const b = await backends('ServiceA', 'ServiceB');
    const { client } = await plainClient(
      versions(b, {
        routes: [
          canary('any'),
          { name: 'writes', match: { method: 'orders.v1.OrderService/CreateOrder' }, destinations: [{ subset: 'v2' }] },
        ],
      }),
      ['ServiceA', 'ServiceB'],
    );
    expect(await served(client, 20, { 'x-canary': '1' })).to.deep.equal({ ServiceB: 20 });
    expect(await served(client, 10)).to.deep.equal({ ServiceA: 5, ServiceB: 5 });
    for (let i = 0; i < 5; i++) {
      const created = await callUnary(client.CreateOrder, client, { idempotency_key: `k${i}`, item: 'book', quantity: 1 });
      expect(created.served_by).to.equal('ServiceB');
    }
  });

  it('splits 90/10 exactly over 100 calls, and the snapshot shows the configured and actual shares', async () => {
    const b = await backends('ServiceA', 'ServiceB');
    const split = {
      name: 'split',
      destinations: [
        { subset: 'v1', weight: 90 },
        { subset: 'v2', weight: 10 },
      ],
    };
    const { mesh, client } = await plainClient(versions(b, { routes: [split] }), ['ServiceA', 'ServiceB']);
    expect(await served(client, 100)).to.deep.equal({ ServiceA: 90, ServiceB: 10 });
    const snapshot = mesh.snapshot('orders')[0]!;
    expect(snapshot.routes).to.deep.equal([
      {
        name: 'split',
        fallback: 'any',
        picks: 100,
        destinations: [
          { subset: 'v1', weight: 90, configuredShare: 90, actualShare: 90, fallbacks: 0 },
          { subset: 'v2', weight: 10, configuredShare: 10, actualShare: 10, fallbacks: 0 },
        ],
      },
    ]);
    expect(snapshot.subsets.map(({ name, endpoints, state }) => ({ name, endpoints, state }))).to.deep.equal([
      { name: 'v1', endpoints: ['ServiceA'], state: 'serving' },
      { name: 'v2', endpoints: ['ServiceB'], state: 'serving' },
    ]);
  });

  it('fallback "any": the whole service serves while v2 has no usable endpoint, said once per episode', async () => {
    const b = await backends('ServiceA', 'ServiceB');
    const { logger, lines } = memoryLogger();
    const services = versions(b, { routes: [canary('any')] });
    const { mesh, client } = await plainClient(services, ['ServiceA', 'ServiceB'], { logger });
    const events: RoutingEvent[] = [];
    mesh.events.onRouting((event) => events.push(event));

    b['ServiceB']!.health.set(SERVICE, 'NOT_SERVING');
    await until(mesh, (e) => !e['ServiceB']!.usable);
    expect(await served(client, 10, { 'x-canary': '1' })).to.deep.equal({ ServiceA: 10 });
    expect(mesh.snapshot('orders')[0]!.routes[0]!.destinations[0]).to.include({ fallbacks: 10 });
    // A reload (a new route table, a rebuild) within the episode: said once only.
    mesh.update({ services });
    await until(mesh, (_, snapshot) => snapshot?.routes[0]?.picks === 0);
    expect(await served(client, 5, { 'x-canary': '1' })).to.deep.equal({ ServiceA: 5 });
    expect(events).to.have.length(1);
    expect(events[0]).to.include({ service: 'orders', route: 'canary', subset: 'v2', kind: 'fallback' });
    expect(events[0]!.reason).to.match(
      /^subset "v2" has no usable endpoint \(ServiceB \(127\.0\.0\.1:\d+\) unhealthy: .*\): the whole service/,
    );
    expect(lines.filter((line) => line.msg.startsWith('route fallback'))).to.have.length(1);

    b['ServiceB']!.health.set(SERVICE, 'SERVING');
    await until(mesh, allUsable('ServiceB'));
    expect(events.map((event) => event.kind)).to.deep.equal(['fallback', 'recovered']);
    expect(await served(client, 5, { 'x-canary': '1' })).to.deep.equal({ ServiceB: 5 });
  });

  it('fallback "none": calls for v2 fail UNAVAILABLE naming the route, the subset and why; the others are served', async () => {
    const b = await backends('ServiceA', 'ServiceB');
    const { mesh, client } = await plainClient(versions(b, { routes: [canary('none')] }), ['ServiceA', 'ServiceB']);
    const events: RoutingEvent[] = [];
    mesh.events.onRouting((event) => events.push(event));
    b['ServiceB']!.health.set(SERVICE, 'NOT_SERVING');
    await until(mesh, (e) => !e['ServiceB']!.usable);
    const error = await expectGrpcError(callUnary(client.GetOrder, client, { id: 'x' }, md({ 'x-canary': '1' })));
    expect(error.code).to.equal(grpc.status.UNAVAILABLE);
    expect(error.details).to.match(/^route "canary": subset "v2" has no usable endpoint \(ServiceB \(127\.0\.0\.1:\d+\) unhealthy: /);
    expect(await served(client, 4)).to.deep.equal({ ServiceA: 4 });
    expect(events.map(({ route, subset, kind }) => ({ route, subset, kind }))).to.deep.equal([
      { route: 'canary', subset: 'v2', kind: 'unavailable' },
    ]);
  });

  it('balances each subset on its own: its own priorities, and an ejection in v1 changes nothing in v2', async () => {
    const b = await backends('A1', 'A2', 'B1', 'B2');
    const clock = manualClock(Date.now()); // the ejection lasts until the test moves the clock
    const endpoint = (name: string, version: string, priority = 0) => ({ name, address: b[name]!.address, priority, labels: { version } });
    const { mesh, client } = await plainClient(
      {
        orders: {
          endpoints: [endpoint('A1', 'v1'), endpoint('A2', 'v1'), endpoint('B1', 'v2'), endpoint('B2', 'v2', 1)],
          healthCheck: { serviceName: SERVICE },
          balancer: { slowStart: { windowMs: 0 }, ejection: { consecutiveFailures: 2 } },
          subsets,
          routes: [
            { name: 'to-v2', match: { headers: [{ name: 'x-v', exact: '2' }] }, destinations: [{ subset: 'v2' }] },
            { name: 'to-v1', destinations: [{ subset: 'v1' }] },
          ],
        },
      },
      ['A1', 'A2', 'B1', 'B2'],
      { clock },
    );
    const v2 = { 'x-v': '2' };
    expect(await served(client, 10)).to.deep.equal({ A1: 5, A2: 5 });
    expect(await served(client, 10, v2)).to.deep.equal({ B1: 10 }); // B2 is v2's priority 1

    b['A1']!.behaviour.status = grpc.status.UNAVAILABLE;
    for (let i = 0; i < 4; i++) await callUnary(client.GetOrder, client, { id: 'x' }).catch(() => undefined);
    await until(mesh, (e) => e['A1']!.ejection === 'ejected');
    expect(await served(client, 10)).to.deep.equal({ A2: 10 });
    expect(await served(client, 10, v2)).to.deep.equal({ B1: 10 });

    // v2's own failover to its priority 1, not a fallback to the whole service.
    b['B1']!.health.set(SERVICE, 'NOT_SERVING');
    await until(mesh, (e) => !e['B1']!.usable);
    expect(await served(client, 10, v2)).to.deep.equal({ B2: 10 });
    expect(mesh.snapshot('orders')[0]!.subsets.find((s) => s.name === 'v2')!.tiers).to.deep.equal([
      { priority: 0, load: 0, panic: false },
      { priority: 1, load: 100, panic: false },
    ]);
  });

  it("keeps calls in the client's zone, and overflows by the share it lacks when it loses endpoints", async () => {
    const b = await backends('A1', 'A2', 'C1');
    const endpoint = (name: string, zone: string) => ({ name, address: b[name]!.address, labels: { zone } });
    const { mesh, client } = await plainClient(
      {
        orders: {
          endpoints: [endpoint('A1', 'eu-1a'), endpoint('A2', 'eu-1a'), endpoint('C1', 'eu-1c')],
          healthCheck: { serviceName: SERVICE },
          balancer: { slowStart: { windowMs: 0 } },
        },
      },
      ['A1', 'A2', 'C1'],
      { zone: 'eu-1a' },
    );
    expect(await served(client, 100)).to.deep.equal({ A1: 50, A2: 50 });
    expect(mesh.snapshot('orders')[0]).to.deep.include({
      zone: 'eu-1a',
      tiers: [{ priority: 0, load: 100, panic: false, localZone: 100 }],
    });

    // Half the zone's weight left: min(100, 50 % × 1.4) = 70 % stays, 30 % overflows.
    b['A1']!.health.set(SERVICE, 'NOT_SERVING');
    await until(mesh, (e) => !e['A1']!.usable);
    expect(await served(client, 100)).to.deep.equal({ A2: 70, C1: 30 });
    expect(mesh.snapshot('orders')[0]!.tiers).to.deep.equal([{ priority: 0, load: 100, panic: false, localZone: 70 }]);

    b['A2']!.health.set(SERVICE, 'NOT_SERVING');
    await until(mesh, (e) => !e['A2']!.usable);
    expect(await served(client, 10)).to.deep.equal({ C1: 10 });

    b['A1']!.health.set(SERVICE, 'SERVING');
    b['A2']!.health.set(SERVICE, 'SERVING');
    await until(mesh, allUsable('A1', 'A2'));
    expect(await served(client, 10)).to.deep.equal({ A1: 5, A2: 5 });
  });

  it('warns once about a subset that selects no endpoint, and again only after it selected one', async () => {
    const b = await backends('ServiceA', 'ServiceB');
    const { logger, lines } = memoryLogger();
    const config = (labelB: string): Services => ({
      orders: {
        endpoints: [
          { name: 'ServiceA', address: b['ServiceA']!.address, labels: { version: 'v1' } },
          { name: 'ServiceB', address: b['ServiceB']!.address, labels: { version: labelB } },
        ],
        balancer: { slowStart: { windowMs: 0 } },
        subsets: { v1: { version: 'v1' }, v3: { version: 'v3' } },
        routes: [{ name: 'next', match: { headers: [{ name: 'x-next', present: true }] }, destinations: [{ subset: 'v3' }] }],
      },
    });
    const { mesh, client } = await plainClient(config('v2'), ['ServiceA', 'ServiceB'], { logger });
    const warnings = () => lines.filter((line) => line.msg.startsWith('subset "v3" selects no endpoint'));
    expect(warnings()).to.have.length(1);
    expect(warnings()[0]).to.include({ service: 'orders', subset: 'v3' });
    expect(await served(client, 4, { 'x-next': 'yes' })).to.deep.equal({ ServiceA: 2, ServiceB: 2 }); // fallback "any"

    mesh.update({ services: config('v2') }); // the same again (a new route table): no second warning
    await until(mesh, (_, snapshot) => snapshot?.routes[0]?.picks === 0);
    mesh.update({ services: config('v3') });
    await until(mesh, (_, snapshot) => snapshot?.subsets.find((s) => s.name === 'v3')?.state === 'serving');
    expect(await served(client, 4, { 'x-next': 'yes' })).to.deep.equal({ ServiceB: 4 });
    mesh.update({ services: config('v2') });
    await until(mesh, (_, snapshot) => snapshot?.subsets.find((s) => s.name === 'v3')?.state === 'unusable');
    expect(warnings()).to.have.length(2);
  });

  it('moves a canary 0 → 5 → 50 → 100 % by reload under load: no call lost, each step exact', async () => {
    const b = await backends('ServiceA', 'ServiceB');
    const step = (toV2: number): Services =>
      versions(b, {
        routes: [
          {
            name: 'split',
            destinations: [
              { subset: 'v1', weight: 100 - toV2 },
              { subset: 'v2', weight: toV2 },
            ].filter((d) => d.weight > 0),
          },
        ],
      });
    const mesh = createMesh({ random: () => 0, config: { services: step(0) } });
    pool.defer(() => mesh.close());
    const client = pool.track(mesh.client(OrderClient, 'orders'));
    await connectAndWait(mesh, client, ['ServiceA', 'ServiceB']);
    // Four callers all along, through every reload.
    const loop = callLoop(client, { concurrency: 4 });
    pool.defer(() => loop.stop());
    const shares: Array<number | undefined> = [];
    for (const toV2 of [5, 50, 100]) {
      mesh.update({ services: step(toV2) });
      const v2 = () => mesh.snapshot('orders')[0]!.routes[0]!.destinations.find((d) => d.subset === 'v2');
      const picks = () => mesh.snapshot('orders')[0]!.routes[0]!.picks;
      // The balancer has the step (the resolver hands it over on a later tick), and its route's
      // last 1,000 picks came after the first 100 under it (a reload starts them afresh): attempts in
      // flight through the reload are out of the window.
      await until(mesh, () => v2()?.configuredShare === toV2 && picks() >= 1100, { timeoutMs: 15_000 });
      shares.push(v2()?.actualShare);
    }
    const { errors } = await loop.stop();
    expect(errors).to.deep.equal([]);
    expect(shares).to.deep.equal([5, 50, 100]);
  });

  it('shows no routes, subsets or zone for a service without them', async () => {
    const b = await backends('ServiceA', 'ServiceB');
    const { mesh } = await plainClient(
      {
        orders: {
          endpoints: [
            { name: 'ServiceA', address: b['ServiceA']!.address },
            { name: 'ServiceB', address: b['ServiceB']!.address },
          ],
        },
      },
      ['ServiceA', 'ServiceB'],
    );
    expect(mesh.snapshot('orders')[0]).to.deep.include({ zone: undefined, subsets: [], routes: [] });
  });
});
