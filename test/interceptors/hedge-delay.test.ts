// The adaptive hedge delay: a hedged method waits for its answers' recent p99 when that is
// longer than the configured delay, on a hand-advanced clock, through the retry layer as a
// caller uses it.
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { ClientCall, ClientNext, ClientResult } from 'grpc-meshlite/layers';
import { HedgeDelay, MIN_SAMPLES } from '../../src/interceptors/retry/hedge-delay.js';
import { retryLayer, type RetryOptions } from '../../src/interceptors/retry/retry.js';
import { manualClock } from '../helpers/clock.js';
import { clientCall, response } from '../helpers/requests.js';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('the adaptive hedge delay', () => {
  const adaptive = { percentile: 99, windowMs: 10_000 };

  it('waits for the configured delay until it has heard enough answers', () => {
    const delay = new HedgeDelay(60, 150, adaptive, 0);
    for (let i = 0; i < MIN_SAMPLES - 1; i++) delay.record(100, i);
    expect(delay.delayMs(1000)).to.equal(60);
    delay.record(100, 1000);
    expect(delay.delayMs(1200)).to.be.within(100, 110);
  });

  it("waits for the answers' p99 when it is longer, within the per-attempt timeout", () => {
    const delay = new HedgeDelay(20, 150, adaptive, 0);
    // 98 % answer in 10 ms, 2 % in 80 ms: the p99 is the slow ones'.
    for (let i = 0; i < 1000; i++) delay.record(i % 50 === 0 ? 80 : 10, i);
    expect(delay.delayMs(1000)).to.be.within(80, 88);
    for (let i = 0; i < 1000; i++) delay.record(400, 1000 + i);
    expect(delay.delayMs(2200)).to.equal(150);
  });

  it('keeps the configured delay when answers are faster than it', () => {
    const delay = new HedgeDelay(60, 150, adaptive, 0);
    for (let i = 0; i < 1000; i++) delay.record(5, i);
    expect(delay.delayMs(1000)).to.equal(60);
  });

  it('forgets answers older than its window', () => {
    const delay = new HedgeDelay(20, undefined, adaptive, 0);
    for (let i = 0; i < 500; i++) delay.record(100, i);
    expect(delay.delayMs(1000)).to.be.within(100, 110);
    // Half a window later the old half still counts; a whole window later nothing does.
    expect(delay.delayMs(6000)).to.be.within(100, 110);
    expect(delay.delayMs(11_000)).to.equal(20);
    expect(delay.samples).to.equal(0);
  });

  describe('through the retry layer', () => {
    interface Held {
      readonly call: ClientCall;
      answer(result: ClientResult): void;
    }

    function setup(hedging: NonNullable<NonNullable<RetryOptions['methods']>[string]['hedging']>) {
      const clock = manualClock();
      const layer = retryLayer({
        clock,
        random: () => 0.5,
        budget: false,
        methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true, hedging } },
      });
      let hedges = 0;
      layer.onRetry((event) => event.kind === 'hedge' && hedges++);
      const sent: Held[] = [];
      const next: ClientNext = (call) =>
        new Promise<ClientResult>((resolve) => {
          sent.push({ call, answer: resolve });
          call.signal.addEventListener('abort', () => resolve(response(grpc.status.CANCELLED)));
        });
      const run = layer(next);
      /** One call whose first attempt answers OK after `ms`. */
      const answeredAfter = async (ms: number) => {
        const first = sent.length;
        const answer = run(clientCall());
        clock.tick(ms);
        await flush();
        sent[first]!.answer(response(grpc.status.OK));
        expect((await answer).status.code).to.equal(grpc.status.OK);
      };
      return { clock, run, sent, answeredAfter, hedges: () => hedges };
    }

    it('stops hedging a busy but healthy method at its configured delay once its answers say it is slower', async () => {
      const { answeredAfter, hedges } = setup({ delayMs: 20, maxAttempts: 2 });
      // A service whose every answer takes 50 ms: at first each call is hedged at 20 ms.
      for (let i = 0; i < 10; i++) await answeredAfter(50);
      expect(hedges()).to.equal(10);
      for (let i = 0; i < MIN_SAMPLES + 10; i++) await answeredAfter(50);
      const before = hedges();
      for (let i = 0; i < 50; i++) await answeredAfter(50);
      expect(hedges() - before).to.equal(0);
    });

    it('still hedges at its p99 a call whose answer does not come', async () => {
      const { clock, run, sent, answeredAfter, hedges } = setup({ delayMs: 20, maxAttempts: 2 });
      for (let i = 0; i < MIN_SAMPLES + 10; i++) await answeredAfter(50);
      const before = hedges();
      const first = sent.length;
      const answer = run(clientCall());
      clock.tick(50);
      expect(hedges() - before).to.equal(0);
      clock.tick(10); // past 50 ms's bucket (≤ 55 ms)
      expect(hedges() - before).to.equal(1);
      sent[first + 1]!.answer(response(grpc.status.OK));
      expect((await answer).status.code).to.equal(grpc.status.OK);
    });

    it('keeps the delay fixed with adaptive: false', async () => {
      const { answeredAfter, hedges } = setup({ delayMs: 20, maxAttempts: 2, adaptive: false });
      for (let i = 0; i < MIN_SAMPLES + 60; i++) await answeredAfter(50);
      expect(hedges()).to.equal(MIN_SAMPLES + 60);
    });
  });
});
