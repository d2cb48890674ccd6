// The benchmark's verdicts come from these computations, so they are checked on call records
// whose answers are known by construction: a wrong metric would be a dishonest benchmark.
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { measure } from '../../bench/metrics.js';
import type { CallRecord } from '../../examples/load.js';

const START = 1_000_000;
const times = { start: START, fault: START + 2000, heal: START + 5000, end: START + 8000 };
const GAP_MS = 2.5; // 400 calls per second

/** One record every 2.5 ms over the run; `shape` decides each call's outcome from its start time. */
function run(shape: (t: number, i: number) => { code?: grpc.status; servedBy?: string; latencyMs?: number }): CallRecord[] {
  const records: CallRecord[] = [];
  for (let i = 0, t = times.start; t < times.end; i++, t += GAP_MS) {
    const { code = grpc.status.OK, servedBy, latencyMs = 1 } = shape(t, i);
    records.push({
      startedAt: t,
      endedAt: t + latencyMs,
      method: 'GetOrder',
      code,
      servedBy: code === grpc.status.OK ? (servedBy ?? (i % 5 === 0 ? 'ServiceB' : 'ServiceA')) : undefined,
      details: undefined,
    });
  }
  return records;
}

describe('bench metrics', () => {
  it('recovery: from the fault to when calls succeed at the old rate with no failure, to the 100 ms', () => {
    // Calls fail for the first 450 ms of the fault, then B answers everything.
    const records = run((t) =>
      t >= times.fault && t < times.fault + 450
        ? { code: grpc.status.UNAVAILABLE }
        : t >= times.fault && t < times.heal
          ? { servedBy: 'ServiceB' }
          : {},
    );
    const m = measure(records, times, records.length, 0);
    expect(m.errors).to.equal(180);
    expect(m.recoverMs).to.equal(500);
    expect(m.shiftMs).to.equal(0);
  });

  it('recovery is "never" while failures go on, and throughput below 90 % of before is not recovered', () => {
    const failing = run((t, i) => (t >= times.fault && t < times.heal && i % 50 === 0 ? { code: grpc.status.UNAVAILABLE } : {}));
    expect(measure(failing, times, null, 0).recoverMs).to.equal(null);
    // Half the calls never finish inside the fault (they end after the heal): no recovery either.
    const slow = run((t, i) => (t >= times.fault && t < times.heal && i % 2 === 0 ? { latencyMs: 5000 } : {}));
    expect(measure(slow, times, null, 0).recoverMs).to.equal(null);
  });

  it('shift: the last call ServiceA got after the fault, or never when it kept getting calls', () => {
    const shifted = run((t) => (t >= times.fault + 30 && t < times.heal ? { servedBy: 'ServiceB' } : {}));
    expect(measure(shifted, times, null, 0).shiftMs).to.equal(27.5);
    const kept = run(() => ({}));
    expect(measure(kept, times, null, 0).shiftMs).to.equal(null);
  });

  it('back to the split: from the heal to the first 250 ms window after which ServiceA has its old share', () => {
    // ServiceA gets nothing until 600 ms after the heal, then 80 % again.
    const records = run((t) => (t >= times.fault && t < times.heal + 600 ? { servedBy: 'ServiceB' } : {}));
    const m = measure(records, times, null, 0);
    expect(m.shareBeforeA).to.equal(80);
    expect(m.backToSplitMs).to.equal(750);
  });

  it('latency during the fault, fail-fast latency in a total outage, and amplification', () => {
    const records = run((t) =>
      t >= times.fault && t < times.heal ? { code: grpc.status.UNAVAILABLE, latencyMs: t < (times.fault + times.heal) / 2 ? 40 : 2 } : {},
    );
    const m = measure(records, times, records.length * 1.5, 3);
    expect(m.p99Ms).to.equal(40);
    expect(m.failFastP99Ms).to.equal(2);
    expect(m.amplification).to.equal(1.5);
    expect(m.duplicateOrders).to.equal(3);
  });

  it("latency: the probes are ServiceA's calls in 250 ms windows where it had under 5 %; p99 without them", () => {
    // During the fault A is slow (200 ms) and gets one call in 40 (2.5 %), except in the first
    // 250 ms, where it still gets its usual 80 % (not probes: the balancer had not noticed yet).
    const records = run((t, i) => {
      if (t < times.fault || t >= times.heal) return {};
      if (t < times.fault + 250) return i % 5 === 0 ? { servedBy: 'ServiceB', latencyMs: 3 } : { servedBy: 'ServiceA', latencyMs: 200 };
      return i % 40 === 0 ? { servedBy: 'ServiceA', latencyMs: 200 } : { servedBy: 'ServiceB', latencyMs: 3 };
    });
    const m = measure(records, times, records.length, 0);
    // 1,200 calls in the fault; 100 in the first window (80 to A); 1,100 after, 1 in 40 to A.
    const probes = records.filter((r) => r.startedAt >= times.fault + 250 && r.startedAt < times.heal && r.servedBy === 'ServiceA').length;
    expect(m.probes).to.equal(probes).and.be.greaterThan(20);
    expect(m.p99Ms).to.equal(200);
    // Without the probes, 80 slow calls remain among 1,200 − probes: still over 1 %.
    expect(m.p99WithoutProbesMs).to.equal(200);
    const later = records.map((r) =>
      r.startedAt < times.fault + 250 && r.servedBy === 'ServiceA' ? { ...r, servedBy: 'ServiceB', endedAt: r.startedAt + 3 } : r,
    );
    const noticed = measure(later, times, later.length, 0);
    expect(noticed.probes).to.equal(probes);
    expect(noticed.p99WithoutProbesMs).to.equal(3);
    expect(noticed.p99Ms).to.equal(200);
  });
});
