// The status page's caller-level line: each call as the caller saw it end, counted where the
// client stack hands back the outcome — refusals of an open breaker and calls that found no
// usable endpoint included.
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createClientStack } from 'grpc-meshlite';
import { callFailure, failedResult, type CallRecorder } from 'grpc-meshlite/layers';
import { makeStatus } from '../../src/call/status.js';
import { BREAKER_OPEN, withCallInfo } from '../../src/interceptors/call-info.js';
import { CallStats } from '../../src/observability/endpoint-stats.js';
import { manualClock } from '../helpers/clock.js';
import { clientCall, scriptedNext } from '../helpers/requests.js';

const { OK, NOT_FOUND, UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED } = grpc.status;

describe('call stats layer (caller-level line)', () => {
  it('counts every call as the caller saw it, refusals of the open breaker as failures with their reason', async () => {
    const clock = manualClock();
    const calls = new CallStats(clock.now());
    const record: CallRecorder = (failure, ms) => calls.record('orders', failure, ms, clock.now());
    let recording = true;
    const stack = createClientStack({
      clock,
      logging: false,
      metrics: false,
      deadline: false,
      retry: false,
      breaker: { volumeThreshold: 4, resetTimeoutMs: 60_000 },
      callStats: () => (recording ? record : undefined),
    });
    try {
      const next = scriptedNext(OK, OK, NOT_FOUND, UNAVAILABLE);
      const codes: grpc.status[] = [];
      for (let i = 0; i < 12; i++) {
        codes.push((await stack.layer(next)(clientCall())).status.code);
        clock.tick(100);
      }
      expect(codes.slice(3)).to.deep.equal(Array.from({ length: 9 }, () => UNAVAILABLE));
      const sent = next.calls;
      expect(sent).to.be.below(12); // the breaker opened and refused the rest without sending them
      const line = calls.window('orders', 10_000, clock.now());
      // NOT_FOUND is an answer, not a failure (as the logs and the endpoints' success judge it).
      expect(line).to.deep.include({ calls: 12, successRate: 3 / 12 });
      expect(line.failures.map((f) => [f.reason, f.count])).to.deep.equal([
        ['UNAVAILABLE: circuit breaker open', 12 - sent],
        ['UNAVAILABLE', sent - 3],
      ]);

      // Without a recorder (no admin page running) the layer steps aside: nothing is counted.
      recording = false;
      await stack.layer(next)(clientCall());
      expect(calls.window('orders', 10_000, clock.now()).calls).to.equal(12);
    } finally {
      stack.close();
    }
  });

  it('names why a call failed in a few stable words: the code, and the mesh reason when there is one', () => {
    const failed = (code: grpc.status, details: string) => failedResult(makeStatus(code, details));
    expect(callFailure(failed(UNAVAILABLE, 'no usable endpoint for orders: ServiceA (127.0.0.1:1) disconnected'))).to.equal(
      'UNAVAILABLE: no usable endpoint',
    );
    expect(callFailure(failed(UNAVAILABLE, 'route "canary": subset "v2" has no usable endpoint (v2-a unhealthy)'))).to.equal(
      'UNAVAILABLE: no usable endpoint',
    );
    expect(callFailure(failed(UNAVAILABLE, 'no endpoints for orders: etcd unavailable'))).to.equal('UNAVAILABLE: no usable endpoint');
    const refusal = 'circuit breaker open for orders.v1.OrderService/GetOrder: a probe call is in flight; not sent';
    expect(callFailure(failedResult(withCallInfo(makeStatus(UNAVAILABLE, refusal), [], BREAKER_OPEN)))).to.equal(
      'UNAVAILABLE: circuit breaker open',
    );
    // The same words from a backend (its own breaker, passed on) are not this client's refusal.
    expect(callFailure(failed(UNAVAILABLE, refusal))).to.equal('UNAVAILABLE');
    expect(
      callFailure(failedResult(withCallInfo(makeStatus(DEADLINE_EXCEEDED, 'Deadline exceeded'), [], "the call's deadline passed"))),
    ).to.equal("DEADLINE_EXCEEDED: the call's deadline passed");
    expect(callFailure(failedResult(withCallInfo(makeStatus(UNAVAILABLE, 'connection refused'), [], 'retry budget exhausted')))).to.equal(
      'UNAVAILABLE: retry budget exhausted',
    );
    // The attempts simply ran out: the code says it.
    expect(callFailure(failedResult(withCallInfo(makeStatus(UNAVAILABLE, 'connection refused'), [], undefined)))).to.equal('UNAVAILABLE');
    // Not failures: an answer, and a call its caller cancelled.
    expect(callFailure(failed(NOT_FOUND, 'no such order'))).to.equal(undefined);
    expect(callFailure(failed(CANCELLED, 'cancelled'))).to.equal(undefined);
    expect(callFailure(failed(OK, ''))).to.equal(undefined);
  });
});
