import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createClientStack, meshCallInfo, type RetryEvent } from 'grpc-meshlite';
import { describeMethod, type RetryOptions } from 'grpc-meshlite/layers';
import { resolveRetryOptions } from '../../src/interceptors/retry/retry.js';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.js';
import { manualClock } from '../helpers/clock.js';
import { until } from '../helpers/until.js';
import { createOrder, getOrder, orderClient, seededRandom } from '../helpers/clients.js';
import { expectGrpcError, useTestPool } from '../helpers/servers.js';
import { readAll } from '../helpers/streams.js';
import type { Order } from '../../examples/orders.js';

describe('retry interceptor', () => {
  const pool = useTestPool();

  async function setup(retry: RetryOptions, backends = ['ServiceA']) {
    const started = await Promise.all(backends.map((name) => startFakeBackend(name)));
    for (const backend of started) pool.defer(() => backend.stop());
    const stack = createClientStack({
      retry: { random: seededRandom(), backoff: { baseMs: 1, capMs: 2 }, ...retry },
      breaker: false,
    });
    pool.defer(() => stack.close());
    const events: RetryEvent[] = [];
    stack.retry!.onRetry((event) => events.push(event));
    const client = pool.track(
      orderClient(
        started.map((b) => b.address),
        stack.interceptors,
      ),
    );
    if (started.length > 1) await connectAll(client, started.length);
    events.length = 0;
    for (const backend of started) backend.calls.length = 0;
    return { backends: started, client, stack, events };
  }

  /**
   * Four GetOrders while A hangs: each attempt that reaches A has had `waitMs` on the clock as
   * soon as it arrives. Every call is served by B; round_robin alternates, so every call but
   * perhaps the first went to A first. Resolves once every attempt at A was cancelled.
   */
  async function pastHungA(
    backends: FakeBackend[],
    client: ReturnType<typeof orderClient>,
    clock: ReturnType<typeof manualClock>,
    waitMs: number,
  ) {
    const [a, b] = backends as [FakeBackend, FakeBackend];
    a.behaviour.hang = true;
    a.onCall.subscribe(() => clock.tick(waitMs));
    let cancelledAtA = 0;
    a.onCancelled.subscribe(() => cancelledAtA++);
    const served: string[] = [];
    for (let i = 0; i < 4; i++) served.push((await getOrder(client, {}, { deadline: Date.now() + 5000 })).served_by);
    expect(served).to.deep.equal(['ServiceB', 'ServiceB', 'ServiceB', 'ServiceB']);
    expect(b.calls).to.have.length(4);
    expect(a.calls.length).to.be.oneOf([3, 4]);
    await until(() => cancelledAtA === a.calls.length);
    return a.calls.length;
  }

  /** round_robin only rotates over connected backends: wait until every one has answered. */
  async function connectAll(client: ReturnType<typeof orderClient>, count: number) {
    const served = new Set<string>();
    for (let i = 0; i < 50 && served.size < count; i++) served.add((await getOrder(client)).served_by);
    expect(served.size).to.equal(count);
  }

  it('retries UNAVAILABLE until it succeeds; maxAttempts counts every attempt', async () => {
    const { backends, client, events } = await setup({ maxAttempts: 3, idempotent: true });
    const order = await getOrder(client, { 'x-test-fail-times': '2', 'x-test-key': 'a' });
    expect(order.served_by).to.equal('ServiceA');
    expect(backends[0]!.calls).to.have.length(3);
    expect(events.map((e) => [e.attempt, grpc.status[e.code]])).to.deep.equal([
      [1, 'UNAVAILABLE'],
      [2, 'UNAVAILABLE'],
    ]);
  });

  it("gives up after maxAttempts with the server's status unchanged, and says on the error how many attempts went where", async () => {
    const { backends, client } = await setup({ maxAttempts: 2, idempotent: true });
    const error = await expectGrpcError(getOrder(client, { 'x-test-fail-times': '5', 'x-test-key': 'b' }));
    expect(error.code).to.equal(grpc.status.UNAVAILABLE);
    expect(error.details).to.equal('ServiceA: steered failure');
    const info = meshCallInfo(error)!;
    expect(info.attempts).to.equal(2);
    expect(info.tries.map((t) => [t.codeName, t.peer, t.hedge])).to.deep.equal([
      ['UNAVAILABLE', backends[0]!.address, false],
      ['UNAVAILABLE', backends[0]!.address, false],
    ]);
    expect(info.stoppedBecause).to.equal(undefined);
    expect(backends[0]!.calls).to.have.length(2);
  });

  it("does not retry codes that are not retryable, and hands the server's status over as plain grpc-js does", async () => {
    const { backends, client } = await setup({ maxAttempts: 3, idempotent: true });
    const headers = { 'x-test-status': String(grpc.status.NOT_FOUND) };
    const error = await expectGrpcError(getOrder(client, headers));
    const plain = await expectGrpcError(getOrder(pool.track(orderClient([backends[0]!.address])), headers));
    expect(backends[0]!.calls).to.have.length(2);
    expect([error.code, error.details, error.message]).to.deep.equal([plain.code, plain.details, plain.message]);
    expect(error.code).to.equal(grpc.status.NOT_FOUND);
    expect(error.metadata.getMap()).to.deep.equal(plain.metadata.getMap());
    expect(meshCallInfo(error)).to.deep.include({ attempts: 1, stoppedBecause: 'NOT_FOUND is not retryable' });
    expect(meshCallInfo(plain)).to.equal(undefined);
  });

  it('retries the configured codes, by name, per method', async () => {
    const { backends, client } = await setup({
      maxAttempts: 3,
      methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true, retryableCodes: ['RESOURCE_EXHAUSTED'] } },
    });
    const headers = { 'x-test-status': String(grpc.status.RESOURCE_EXHAUSTED), 'x-test-fail-times': '1', 'x-test-key': 'c' };
    await getOrder(client, headers);
    expect(backends[0]!.calls).to.have.length(2);
  });

  describe('safety', () => {
    it('never retries a non-idempotent call that may have reached the server', async () => {
      const { backends, client } = await setup({ maxAttempts: 3 });
      const error = await expectGrpcError(createOrder(client, { 'x-test-fail-times': '1', 'x-test-key': 'd' }));
      expect(error.code).to.equal(grpc.status.UNAVAILABLE);
      expect(meshCallInfo(error)?.stoppedBecause).to.equal('not idempotent and it may have reached the server');
      expect(backends[0]!.calls).to.have.length(1);
    });

    it('retries a non-idempotent call that carries an idempotency key', async () => {
      const { backends, client } = await setup({ maxAttempts: 3 });
      const order = await createOrder(client, { 'idempotency-key': 'order-1', 'x-test-fail-times': '1', 'x-test-key': 'e' });
      expect(order.idempotency_key).to.equal('k');
      expect(backends[0]!.calls).to.have.length(2);
    });

    it('retries a non-idempotent call that provably never left the client', async () => {
      // No server behind the address: every pick fails before anything is sent.
      const stack = createClientStack({ retry: { maxAttempts: 3, backoff: { baseMs: 1, capMs: 2 } }, breaker: false });
      pool.defer(() => stack.close());
      const events: RetryEvent[] = [];
      stack.retry!.onRetry((event) => events.push(event));
      const client = pool.track(orderClient(['127.0.0.1:1'], stack.interceptors));
      const error = await expectGrpcError(createOrder(client, {}, { deadline: Date.now() + 5000 }));
      expect(error.code).to.equal(grpc.status.UNAVAILABLE);
      expect(events).to.have.length(2);
      expect(meshCallInfo(error)?.tries.map((t) => t.peer)).to.deep.equal([undefined, undefined, undefined]);
    });
  });

  describe('pushback', () => {
    it('waits what the server asks (grpc-retry-pushback-ms)', async () => {
      const { client, events } = await setup({ maxAttempts: 2, idempotent: true });
      await getOrder(client, { 'x-test-fail-times': '1', 'x-test-key': 'f', 'x-test-pushback-ms': '30' });
      expect(events.map((e) => e.delayMs)).to.deep.equal([30]);
    });

    it('stops when the pushback is negative', async () => {
      const { backends, client } = await setup({ maxAttempts: 3, idempotent: true });
      const error = await expectGrpcError(getOrder(client, { 'x-test-fail-times': '3', 'x-test-key': 'g', 'x-test-pushback-ms': '-1' }));
      expect(meshCallInfo(error)?.stoppedBecause).to.equal('server pushback said not to retry');
      expect(backends[0]!.calls).to.have.length(1);
    });
  });

  describe('per-attempt timeout (on the injected clock)', () => {
    it('moves a call off a hung backend to the other one within the whole-call deadline', async () => {
      const clock = manualClock(Date.now());
      const { backends, client } = await setup({ maxAttempts: 3, idempotent: true, perAttemptTimeoutMs: 100, clock, random: () => 0 }, [
        'ServiceA',
        'ServiceB',
      ]);
      // Each attempt at A is cut after its 100 ms and retried at B.
      await pastHungA(backends, client, clock, 100);
    });

    it('cuts attempts while another may follow; the last one runs on to the call deadline', async () => {
      const clock = manualClock(Date.now());
      const { backends, client } = await setup({ maxAttempts: 5, idempotent: true, perAttemptTimeoutMs: 50, clock, random: () => 0 });
      const a = backends[0]!;
      a.behaviour.hang = true;
      a.onCall.subscribe(() => clock.tick(50));
      const error = await expectGrpcError(getOrder(client, {}, { deadline: Date.now() + 500 }));
      expect(error.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
      expect(meshCallInfo(error)?.tries.map((t) => [t.codeName, t.peer])).to.deep.equal(
        Array.from({ length: 5 }, () => ['DEADLINE_EXCEEDED', a.address]),
      );
      expect(a.calls).to.have.length(5);
    });

    it('never cuts the only attempt the budget allows: a slow answer beats a failure', async () => {
      const clock = manualClock(Date.now());
      const { backends, client, stack } = await setup({
        maxAttempts: 3,
        idempotent: true,
        perAttemptTimeoutMs: 50,
        clock,
        budget: { ratio: 0, minRetriesPerSecond: 0 },
      });
      // Every attempt has had its 50 ms before the backend answers, 30 ms (real) later.
      backends[0]!.onCall.subscribe(() => clock.tick(50));
      const order = await getOrder(client, { 'x-test-delay-ms': '30' }, { deadline: Date.now() + 5000 });
      expect(order.served_by).to.equal('ServiceA');
      expect(backends[0]!.calls).to.have.length(1);
      expect(stack.retry!.budget!.snapshot().retries).to.equal(0);
    });

    it('never cuts a non-idempotent attempt that may have reached the server: it could not be retried', async () => {
      const clock = manualClock(Date.now());
      const { backends, client } = await setup({ maxAttempts: 3, perAttemptTimeoutMs: 50, clock });
      backends[0]!.onCall.subscribe(() => clock.tick(50));
      const order = await createOrder(client, { 'x-test-delay-ms': '30' }, { deadline: Date.now() + 5000 });
      expect(order.served_by).to.equal('ServiceA');
      expect(backends[0]!.calls).to.have.length(1);
    });
  });

  describe('server streaming', () => {
    it('retries a stream that fails before its first message', async () => {
      const { backends, client } = await setup({ maxAttempts: 3, idempotent: true });
      const stream = client.ListOrders({ limit: 2 }, md({ 'x-test-fail-times': '1', 'x-test-key': 'h' }));
      const orders = await readAll<Order>(stream);
      expect(orders.map((o) => o.id)).to.deep.equal(['o-0', 'o-1']);
      expect(backends[0]!.calls).to.have.length(2);
    });

    it('does not retry a stream once a message reached the caller', async () => {
      const { backends, client } = await setup({ maxAttempts: 3, idempotent: true });
      const stream = client.ListOrders({ limit: 0 }, md({ 'x-test-stream-fail-after': '2' }));
      const received: string[] = [];
      stream.on('data', (order: Order) => received.push(order.id));
      const error = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
      expect(error.code).to.equal(grpc.status.UNAVAILABLE);
      expect(received).to.deep.equal(['o-0', 'o-1']);
      expect(backends[0]!.calls).to.have.length(1);
      expect(meshCallInfo(error)?.stoppedBecause).to.equal('the stream already delivered messages');
    });

    it('says a stream stopped because it delivered messages, idempotent or not', async () => {
      const { backends, client } = await setup({ maxAttempts: 3 });
      const stream = client.ListOrders({ limit: 0 }, md({ 'x-test-stream-fail-after': '1' }));
      stream.on('data', () => {});
      const error = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
      expect(meshCallInfo(error)?.stoppedBecause).to.equal('the stream already delivered messages');
      expect(backends[0]!.calls).to.have.length(1);
    });
  });

  describe('budget', () => {
    it('caps retry amplification in a total outage', async () => {
      const { backends, client, stack } = await setup({
        maxAttempts: 5,
        idempotent: true,
        budget: { ratio: 0.1, minRetriesPerSecond: 0 },
      });
      backends[0]!.behaviour.status = grpc.status.UNAVAILABLE;
      const calls = 100;
      for (let i = 0; i < calls; i++) await expectGrpcError(getOrder(client));
      const attempts = backends[0]!.calls.length;
      // Without the budget this would be 500 attempts; with it, at most 10 % more than the calls.
      expect(attempts).to.be.at.most(calls * 1.1);
      expect(attempts).to.be.greaterThan(calls);
      expect(stack.retry!.budget!.snapshot().available).to.equal(0);
    });
  });

  describe('hedging', () => {
    it('sends a hedge to the other backend when the first does not answer; the first success wins', async () => {
      const clock = manualClock(Date.now());
      const { backends, client, events } = await setup(
        { maxAttempts: 3, clock, methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true, hedging: { delayMs: 20 } } } },
        ['ServiceA', 'ServiceB'],
      );
      // Every attempt at A is hedged to B after its 20 ms exactly once, and the losing attempt
      // at A is cancelled rather than left to hang.
      const atA = await pastHungA(backends, client, clock, 20);
      expect(events.filter((e) => e.kind === 'hedge')).to.have.length(atA);
    });

    it("makes as many attempts in all as the method's maxAttempts says, unless hedging sets its own", () => {
      const method = describeMethod('/orders.v1.OrderService/GetOrder', false, false);
      const attempts = (policy: RetryOptions) => resolveRetryOptions(policy).policyFor(method).hedging?.maxAttempts;
      const hedged = { idempotent: true, hedging: { delayMs: 60 } };
      expect(attempts({ methods: { 'orders.v1.OrderService/GetOrder': hedged } })).to.equal(3); // the default maxAttempts
      expect(attempts({ maxAttempts: 5, methods: { 'orders.v1.OrderService/GetOrder': hedged } })).to.equal(5);
      expect(attempts({ methods: { 'orders.v1.OrderService/GetOrder': { ...hedged, maxAttempts: 4 } } })).to.equal(4);
      expect(attempts({ maxAttempts: 1, methods: { 'orders.v1.OrderService/GetOrder': hedged } })).to.equal(2);
      expect(
        attempts({
          maxAttempts: 5,
          methods: { 'orders.v1.OrderService/GetOrder': { ...hedged, hedging: { delayMs: 60, maxAttempts: 2 } } },
        }),
      ).to.equal(2);
    });

    it('does not hedge a method that is not idempotent', async () => {
      const { backends, client, events } = await setup({
        maxAttempts: 3,
        methods: { 'orders.v1.OrderService/CreateOrder': { hedging: { delayMs: 1 } } },
      });
      await createOrder(client, { 'x-test-delay-ms': '30' });
      expect(events).to.have.length(0);
      expect(backends[0]!.calls).to.have.length(1);
    });
  });

  it('rejects invalid options, naming the field and the value', () => {
    expect(() => createClientStack({ retry: { maxAttempts: -1 } })).to.throw(/maxAttempts.*-1/);
    expect(() => createClientStack({ retry: { backoff: { baseMs: 500, capMs: 100 } } })).to.throw(
      /backoff\.baseMs: baseMs must not exceed capMs/,
    );
    expect(() => createClientStack({ retry: { retryableCodes: ['UNAVAILABEL' as never] } })).to.throw(/retryableCodes\[0\].*"UNAVAILABEL"/);
    expect(() => createClientStack({ retry: { perAttemptTimeoutMs: Number.NaN } })).to.throw(/perAttemptTimeoutMs.*NaN/);
    expect(() => createClientStack({ retry: { methods: { 'a/B': { maxAttempts: 0 } } } })).to.throw(/methods\["a\/B"\]\.maxAttempts.*0/);
  });
});

function md(headers: Record<string, string>): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  return metadata;
}
