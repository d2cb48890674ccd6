// What the status page reads of recent traffic: a service's calls as its callers saw them and
// an endpoint's attempts, in one-second buckets, under a hand-advanced clock.
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { CallStats, EndpointStats } from '../../src/observability/endpoint-stats.js';
import { manualClock } from '../helpers/clock.js';

const BREAKER = 'UNAVAILABLE: circuit breaker open';
const NO_ENDPOINT = 'UNAVAILABLE: no usable endpoint';

describe('recent calls and attempts (status page figures)', () => {
  it("gives a service's calls/s, success, failed calls/s by reason and the call's p50/p99 over 10 s", () => {
    const clock = manualClock(1_000_000);
    const calls = new CallStats(clock.now());
    // 10 s at 20 calls/s: 18 of each second's calls answer in 4 ms, 2 fail: one refused by the
    // breaker, one for want of an endpoint, both at once (0.1 ms).
    for (let s = 0; s < 10; s++) {
      for (let i = 0; i < 20; i++) {
        const failure = i === 0 ? BREAKER : i === 1 ? NO_ENDPOINT : undefined;
        calls.record('orders', failure, failure ? 0.1 : 4, clock.now());
        clock.tick(50);
      }
    }
    const line = calls.window('orders', 10_000, clock.now());
    expect(line).to.deep.include({ calls: 200, perSecond: 20, successRate: 0.9, failedPerSecond: 2, stale: false });
    expect(line.failures).to.deep.equal([
      { reason: BREAKER, count: 10, perSecond: 1 },
      { reason: NO_ENDPOINT, count: 10, perSecond: 1 },
    ]);
    // The histogram's resolution: within 5 % of the true figures.
    expect(line.p50Ms).to.be.within(3.8, 4.2);
    expect(line.p99Ms).to.be.within(3.8, 4.2);
    expect(calls.window('payments', 10_000, clock.now())).to.deep.include({ calls: 0, successRate: null, p50Ms: null, stale: false });
  });

  it('says "every call is failing" in an outage, with the calls/s the callers still make', () => {
    const clock = manualClock(1_000_000);
    const calls = new CallStats(clock.now());
    const stats = new EndpointStats(clock.now());
    // 10 s of health: every call served by ServiceA in 3 ms.
    for (let i = 0; i < 1000; i++) {
      calls.record('orders', undefined, 3, clock.now());
      stats.record('orders', 'a:1', grpc.status.OK, 3, clock.now());
      clock.tick(10);
    }
    // The outage: nothing reaches an endpoint; the callers' calls fail at once.
    for (let i = 0; i < 1000; i++) {
      calls.record('orders', i % 4 === 0 ? NO_ENDPOINT : BREAKER, 0.2, clock.now());
      clock.tick(10);
    }
    const line = calls.window('orders', 10_000, clock.now());
    expect(line).to.deep.include({ calls: 1000, perSecond: 100, successRate: 0, failedPerSecond: 100, stale: false });
    expect(line.failures.map((f) => [f.reason, f.perSecond])).to.deep.equal([
      [BREAKER, 75],
      [NO_ENDPOINT, 25],
    ]);
  });

  it('marks an endpoint stale when it had attempts in the window but none in the last 2 s, then empties it', () => {
    const clock = manualClock(1_000_000);
    const stats = new EndpointStats(clock.now());
    for (let i = 0; i < 100; i++) {
      clock.tick(10);
      stats.record('orders', 'a:1', i < 2 ? grpc.status.UNAVAILABLE : grpc.status.OK, 5, clock.now());
    }
    expect(stats.window('orders', 'a:1', 10_000, clock.now())).to.deep.include({ attempts: 100, successRate: 0.98, stale: false });
    clock.tick(2_000);
    expect(stats.window('orders', 'a:1', 10_000, clock.now())).to.deep.include({ stale: false });
    clock.tick(500);
    // Its last attempt 2.5 s ago: the 98 % is the past, and the window says so.
    expect(stats.window('orders', 'a:1', 10_000, clock.now())).to.deep.include({ attempts: 100, stale: true, lastAttemptAgoMs: 2_500 });
    clock.tick(10_000);
    expect(stats.window('orders', 'a:1', 10_000, clock.now())).to.deep.include({ attempts: 0, successRate: null, stale: false });
    // Two minutes with nothing: forgotten (addresses come and go with pods).
    clock.tick(120_000);
    stats.prune(clock.now());
    expect(stats.window('orders', 'a:1', 10_000, clock.now()).lastAttemptAgoMs).to.equal(null);
  });

  it('keeps two minutes per second, so four faults of a few seconds show as four, not one plateau', () => {
    const clock = manualClock(1_000_000);
    const calls = new CallStats(clock.now());
    // 120 s at 10 calls/s; seconds 10–14, 40–44, 70–74 and 100–104 fail every call.
    const faulty = (second: number) => [10, 40, 70, 100].some((start) => second >= start && second < start + 5);
    for (let second = 0; second < 120; second++) {
      for (let i = 0; i < 10; i++) {
        calls.record('orders', faulty(second) ? 'UNAVAILABLE' : undefined, 2, clock.now());
        clock.tick(100);
      }
    }
    const history = calls.history('orders', 120, clock.now());
    expect(history.end).to.equal(clock.now());
    expect(history.count).to.deep.equal(Array.from({ length: 120 }, () => 10));
    expect(history.failed).to.deep.equal(Array.from({ length: 120 }, (_, second) => (faulty(second) ? 10 : 0)));
  });

  it('gives the rate over the time since recording started when that is shorter than the window', () => {
    const clock = manualClock(1_000_000);
    const calls = new CallStats(clock.now());
    for (let i = 0; i < 60; i++) {
      calls.record('orders', undefined, 1, clock.now());
      clock.tick(50);
    }
    // 60 calls in 3 s: 20/s, not 6/s over a 10 s window the page has not been running for.
    expect(calls.window('orders', 10_000, clock.now()).perSecond).to.equal(20);
  });
});
