import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { RetryBudget, createClientStack } from 'grpc-meshlite';
import { retryLayer } from 'grpc-meshlite/layers';
import { BACKOFF_DEFAULTS, fullJitterDelay } from '../../src/interceptors/retry/backoff.js';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { md, orderClient, seededRandom } from '../helpers/clients.js';
import { manualClock } from '../helpers/clock.js';
import { clientCall, scriptedNext } from '../helpers/requests.js';
import { useTestPool } from '../helpers/servers.js';

describe('full-jitter backoff', () => {
  it('stays within [0, min(cap, base·multiplier^(n−1))) and follows the random source', () => {
    const backoff = { baseMs: 25, capMs: 250, multiplier: 2 };
    expect(fullJitterDelay(1, backoff, () => 0.999)).to.be.closeTo(24.975, 1e-9);
    expect(fullJitterDelay(2, backoff, () => 0.5)).to.equal(25);
    expect(fullJitterDelay(4, backoff, () => 0.5)).to.equal(100);
    expect(fullJitterDelay(10, backoff, () => 0.5)).to.equal(125); // capped at 250
    expect(fullJitterDelay(3, backoff, () => 0)).to.equal(0);
  });

  it('spreads delays over the whole interval (seeded)', () => {
    const random = seededRandom(7);
    const delays = Array.from({ length: 2000 }, () => fullJitterDelay(3, BACKOFF_DEFAULTS, random));
    const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
    expect(Math.max(...delays)).to.be.below(100);
    expect(mean).to.be.closeTo(50, 3);
  });
});

describe('retry budget', () => {
  it('allows a reserve of minRetriesPerSecond × ttl, then ratio × requests', () => {
    const clock = manualClock();
    const budget = new RetryBudget({ ratio: 0.2, minRetriesPerSecond: 1, ttlMs: 10_000, clock });
    let granted = 0;
    while (budget.tryRetry()) granted++;
    expect(granted).to.equal(10);
    for (let i = 0; i < 50; i++) budget.recordRequest();
    while (budget.tryRetry()) granted++;
    expect(granted).to.equal(20);
    // Each loop ended on one refusal; the snapshot counts them (the retry_budget.refused metric).
    expect(budget.snapshot().refused).to.equal(2);
  });

  it('forgets deposits and withdrawals older than the ttl', () => {
    const clock = manualClock();
    const budget = new RetryBudget({ ratio: 1, minRetriesPerSecond: 0, ttlMs: 1000, clock });
    for (let i = 0; i < 5; i++) budget.recordRequest();
    clock.tick(500);
    expect(budget.snapshot()).to.include({ requests: 5, available: 5 });
    clock.tick(600);
    expect(budget.snapshot()).to.include({ requests: 0, available: 0 });
  });

  it('tapers the allowance as a failure streak ages: R = N / (1 + e^{k(t − T)})', () => {
    const clock = manualClock();
    const budget = new RetryBudget({ taper: { maxRetries: 4, steepness: 2, midpointMs: 3000 }, clock });
    const half = () => 0.5;
    expect(budget.retryAllowance(half)).to.equal(Infinity); // no streak yet
    budget.recordAttempt(false);
    expect(budget.retryAllowance(half)).to.equal(4); // t=0: 4/(1+e^-6) ≈ 3.99
    clock.tick(3000);
    expect(budget.retryAllowance(half)).to.equal(2); // t=T: N/2
    clock.tick(3000);
    expect(budget.retryAllowance(half)).to.equal(0); // t=6s: ≈ 0.01
    budget.recordAttempt(true);
    expect(budget.retryAllowance(half)).to.equal(Infinity);
  });

  it('rejects invalid options, naming the field and the value', () => {
    expect(() => new RetryBudget({ ratio: -0.1 })).to.throw(/ratio.*-0.1/);
    expect(() => new RetryBudget({ taper: { maxRetries: 3, steepness: 0, midpointMs: 1 } })).to.throw(/taper\.steepness.*0/);
  });
});

describe('cancellation during backoff', () => {
  const pool = useTestPool();

  it('ends the wait at once and leaves no timer behind', async () => {
    const clock = manualClock();
    const controller = new AbortController();
    let pendingWhileWaiting = -1;
    const retry = retryLayer({ maxAttempts: 3, idempotent: true, backoff: { baseMs: 60_000, capMs: 60_000 }, clock, random: () => 0.5 });
    retry.onRetry(() =>
      queueMicrotask(() => {
        pendingWhileWaiting = clock.held();
        controller.abort({ code: grpc.status.CANCELLED, details: 'caller gave up' });
      }),
    );
    const response = await retry(scriptedNext(grpc.status.UNAVAILABLE))(clientCall(undefined, { signal: controller.signal }));
    expect(pendingWhileWaiting).to.equal(1);
    // Nothing left keeps the process alive (the timer queue's timer may stay set, unref'd).
    expect(clock.held()).to.equal(0);
    expect(response.status.code).to.equal(grpc.status.CANCELLED);
  });

  it('a grpc-js client cancel() during backoff ends the call with CANCELLED and clears the timer', async () => {
    const backend = await startFakeBackend('ServiceA');
    pool.defer(() => backend.stop());
    const clock = manualClock();
    const stack = createClientStack({
      retry: { maxAttempts: 3, idempotent: true, backoff: { baseMs: 60_000, capMs: 60_000 }, clock },
      breaker: false,
    });
    const client = pool.track(orderClient([backend.address], stack.interceptors));
    const done = new Promise<grpc.ServiceError | null>((resolve) => {
      const call = client.GetOrder({ id: 'x' }, md({ 'x-test-status': String(grpc.status.UNAVAILABLE) }), (error) => resolve(error));
      stack.retry!.onRetry(() => queueMicrotask(() => call.cancel()));
    });
    const error = await done;
    expect(error?.code).to.equal(grpc.status.CANCELLED);
    // Nothing left keeps the process alive (the timer queue's timer may stay set, unref'd).
    expect(clock.held()).to.equal(0);
    expect(backend.calls).to.have.length(1);
  });
});
