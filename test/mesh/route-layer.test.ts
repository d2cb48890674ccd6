// The client side of traffic management (issue 27): a call takes its route once (the route
// layer), the route's timeout and retry reach the layers below, each attempt goes to the
// route's split and meets its fault (A33), and a share of the calls is mirrored without the
// caller noticing. Layers over a `next` the test answers, on a hand-advanced clock; then
// through a mesh against fake backends.
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createClientStack, parseMeshConfig, type ClientStackOptions, type MeshConfigInput } from 'grpc-meshlite';
import { clientLayers, composeLayers, type ClientCall, type ClientLayer, type ClientNext, type ClientResult } from 'grpc-meshlite/layers';
import { RouteTable } from '../../src/balancer/routes.js';
import { takeRoutingHint } from '../../src/call/routing-hint.js';
import { MAX_MIRRORS_IN_FLIGHT } from '../../src/interceptors/route/mirror.js';
import type { RouteMatcher } from '../../src/interceptors/types.js';
import { OrderClient, callUnary, type Order } from '../../examples/orders.js';
import { getOrder, md, orderClient, seededRandom } from '../helpers/clients.js';
import { manualClock } from '../helpers/clock.js';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { meshClient } from '../helpers/mesh.js';
import { clientCall, response } from '../helpers/requests.js';
import { expectGrpcError, useTestPool } from '../helpers/servers.js';
import { readAll } from '../helpers/streams.js';
import { until } from '../helpers/until.js';

type Service = MeshConfigInput['services'][string];
type Routes = NonNullable<Service['routes']>;

const GET = '/orders.v1.OrderService/GetOrder';
const CREATE = '/orders.v1.OrderService/CreateOrder';
const subsets = { v1: { version: 'v1' }, v2: { version: 'v2' } };
const endpoints = [
  { name: 'A', address: '127.0.0.1:1', labels: { version: 'v1' } },
  { name: 'B', address: '127.0.0.1:2', labels: { version: 'v2' } },
];

/** The routes as the mesh compiles them from a config. */
function routesOf(routes: Routes): RouteMatcher {
  return RouteTable.of(parseMeshConfig({ services: { orders: { endpoints, subsets, routes } } }).services['orders']!)!;
}

interface SentAttempt {
  readonly call: ClientCall;
  /** The subset the attempt's hint sent it to, read as it was sent. */
  readonly subset: string | undefined;
  answer(result: ClientResult): void;
}

/** A `next` that holds every attempt until the test answers it (or answers at once with `auto`). */
function heldNext(auto?: grpc.status) {
  const sent: SentAttempt[] = [];
  const next: ClientNext = (call) =>
    new Promise<ClientResult>((resolve) => {
      sent.push({ call, subset: call.hint?.destination()?.subset, answer: resolve });
      if (auto !== undefined) resolve(response(auto));
      call.signal.addEventListener('abort', () => resolve(response(grpc.status.CANCELLED)));
    });
  return { next, sent };
}

/** A transport for the mirrors: it holds (hangs) or answers each copy, and records where it went. */
function mirrorTransport(answer?: grpc.status) {
  const copies: Array<{ call: ClientCall; route: string | undefined; subset: string | undefined; fallback: string | undefined }> = [];
  const pending: Array<(result: ClientResult) => void> = [];
  const transport: ClientNext = (call) => {
    const destination = call.hint?.destination();
    copies.push({ call, route: destination?.route, subset: destination?.subset, fallback: destination?.fallback });
    return new Promise((resolve) => (answer === undefined ? pending.push(resolve) : resolve(response(answer))));
  };
  return { transport, copies, pending };
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function stackWith(routes: Routes, options: ClientStackOptions = {}) {
  const clock = manualClock();
  const table = routesOf(routes);
  const stack = createClientStack({
    clock,
    logging: false,
    metrics: false,
    breaker: false,
    routes: () => table,
    ...options,
    retry: options.retry === false ? false : { routingHints: true, budget: false, random: () => 0, ...options.retry },
  });
  return { clock, stack };
}

describe('routes on the client: the route and destination layers', () => {
  it("gives a route's calls its timeout in place of the client's; a caller's shorter deadline still wins", async () => {
    const { clock, stack } = stackWith(
      [{ name: 'slow-writes', match: { method: 'orders.v1.OrderService/CreateOrder' }, timeoutMs: 5000 }],
      {
        deadline: { timeoutMs: 1000 },
      },
    );
    const { next, sent } = heldNext(grpc.status.OK);
    const layer = stack.layer(next);
    const now = clock.now();
    await layer(clientCall(GET));
    await layer(clientCall(CREATE));
    await layer(clientCall(CREATE, { deadline: now + 2000 }));
    expect(sent.map((attempt) => attempt.call.deadline - now)).to.deep.equal([1000, 5000, 2000]);
    expect(sent.map((attempt) => attempt.call.route?.route.name)).to.deep.equal([undefined, 'slow-writes', 'slow-writes']);
  });

  it("merges a route's retry over the method's policy, for the calls that take it only", async () => {
    const { stack } = stackWith(
      [{ name: 'retried', match: { headers: [{ name: 'x-retry', exact: 'yes' }] }, retry: { maxAttempts: 3, idempotent: true } }],
      { retry: { maxAttempts: 1, retryableCodes: ['UNAVAILABLE'] } },
    );
    const answers = (codes: grpc.status[]) => {
      let n = 0;
      const next: ClientNext = async () => response(codes[Math.min(n++, codes.length - 1)]!);
      return Object.assign(next, { count: () => n });
    };
    const plain = answers([grpc.status.UNAVAILABLE, grpc.status.OK]);
    expect((await stack.layer(plain)(clientCall(GET))).status.code).to.equal(grpc.status.UNAVAILABLE);
    expect(plain.count()).to.equal(1);
    const routed = answers([grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE, grpc.status.OK]);
    const result = await stack.layer(routed)(clientCall(GET, { metadata: md({ 'x-retry': 'yes' }) }));
    expect(result.status.code).to.equal(grpc.status.OK);
    expect(routed.count()).to.equal(3);
  });

  it("sends each attempt to its route's split through the attempt's hint, and leaves unrouted calls without one", async () => {
    const { stack } = stackWith([
      {
        name: 'canary',
        match: { method: 'orders.v1.OrderService/GetOrder' },
        destinations: [
          { subset: 'v1', weight: 3 },
          { subset: 'v2', weight: 1 },
        ],
        fallback: 'none',
      },
    ]);
    const { next, sent } = heldNext(grpc.status.OK);
    for (let i = 0; i < 8; i++) await stack.layer(next)(clientCall(GET));
    await stack.layer(next)(clientCall(CREATE));
    const subsetsSent = sent.slice(0, 8).map((attempt) => attempt.subset);
    expect(subsetsSent.filter((subset) => subset === 'v2')).to.have.length(2);
    expect(subsetsSent.filter((subset) => subset === 'v1')).to.have.length(6);
    expect(sent[0]!.call.hint!.destination()).to.equal(undefined); // released once the attempt ended
    expect(sent[8]!.call.hint).to.equal(undefined);
  });

  describe("a route's fault (A33, per attempt)", () => {
    const delayed = (ms: number): Routes => [{ name: 'slow', fault: { delay: { ms, percent: 100 } } }];

    it('holds an attempt for the delay, then sends it', async () => {
      const { clock, stack } = stackWith(delayed(500));
      const { next, sent } = heldNext(grpc.status.OK);
      const answer = stack.layer(next)(clientCall(GET));
      clock.tick(499);
      await flush();
      expect(sent).to.have.length(0);
      clock.tick(1);
      await flush();
      expect(sent).to.have.length(1);
      expect((await answer).status.code).to.equal(grpc.status.OK);
      expect(clock.pending()).to.equal(0);
    });

    it('ends a delayed attempt DEADLINE_EXCEEDED at its deadline when that comes first, never sent', async () => {
      const { clock, stack } = stackWith(delayed(500));
      const { next, sent } = heldNext(grpc.status.OK);
      let settled = false;
      const answer = stack
        .layer(next)(clientCall(GET, { deadline: clock.now() + 200 }))
        .finally(() => (settled = true));
      clock.tick(199);
      await flush();
      expect(settled).to.equal(false);
      clock.tick(1);
      const result = await answer;
      expect(result.status.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
      expect(result.status.details).to.contain('deadline exceeded during the 500 ms delay injected by route "slow"');
      expect(result.attempts.map((attempt) => attempt.mayHaveReachedServer)).to.deep.equal([false]);
      expect(sent).to.have.length(0);
      expect(clock.pending()).to.equal(0);
    });

    it('ends a delayed attempt at once when the caller cancels, and leaves no timer behind', async () => {
      const { clock, stack } = stackWith(delayed(500));
      const { next, sent } = heldNext(grpc.status.OK);
      const caller = new AbortController();
      const answer = stack.layer(next)(clientCall(GET, { signal: caller.signal }));
      clock.tick(100);
      caller.abort({ code: grpc.status.CANCELLED, details: 'caller went away' });
      const result = await answer;
      expect(result.status).to.include({ code: grpc.status.CANCELLED, details: 'caller went away' });
      expect(sent).to.have.length(0);
      expect(clock.pending()).to.equal(0);
    });

    it('aborts exactly the attempts the seeded random picks at 20 %, never sending them', async () => {
      const { stack } = stackWith([{ name: 'flaky', fault: { abort: { code: 'UNAVAILABLE', percent: 20 } } }], {
        random: seededRandom(7),
        retry: { maxAttempts: 1 },
      });
      const { next, sent } = heldNext(grpc.status.OK);
      const codes: grpc.status[] = [];
      for (let i = 0; i < 100; i++) codes.push((await stack.layer(next)(clientCall(GET))).status.code);
      // One draw per attempt (only the abort is configured): the ones under 0.2 are aborted.
      const replay = seededRandom(7);
      const expected = Array.from({ length: 100 }, () => (replay() < 0.2 ? grpc.status.UNAVAILABLE : grpc.status.OK));
      expect(codes).to.deep.equal(expected);
      const aborted = codes.filter((code) => code === grpc.status.UNAVAILABLE).length;
      expect(aborted).to.be.within(10, 30);
      expect(sent).to.have.length(100 - aborted);
    });

    it('says which route injected an abort, and that it was never sent', async () => {
      const { stack } = stackWith([{ name: 'broken', fault: { abort: { code: 'PERMISSION_DENIED', percent: 100 } } }]);
      const { next, sent } = heldNext(grpc.status.OK);
      const result = await stack.layer(next)(clientCall(GET));
      expect(result.status.code).to.equal(grpc.status.PERMISSION_DENIED);
      expect(result.status.details).to.contain(
        'PERMISSION_DENIED injected by route "broken" (fault.abort, 100 % of its attempts); not sent',
      );
      expect(result.attempts.map((attempt) => attempt.mayHaveReachedServer)).to.deep.equal([false]);
      expect(sent).to.have.length(0);
    });

    it('is hidden by retries when the route has a second destination: the next attempt goes there, and the fault does not follow', async () => {
      const routes = routesOf([
        {
          name: 'canary',
          destinations: [
            { subset: 'v1', weight: 1 },
            { subset: 'v2', weight: 1 },
          ],
          fault: { abort: { code: 'UNAVAILABLE', percent: 20 } },
        },
      ]);
      // Not idempotent: an aborted attempt was never sent, so it may be repeated all the same.
      const layers = clientLayers({
        routes: () => routes,
        random: seededRandom(11),
        logging: false,
        metrics: false,
        breaker: false,
        retry: { maxAttempts: 3, budget: false, routingHints: true, random: () => 0 },
      });
      // A tap over the destination layer sees each attempt's own end, faulted ones included.
      const faults: string[] = [];
      const tap: ClientLayer = (next) => async (call) => {
        const result = await next(call);
        if (result.status.code !== grpc.status.OK) faults.push(result.status.details);
        return result;
      };
      const chain = composeLayers(...layers.flatMap((entry) => (entry.name === 'destination' ? [tap, entry.layer] : [entry.layer])));
      const { next, sent } = heldNext(grpc.status.OK);
      const results = [];
      for (let i = 0; i < 200; i++) results.push(await chain(next)(clientCall(CREATE, { message: i })));
      expect(results.filter((result) => result.status.code !== grpc.status.OK)).to.deep.equal([]);
      // One draw per call: the retry of an aborted attempt goes to the other subset, and meets no fault there.
      const replay = seededRandom(11);
      const aborted = Array.from({ length: 200 }, () => replay() < 0.2).filter(Boolean).length;
      expect(results.filter((result) => result.attempts.length === 2)).to.have.length(aborted);
      expect(faults).to.have.length(aborted);
      expect(sent).to.have.length(200);
      let retried = 0;
      results.forEach((result, i) => {
        if (result.attempts.length === 1) return;
        const faultedOn = /on its way to subset (v\d)/.exec(faults[retried++]!)![1];
        const servedBy = sent.find((attempt) => attempt.call.message === i)!.subset;
        expect(servedBy, `call ${i}`).to.not.equal(faultedOn);
      });
    });

    it('meets every attempt with a route that has nowhere else to send them', async () => {
      const { stack } = stackWith(
        [{ name: 'only-v1', destinations: [{ subset: 'v1' }], fault: { abort: { code: 'UNAVAILABLE', percent: 100 } } }],
        {
          retry: { maxAttempts: 3 },
        },
      );
      const { next, sent } = heldNext(grpc.status.OK);
      const result = await stack.layer(next)(clientCall(GET));
      expect(result.status.code).to.equal(grpc.status.UNAVAILABLE);
      expect(result.attempts).to.have.length(3);
      expect(sent).to.have.length(0);
    });
  });

  describe("a route's mirror", () => {
    const mirrored = (percent = 100): Routes => [{ name: 'shadow', destinations: [{ subset: 'v1' }], mirror: { subset: 'v2', percent } }];

    it('sends a copy to the mirror subset under every layer and returns the caller its own answer without waiting', async () => {
      const { clock, stack } = stackWith(mirrored(), {
        deadline: { timeoutMs: 1000 },
        retry: { maxAttempts: 3, idempotent: true, budget: {} },
        breaker: { volumeThreshold: 1, errorThresholdPercentage: 1 },
      });
      const { transport, copies, pending } = mirrorTransport(); // the mirror subset hangs
      const { next, sent } = heldNext(grpc.status.OK);
      const result = await stack.layer(next)(clientCall(GET, { transport }));
      expect(result.status.code).to.equal(grpc.status.OK);
      expect(result.attempts).to.have.length(1);
      expect(sent).to.have.length(1);
      expect(copies.map(({ route, subset, fallback }) => ({ route, subset, fallback }))).to.deep.equal([
        { route: 'shadow', subset: 'v2', fallback: 'none' },
      ]);
      const copy = copies[0]!.call;
      expect(copy.deadline).to.equal(clock.now() + 1000); // the caller's call's deadline
      expect(copy.signal).to.not.equal(sent[0]!.call.signal);
      expect(copy.route).to.equal(undefined);
      expect(pending).to.have.length(1);
      expect(stack.route!.mirrors()).to.include({ inFlight: 1, sent: 1 });
      expect(stack.retry!.budget!.snapshot()).to.include({ requests: 1, retries: 0 });
      pending[0]!(response(grpc.status.UNAVAILABLE));
      await flush();
      expect(stack.route!.mirrors()).to.include({ inFlight: 0, failed: 1 });
      stack.close();
    });

    it("leaves the caller's budget and breaker alone when the mirror fails every time", async () => {
      const { stack } = stackWith(mirrored(), {
        retry: { maxAttempts: 3, idempotent: true, budget: {} },
        breaker: { volumeThreshold: 2, errorThresholdPercentage: 1 },
      });
      const { transport } = mirrorTransport(grpc.status.UNAVAILABLE);
      const { next } = heldNext(grpc.status.OK);
      for (let i = 0; i < 20; i++) expect((await stack.layer(next)(clientCall(GET, { transport }))).status.code).to.equal(grpc.status.OK);
      await flush();
      expect(stack.route!.mirrors()).to.include({ sent: 20, failed: 20, inFlight: 0 });
      expect(stack.retry!.budget!.snapshot()).to.include({ requests: 20, retries: 0, failureStreakMs: 0 });
      expect(Object.values(stack.breaker!.snapshot())).to.deep.equal([
        { state: 'closed', calls: 20, failures: 0, rejected: 0, windowMs: 10_000, opened: 0, refused: 0 },
      ]);
      stack.close();
    });

    it(`drops a mirror, rather than queueing it, while ${MAX_MIRRORS_IN_FLIGHT} are in flight`, async () => {
      const { stack } = stackWith(mirrored(), { retry: { idempotent: true } });
      const { transport, copies, pending } = mirrorTransport();
      const { next } = heldNext(grpc.status.OK);
      for (let i = 0; i < MAX_MIRRORS_IN_FLIGHT + 3; i++) await stack.layer(next)(clientCall(GET, { transport }));
      expect(copies).to.have.length(MAX_MIRRORS_IN_FLIGHT);
      expect(stack.route!.mirrors()).to.include({ inFlight: MAX_MIRRORS_IN_FLIGHT, dropped: 3 });
      pending[0]!(response(grpc.status.OK));
      await flush();
      expect(copies).to.have.length(MAX_MIRRORS_IN_FLIGHT); // nothing was waiting for the slot
      await stack.layer(next)(clientCall(GET, { transport }));
      expect(copies).to.have.length(MAX_MIRRORS_IN_FLIGHT + 1);
    });

    it('mirrors a call that is not safe to repeat only when it carries an idempotency key', async () => {
      const { stack } = stackWith(mirrored(), { retry: { methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true } } } });
      const { transport, copies } = mirrorTransport(grpc.status.OK);
      const { next } = heldNext(grpc.status.OK);
      await stack.layer(next)(clientCall(CREATE, { transport }));
      expect(copies).to.have.length(0);
      await stack.layer(next)(clientCall(CREATE, { transport, metadata: md({ 'idempotency-key': 'k-1' }) }));
      await stack.layer(next)(clientCall(GET, { transport }));
      expect(copies.map((copy) => copy.call.method.path)).to.deep.equal([CREATE, GET]);
      expect(stack.route!.mirrors()).to.include({ sent: 2, unsafe: 1 });
    });

    it('mirrors a smooth share of the calls: exactly 1 in 5 at 20 %', async () => {
      const { stack } = stackWith(mirrored(20), { retry: { idempotent: true } });
      const { transport, copies } = mirrorTransport(grpc.status.OK);
      const { next } = heldNext(grpc.status.OK);
      for (let i = 0; i < 20; i++) await stack.layer(next)(clientCall(GET, { transport, message: i }));
      expect(copies.map((copy) => copy.call.message)).to.deep.equal([4, 9, 14, 19]);
    });
  });
});

describe('routes through the mesh', () => {
  const pool = useTestPool();

  async function twoVersions() {
    const v1 = await startFakeBackend('ServiceA');
    const v2 = await startFakeBackend('ServiceB');
    pool.defer(() => v1.stop());
    pool.defer(() => v2.stop());
    const config = (routes?: Routes): MeshConfigInput => ({
      services: {
        orders: {
          endpoints: [
            { name: 'A', address: v1.address, labels: { version: 'v1' } },
            { name: 'B', address: v2.address, labels: { version: 'v2' } },
          ],
          subsets,
          ...(routes && { routes }),
        },
      },
    });
    return { v1, v2, config };
  }

  it("changes an existing client's routes at a config reload", async () => {
    const { config } = await twoVersions();
    const { mesh, client } = meshClient(pool, { config: config() }, { stack: { retry: { maxAttempts: 1 } } });
    expect((await getOrder(client)).id).to.equal('o-1');
    mesh.update(
      config([
        {
          name: 'outage-drill',
          match: { method: 'orders.v1.OrderService/GetOrder' },
          fault: { abort: { code: 'UNAVAILABLE', percent: 100 } },
        },
      ]),
    );
    const error = await expectGrpcError(getOrder(client));
    expect(error.code).to.equal(grpc.status.UNAVAILABLE);
    expect(error.details).to.contain('injected by route "outage-drill"');
    await callUnary(client.CreateOrder, client, { idempotency_key: 'k', item: 'book', quantity: 1 });
    mesh.update(config());
    expect((await getOrder(client)).id).to.equal('o-1');
  });

  // These need the mesh's picker to send an attempt to the subset its hint names.
  it('sends a header-matched call to its subset and the rest by the split', async () => {
    const { config } = await twoVersions();
    const { client } = meshClient(pool, {
      config: config([
        {
          name: 'canary-header',
          match: { headers: [{ name: 'x-canary', exact: '1' }] },
          destinations: [{ subset: 'v2' }],
          fallback: 'none',
        },
        { name: 'stable', destinations: [{ subset: 'v1' }] },
      ]),
    });
    const served = async (headers: Record<string, string>) => {
      const names: string[] = [];
      for (let i = 0; i < 10; i++) names.push((await getOrder(client, headers)).served_by);
      return [...new Set(names)];
    };
    expect(await served({ 'x-canary': '1' })).to.deep.equal(['ServiceB']);
    expect(await served({})).to.deep.equal(['ServiceA']);
  });

  it("leaves the caller's answer, latency, budget and breaker alone while the mirror subset hangs or fails", async () => {
    const { v1, v2, config } = await twoVersions();
    const { client } = meshClient(
      pool,
      { config: config([{ name: 'shadow', destinations: [{ subset: 'v1' }], mirror: { subset: 'v2' } }]) },
      { stack: { retry: { idempotent: true, maxAttempts: 3 }, breaker: { volumeThreshold: 2, errorThresholdPercentage: 1 } } },
    );
    v2.behaviour = { hang: true };
    const order = await getOrder(client);
    // The caller has its answer while the copy still hangs on v2.
    expect(order.served_by).to.equal('ServiceA');
    await until(() => v2.calls.length === 1);
    expect(client.stack.route!.mirrors()).to.include({ inFlight: 1, sent: 1 });
    expect(v1.calls).to.have.length(1);
    v2.behaviour = { status: grpc.status.UNAVAILABLE };
    for (let i = 0; i < 5; i++) expect((await getOrder(client)).served_by).to.equal('ServiceA');
    await until(() => client.stack.route!.mirrors().failed === 5);
    expect(client.stack.retry!.budget!.snapshot()).to.include({ requests: 6, retries: 0, failureStreakMs: 0 });
    expect(Object.values(client.stack.breaker!.snapshot()).map((breaker) => [breaker.state, breaker.failures])).to.deep.equal([
      ['closed', 0],
    ]);
  });

  it("never lets mirrored traffic move real calls: a mirror subset's failures eject nothing, and count as none of the route's picks", async () => {
    const { v2, config } = await twoVersions();
    const routes: Routes = [
      { name: 'testers', match: { headers: [{ name: 'x-canary', exact: '1' }] }, destinations: [{ subset: 'v2' }] },
      { name: 'shadow', destinations: [{ subset: 'v1' }], mirror: { subset: 'v2' } },
    ];
    const services = config(routes).services;
    services['orders']!.balancer = { slowStart: { windowMs: 0 }, ejection: { consecutiveFailures: 3 } };
    const { mesh, client } = meshClient(pool, { config: { services } }, { stack: { retry: { idempotent: true } } });
    // v2 fails every copy (the mirrors are the only calls it gets without x-canary).
    v2.behaviour = { status: grpc.status.UNAVAILABLE };
    for (let i = 0; i < 20; i++) await getOrder(client);
    await until(() => client.stack.route!.mirrors().failed === 20);
    const snapshot = mesh.snapshot('orders')[0]!;
    expect(snapshot.endpoints.find((e) => e.name === 'B')).to.include({ ejection: 'admitted', ejections: 0 });
    expect(snapshot.routes.find((r) => r.name === 'shadow')).to.deep.include({ picks: 20 });
    v2.behaviour = {};
    expect((await getOrder(client, { 'x-canary': '1' })).served_by).to.equal('ServiceB');
  });

  it('routes client-streaming calls too: their hint names the route and its subset', async () => {
    const { config } = await twoVersions();
    const { mesh } = meshClient(pool, {
      config: config([
        { name: 'uploads', match: { method: 'orders.v1.OrderService' }, destinations: [{ subset: 'v2' }], fallback: 'none' },
      ]),
    });
    const stack = mesh.clientStack('orders');
    pool.defer(() => stack.close());
    const seen: unknown[] = [];
    // After the stack, where the picker would read the hint: what the call carries.
    const capture: grpc.Interceptor = (options, nextCall) =>
      new grpc.InterceptingCall(nextCall(options), {
        start(metadata, listener, next) {
          seen.push(takeRoutingHint(metadata)?.destination());
          next(metadata, listener);
        },
      });
    const client = pool.track(
      new OrderClient('ipv4:127.0.0.1:1', grpc.credentials.createInsecure(), { interceptors: [...stack.interceptors, capture] }),
    );
    const upload = client.makeClientStreamRequest(
      '/orders.v1.OrderService/Upload',
      (value: Buffer) => value,
      (value: Buffer) => value,
      new grpc.Metadata(),
      () => {},
    );
    upload.cancel();
    expect(seen).to.deep.equal([{ route: 'uploads', subset: 'v2', fallback: 'none' }]);
  });
});

describe('routes through grpc-js: a stack made without a mesh', () => {
  const pool = useTestPool();

  it("mirrors server-streaming and unary calls on the caller's channel, leaving the caller its own stream and peer", async () => {
    const backend = await startFakeBackend('ServiceA');
    pool.defer(() => backend.stop());
    const table = routesOf([{ name: 'shadow', destinations: [{ subset: 'v1' }], mirror: { subset: 'v2' } }]);
    const stack = createClientStack({ routes: () => table, logging: false, metrics: false, retry: { idempotent: true } });
    pool.defer(() => stack.close());
    const client = pool.track(orderClient([backend.address], stack.interceptors));
    // The copy is read through by itself; the caller's reads go to the caller's own attempt.
    const messages = await readAll(client.ListOrders({ limit: 5 }));
    expect(messages).to.have.length(5);
    await until(() => stack.route!.mirrors().inFlight === 0, { describe: () => JSON.stringify(stack.route!.mirrors()) });
    expect(backend.calls.map((call) => call.method)).to.deep.equal(['ListOrders', 'ListOrders']);
    let peer: string | undefined;
    const order = await new Promise<Order>((resolve, reject) => {
      const call = client.GetOrder({ id: 'o-7' }, (error: grpc.ServiceError | null, answer?: Order) =>
        error ? reject(error) : resolve(answer!),
      );
      call.on('status', () => (peer = call.getPeer()));
    });
    expect(order.id).to.equal('o-7');
    expect(peer).to.equal(backend.address);
    await until(() => stack.route!.mirrors().inFlight === 0);
    expect(stack.route!.mirrors()).to.include({ sent: 2, failed: 0, dropped: 0 });
  });

  it('routes the attempts of a stack without a retry layer, each with a hint of its own', async () => {
    const { stack } = stackWith([{ name: 'v2-only', destinations: [{ subset: 'v2' }] }], { retry: false });
    const { next, sent } = heldNext(grpc.status.OK);
    await stack.layer(next)(clientCall(GET));
    expect(sent.map((attempt) => attempt.subset)).to.deep.equal(['v2']);
    expect(sent[0]!.call.hint!.destination()).to.equal(undefined); // released with the attempt
  });
});
