import * as grpc from '@grpc/grpc-js';
import FakeTimers from '@sinonjs/fake-timers';
import { expect } from 'chai';
import { createClientStack, type BreakerStateChange } from 'grpc-meshlite';
import { circuitBreakerLayer, type CircuitBreakerOptions, type ClientResult } from 'grpc-meshlite/layers';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { getOrder, orderClient } from '../helpers/clients.js';
import { memoryLogger } from '../helpers/logs.js';
import { clientCall, response, scriptedNext } from '../helpers/requests.js';
import { expectGrpcError, useTestPool } from '../helpers/servers.js';

const { OK, UNAVAILABLE, NOT_FOUND, INVALID_ARGUMENT, DEADLINE_EXCEEDED } = grpc.status;

describe('circuit breaker interceptor', () => {
  let clock: ReturnType<typeof FakeTimers.install>;
  beforeEach(() => {
    clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  afterEach(() => clock.uninstall());

  function setup(options: CircuitBreakerOptions = {}) {
    const { logger, lines } = memoryLogger();
    const breaker = circuitBreakerLayer({ volumeThreshold: 4, resetTimeoutMs: 1000, logger, ...options });
    const changes: string[] = [];
    breaker.onStateChange((change: BreakerStateChange) => changes.push(`${change.key}: ${change.previous} -> ${change.state}`));
    return { breaker, changes, lines };
  }

  const run = async (breaker: ReturnType<typeof setup>['breaker'], next: ReturnType<typeof scriptedNext>, times: number) => {
    const codes: grpc.status[] = [];
    for (let i = 0; i < times; i++) codes.push((await breaker(next)(clientCall())).status.code);
    return codes;
  };

  it('opens when failures pass the threshold, then fails calls at once without sending them', async () => {
    const { breaker, changes } = setup();
    const next = scriptedNext(UNAVAILABLE);
    expect(await run(breaker, next, 4)).to.deep.equal([UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE]);
    expect(breaker.state('orders.v1.OrderService/GetOrder')).to.equal('open');
    const refused = await breaker(next)(clientCall());
    expect(next.calls).to.equal(4);
    expect(refused.status.code).to.equal(UNAVAILABLE);
    expect(refused.status.details).to.match(
      /^circuit breaker open for orders\.v1\.OrderService\/GetOrder: 4 of 4 calls failed in the last 10 s; next probe in 1000 ms; not sent$/,
    );
    expect(refused.attempts).to.have.length(0);
    expect(changes).to.deep.equal(['orders.v1.OrderService/GetOrder: closed -> open']);
  });

  it('counts calls in its callback form as in its promise form, and opens by the same rule', async () => {
    const { breaker } = setup({ errorThresholdPercentage: 50 });
    const next = scriptedNext(OK, UNAVAILABLE, OK, UNAVAILABLE, UNAVAILABLE);
    const send = breaker.send!((call, settle) => void next(call).then((result) => settle(result)));
    const codes: grpc.status[] = [];
    for (let i = 0; i < 4; i++) codes.push((await new Promise<ClientResult>((resolve) => send(clientCall(), resolve))).status.code);
    expect(codes).to.deep.equal([OK, UNAVAILABLE, OK, UNAVAILABLE]);
    expect(breaker.snapshot()['orders.v1.OrderService/GetOrder']).to.deep.include({ state: 'closed', calls: 4, failures: 2 });
    await new Promise<ClientResult>((resolve) => send(clientCall(), resolve));
    expect(breaker.snapshot()['orders.v1.OrderService/GetOrder']).to.deep.include({ state: 'open', calls: 5, failures: 3, opened: 1 });
  });

  it('never counts answers that say nothing about the dependency health (NOT_FOUND, INVALID_ARGUMENT)', async () => {
    const { breaker } = setup();
    await run(breaker, scriptedNext(NOT_FOUND), 10);
    await run(breaker, scriptedNext(INVALID_ARGUMENT), 10);
    expect(breaker.state('orders.v1.OrderService/GetOrder')).to.equal('closed');
  });

  it('stays closed below the volume threshold', async () => {
    const { breaker } = setup({ volumeThreshold: 10 });
    await run(breaker, scriptedNext(DEADLINE_EXCEEDED), 9);
    expect(breaker.state('orders.v1.OrderService/GetOrder')).to.equal('closed');
  });

  it('opens only when the failure share passes the percentage, counting every call in the window', async () => {
    const { breaker } = setup({ errorThresholdPercentage: 50 });
    await run(breaker, scriptedNext(OK, UNAVAILABLE, OK, UNAVAILABLE), 4);
    expect(breaker.state('orders.v1.OrderService/GetOrder')).to.equal('closed');
    expect(breaker.snapshot()['orders.v1.OrderService/GetOrder']).to.deep.equal({
      state: 'closed',
      calls: 4,
      failures: 2,
      rejected: 0,
      windowMs: 10_000,
      opened: 0,
      refused: 0,
    });
    await run(breaker, scriptedNext(UNAVAILABLE), 1);
    expect(breaker.snapshot()['orders.v1.OrderService/GetOrder']).to.deep.equal({
      state: 'open',
      calls: 5,
      failures: 3,
      rejected: 0,
      windowMs: 10_000,
      opened: 1,
      refused: 0,
    });
    // Open, it refuses a call: counted in its window and in all.
    await run(breaker, scriptedNext(OK), 1);
    expect(breaker.snapshot()['orders.v1.OrderService/GetOrder']).to.deep.include({ rejected: 1, refused: 1 });
    // The window forgets: ten seconds later the same share starts from nothing.
    clock.tick(10_000);
    breaker.reset('test');
    await run(breaker, scriptedNext(UNAVAILABLE, UNAVAILABLE, OK, OK), 4);
    expect(breaker.state('orders.v1.OrderService/GetOrder')).to.equal('closed');
  });

  it('half-opens after the reset timeout and lets exactly one probe through; its success closes the circuit', async () => {
    const { breaker, changes, lines } = setup();
    await run(breaker, scriptedNext(UNAVAILABLE), 4);
    clock.tick(1000);
    expect(breaker.state('orders.v1.OrderService/GetOrder')).to.equal('half-open');

    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let sent = 0;
    const slowOk = async () => {
      sent++;
      await gate;
      return response(OK);
    };
    const probe = breaker(slowOk)(clientCall());
    const concurrent = await breaker(slowOk)(clientCall());
    expect(concurrent.status.details).to.contain('a probe call is in flight');
    expect(sent).to.equal(1);
    release();
    expect((await probe).status.code).to.equal(OK);
    expect(breaker.state('orders.v1.OrderService/GetOrder')).to.equal('closed');
    expect(changes).to.deep.equal([
      'orders.v1.OrderService/GetOrder: closed -> open',
      'orders.v1.OrderService/GetOrder: open -> half-open',
      'orders.v1.OrderService/GetOrder: half-open -> closed',
    ]);
    expect(lines.map((l) => [l.msg, l['state']])).to.deep.equal([
      ['circuit breaker opened', 'open'],
      ['circuit breaker half-open: probing', 'half-open'],
      ['circuit breaker closed', 'closed'],
    ]);
  });

  it('re-opens when the probe fails', async () => {
    const { breaker } = setup();
    await run(breaker, scriptedNext(UNAVAILABLE), 4);
    clock.tick(1000);
    await run(breaker, scriptedNext(UNAVAILABLE), 1);
    expect(breaker.state('orders.v1.OrderService/GetOrder')).to.equal('open');
  });

  it('closes at once on reset (the mesh calls it when an endpoint is back), and lets a layer that throws fail as itself', async () => {
    const { breaker, changes } = setup();
    expect(await run(breaker, scriptedNext(UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE), 5)).to.deep.equal([
      UNAVAILABLE,
      UNAVAILABLE,
      UNAVAILABLE,
      UNAVAILABLE,
      UNAVAILABLE,
    ]);
    expect(breaker.state('orders.v1.OrderService/GetOrder')).to.equal('open');
    expect(breaker.reset('ServiceA healthy')).to.deep.equal(['orders.v1.OrderService/GetOrder']);
    expect(changes.at(-1)).to.equal('orders.v1.OrderService/GetOrder: open -> closed');
    expect(await run(breaker, scriptedNext(OK), 1)).to.deep.equal([OK]);
    expect(breaker.reset('nothing to do')).to.deep.equal([]);

    const broken = () => Promise.reject(new Error('layer bug'));
    let thrown: unknown;
    await breaker(broken)(clientCall()).catch((error: unknown) => (thrown = error));
    expect((thrown as Error).message).to.equal('layer bug');
    // One that throws at once, too: a rejected call, not an exception out of the layer.
    const throwing = () => {
      throw new Error('sync layer bug');
    };
    const rejected = breaker(throwing)(clientCall());
    await rejected.catch((error: unknown) => (thrown = error));
    expect((thrown as Error).message).to.equal('sync layer bug');
    expect(breaker.state('orders.v1.OrderService/GetOrder')).to.equal('closed');
  });

  it('counts a call whose layer broke its contract as a success and rejects it, as opossum does', async () => {
    const { breaker } = setup();
    let thrown: unknown;
    // A layer that resolves with no result: the breaker cannot read its status.
    await breaker(() => Promise.resolve(undefined as never))(clientCall()).catch((error: unknown) => (thrown = error));
    expect(thrown).to.be.instanceOf(TypeError);
    expect(breaker.snapshot()['orders.v1.OrderService/GetOrder']).to.deep.equal({
      state: 'closed',
      calls: 1,
      failures: 0,
      rejected: 0,
      windowMs: 10_000,
      opened: 0,
      refused: 0,
    });
  });

  it('keeps one breaker per service and method', async () => {
    const { breaker } = setup();
    await run(breaker, scriptedNext(UNAVAILABLE), 4);
    const other = await breaker(scriptedNext(OK))(clientCall('/orders.v1.OrderService/CreateOrder'));
    expect(other.status.code).to.equal(OK);
    expect(breaker.snapshot()).to.deep.include({
      'orders.v1.OrderService/CreateOrder': {
        state: 'closed',
        calls: 1,
        failures: 0,
        rejected: 0,
        windowMs: 10_000,
        opened: 0,
        refused: 0,
      },
    });
  });

  it('answers with the fallback while open', async () => {
    const { breaker } = setup({ fallback: () => response(OK, 'fallback') });
    await run(breaker, scriptedNext(UNAVAILABLE), 4);
    const answered = await breaker(scriptedNext(UNAVAILABLE))(clientCall());
    expect(answered.status.code).to.equal(OK);
    expect(answered.peer).to.equal('fallback');
  });

  it('rejects invalid options, naming the field and the value', () => {
    expect(() => circuitBreakerLayer({ errorThresholdPercentage: 150 })).to.throw(/errorThresholdPercentage.*150/);
    expect(() => circuitBreakerLayer({ failureCodes: ['BROKEN' as never] })).to.throw(/failureCodes\[0\].*"BROKEN"/);
    expect(() => circuitBreakerLayer({ volumeThreshold: 1.5 })).to.throw(/volumeThreshold.*1.5/);
  });
});

describe('circuit breaker in the client stack', () => {
  const pool = useTestPool();

  it('stops sending to a failing dependency once open', async () => {
    const backend = await startFakeBackend('ServiceA');
    pool.defer(() => backend.stop());
    backend.behaviour.status = grpc.status.UNAVAILABLE;
    const stack = createClientStack({ retry: false, breaker: { volumeThreshold: 5, resetTimeoutMs: 60_000 } });
    pool.defer(() => stack.close());
    const client = pool.track(orderClient([backend.address], stack.interceptors));
    for (let i = 0; i < 5; i++) await expectGrpcError(getOrder(client));
    expect(backend.calls).to.have.length(5);
    const refused = await expectGrpcError(getOrder(client));
    expect(refused.code).to.equal(grpc.status.UNAVAILABLE);
    expect(refused.details).to.contain('circuit breaker open');
    expect(backend.calls).to.have.length(5);
  });
});
