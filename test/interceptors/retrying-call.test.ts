// The attempt engine that runs retries and hedges, on a hand-advanced clock over a `next` whose
// attempts the test answers one by one: what a caller and a backend would notice.
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { ClientCall, ClientNext, ClientResult } from 'grpc-meshlite/layers';
import { meshCallInfo } from '../../src/interceptors/call-info.js';
import { retryLayer, type RetryOptions } from '../../src/interceptors/retry/retry.js';
import { stopNote, type StopReason } from '../../src/interceptors/retry/stop-reason.js';
import { manualClock } from '../helpers/clock.js';
import { clientCall, response } from '../helpers/requests.js';

interface SentAttempt {
  readonly call: ClientCall;
  answer(result: ClientResult): void;
}

/** A `next` that holds every attempt until the test answers it; an aborted attempt ends with the abort's status. */
function heldNext() {
  const sent: SentAttempt[] = [];
  const next: ClientNext = (call) =>
    new Promise<ClientResult>((resolve) => {
      sent.push({ call, answer: resolve });
      call.signal.addEventListener('abort', () => {
        const reason = call.signal.reason as grpc.StatusObject;
        resolve({ ...response(reason.code), status: { ...reason, metadata: new grpc.Metadata() } });
      });
    });
  return { next, sent };
}

function withPushback(code: grpc.status, ms: string): ClientResult {
  const result = response(code);
  result.status.metadata.set('grpc-retry-pushback-ms', ms);
  return result;
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('the attempt engine (retries and hedges)', () => {
  function setup(options: RetryOptions) {
    const clock = manualClock();
    const layer = retryLayer({ clock, random: () => 0.5, budget: false, ...options });
    const kinds: string[] = [];
    layer.onRetry((event) => kinds.push(`${event.kind} after ${grpc.status[event.code]}, ${event.delayMs} ms`));
    const { next, sent } = heldNext();
    return { clock, layer: layer(next), sent, kinds, budget: layer.budget, hedgeLimit: layer.hedgeLimit };
  }

  const hedged = (hedging: { delayMs: number; maxAttempts: number }) => ({
    methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true, hedging } },
  });

  it('says nothing stopped a call that succeeded after a retry', async () => {
    const { clock, layer, sent, kinds } = setup({ maxAttempts: 3, idempotent: true, backoff: { baseMs: 10, capMs: 10 } });
    const answer = layer(clientCall());
    sent[0]!.answer(response(grpc.status.UNAVAILABLE));
    await flush();
    expect(kinds).to.deep.equal(['retry after UNAVAILABLE, 5 ms']);
    expect(sent).to.have.length(1); // waiting out its backoff
    clock.tick(5);
    await flush();
    sent[1]!.answer(response(grpc.status.OK));
    const info = meshCallInfo((await answer).status);
    expect(info).to.deep.include({ attempts: 2, stoppedBecause: undefined });
  });

  it('replaces an attempt cut by its timeout only once it has ended, never beside it', async () => {
    const { clock, layer, sent, kinds } = setup({ maxAttempts: 3, idempotent: true, perAttemptTimeoutMs: 100 });
    const answer = layer(clientCall());
    clock.tick(100);
    expect(sent[0]!.call.signal.aborted).to.equal(true);
    expect(sent).to.have.length(1);
    // The cut attempt's status comes back first; only then does the next one go, at once.
    await flush();
    expect(sent).to.have.length(2);
    expect(kinds).to.deep.equal(['retry after DEADLINE_EXCEEDED, 0 ms']);
    sent[1]!.answer(response(grpc.status.OK));
    const result = await answer;
    expect(result.status.code).to.equal(grpc.status.OK);
    expect(meshCallInfo(result.status)?.tries.map((t) => t.codeName)).to.deep.equal(['DEADLINE_EXCEEDED', 'OK']);
  });

  it('cuts a hedged attempt that outlived its timeout while its hedge runs on, without a replacement', async () => {
    const { clock, layer, sent, kinds } = setup({
      maxAttempts: 3,
      perAttemptTimeoutMs: 100,
      methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true, hedging: { delayMs: 60, maxAttempts: 3 } } },
    });
    const answer = layer(clientCall());
    clock.tick(60); // the hedge
    clock.tick(40); // the first attempt's 100 ms: its hedge carries the call
    await flush();
    expect(sent.map((attempt) => attempt.call.signal.aborted)).to.deep.equal([true, false]);
    expect(kinds).to.deep.equal(['hedge after OK, 0 ms']);
    sent[1]!.answer(response(grpc.status.OK));
    expect((await answer).status.code).to.equal(grpc.status.OK);
    // Nothing left keeps the process alive (the timer queue's timer may stay set, unref'd).
    expect(clock.held()).to.equal(0);
  });

  it("ends a hedged call at once when the caller cancels during the server's pushback, sending nothing more", async () => {
    const { clock, layer, sent, kinds } = setup({
      maxAttempts: 3,
      methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true, hedging: { delayMs: 60, maxAttempts: 3 } } },
    });
    const controller = new AbortController();
    const answer = layer(clientCall(undefined, { signal: controller.signal }));
    sent[0]!.answer(withPushback(grpc.status.UNAVAILABLE, '1000'));
    await flush();
    expect(kinds).to.deep.equal(['retry after UNAVAILABLE, 1000 ms']);
    controller.abort({ code: grpc.status.CANCELLED, details: 'caller gave up' });
    const result = await answer;
    expect([result.status.code, result.status.details]).to.deep.equal([grpc.status.CANCELLED, 'caller gave up']);
    // Nothing left keeps the process alive (the timer queue's timer may stay set, unref'd).
    expect(clock.held()).to.equal(0);
    clock.tick(1000);
    expect(sent).to.have.length(1);
  });

  for (const [maxAttempts, left] of [
    [2, 'on its last attempt'],
    [3, 'with an attempt left'],
  ] as const) {
    it(`ends a hedged call at once when the server says not to retry, ${left}`, async () => {
      // Whether or not maxAttempts would allow another attempt, "don't retry" is the answer.
      const { clock, layer, sent } = setup(hedged({ delayMs: 50, maxAttempts }));
      let endedAt: number | undefined;
      const answer = layer(clientCall()).then((result) => ((endedAt = clock.now()), result));
      const start = clock.now();
      clock.tick(50); // the hedge
      clock.tick(10);
      sent[1]!.answer(withPushback(grpc.status.UNAVAILABLE, '-1'));
      await flush();
      expect(endedAt, 'the call ended at once, at 60 ms').to.equal(start + 60);
      expect(sent[0]!.call.signal.aborted, 'the first attempt cancelled').to.equal(true);
      const result = await answer;
      expect(result.status.code).to.equal(grpc.status.UNAVAILABLE);
      expect(meshCallInfo(result.status)?.stoppedBecause).to.equal('server pushback said not to retry');
    });
  }

  it("sends a hedged call's next attempt after the server's pushback even when another hedge fails meanwhile", async () => {
    const { clock, layer, sent, kinds, budget } = setup({
      ...hedged({ delayMs: 30, maxAttempts: 3 }),
      budget: { ratio: 0, minRetriesPerSecond: 1, ttlMs: 10_000 }, // ten grants: never the limit
    });
    const answer = layer(clientCall());
    clock.tick(30); // the hedge
    sent[0]!.answer(withPushback(grpc.status.UNAVAILABLE, '20'));
    sent[1]!.answer(response(grpc.status.UNAVAILABLE));
    await flush();
    // The retry waiting out the pushback is the next attempt for both failures: nothing goes
    // before the server's 20 ms, and one attempt takes one grant.
    expect(sent).to.have.length(2);
    clock.tick(19);
    expect(sent).to.have.length(2);
    clock.tick(1);
    expect(sent).to.have.length(3);
    expect(kinds).to.deep.equal(['hedge after OK, 0 ms', 'retry after UNAVAILABLE, 20 ms']);
    expect(budget!.snapshot().retries).to.equal(2);
    sent[2]!.answer(response(grpc.status.OK));
    const result = await answer;
    expect(meshCallInfo(result.status)?.tries.map((t) => t.codeName)).to.deep.equal(['UNAVAILABLE', 'UNAVAILABLE', 'OK']);
  });

  it('lets the last attempt not yet cut run on when both a hedge and its sibling outlive their timeout', async () => {
    const { clock, layer, sent } = setup({
      maxAttempts: 3,
      perAttemptTimeoutMs: 100,
      budget: { ratio: 0, minRetriesPerSecond: 0.1, ttlMs: 10_000 }, // one retry or hedge in all
      methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true, hedging: { delayMs: 0, maxAttempts: 3 } } },
    });
    const answer = layer(clientCall());
    // The hedge goes at once and takes the budget's only grant; at 100 ms both are due: one
    // is cut, and the other is the call's last hope.
    clock.tick(100);
    await flush();
    expect(sent.map((attempt) => attempt.call.signal.aborted)).to.deep.equal([true, false]);
    sent[1]!.answer(response(grpc.status.OK));
    expect((await answer).status.code).to.equal(grpc.status.OK);
  });

  it('holds a burst of hedges to a tenth of the calls in flight (at least 3), and sends the held ones a delay later', async () => {
    const { clock, layer, sent, kinds, hedgeLimit } = setup(hedged({ delayMs: 10, maxAttempts: 2 }));
    // 40 calls wait at once on a pair that is slow for all of them (a load that starts at once).
    const answers = Array.from({ length: 40 }, () => layer(clientCall()));
    clock.tick(10);
    await flush();
    expect(sent).to.have.length(44); // 4 hedges: 10 % of 40 calls
    expect(hedgeLimit!.snapshot()).to.deep.equal({ callsInFlight: 40, hedgesInFlight: 4, heldBack: 36 });
    for (const hedge of sent.slice(40)) hedge.answer(response(grpc.status.OK));
    await flush();
    expect(hedgeLimit!.snapshot()).to.include({ callsInFlight: 36, hedgesInFlight: 0 });
    // The calls held back try again a delay later, four at a time again (3.6, but never below 3).
    clock.tick(10);
    await flush();
    expect(sent).to.have.length(48);
    expect(kinds.filter((kind) => kind.startsWith('hedge'))).to.have.length(8);
    for (const attempt of sent.slice(0, 40)) attempt.answer(response(grpc.status.OK));
    for (const hedge of sent.slice(44)) hedge.answer(response(grpc.status.OK));
    for (const answer of answers) expect((await answer).status.code).to.equal(grpc.status.OK);
    expect(hedgeLimit!.snapshot()).to.include({ callsInFlight: 0, hedgesInFlight: 0 });
  });

  it('sends every hedge of a burst with `hedgeLimit: false`, and the first three whatever the share', async () => {
    const unbounded = setup({ ...hedged({ delayMs: 10, maxAttempts: 2 }), hedgeLimit: false });
    for (let i = 0; i < 40; i++) void unbounded.layer(clientCall());
    unbounded.clock.tick(10);
    await flush();
    expect(unbounded.sent).to.have.length(80);
    expect(unbounded.hedgeLimit).to.equal(undefined);
    // Two calls alone: 10 % of them is no hedge, the floor of 3 lets both hedge (a hung endpoint's).
    const few = setup(hedged({ delayMs: 10, maxAttempts: 2 }));
    for (let i = 0; i < 2; i++) void few.layer(clientCall());
    few.clock.tick(10);
    await flush();
    expect(few.sent).to.have.length(4);
  });

  it("gives a routed call's attempts a hint of their own, for the destination layer to route, and frees each as it ends", async () => {
    const { clock, layer, sent } = setup({ maxAttempts: 2, idempotent: true, routingHints: true, backoff: { baseMs: 2, capMs: 2 } });
    const route = { name: 'canary', config: { fallback: 'any' as const }, chooseSubset: () => 'v2' };
    const routed = { route, nextSubset: () => 'v2', meetsFault: () => true, faulted: () => {} };
    const answer = layer(clientCall(undefined, { route: routed }));
    const first = sent[0]!.call.hint!;
    first.routeTo({ route: 'canary', subset: 'v2', fallback: 'any' });
    sent[0]!.answer(response(grpc.status.UNAVAILABLE));
    await flush();
    expect(first.destination()).to.equal(undefined); // released with its attempt
    clock.tick(1); // the backoff
    expect(sent[1]!.call.hint).to.not.equal(undefined);
    sent[1]!.answer(response(grpc.status.OK));
    expect((await answer).status.code).to.equal(grpc.status.OK);
    // An unrouted plain retry still sends its first attempt as the call itself, without a hint.
    void layer(clientCall());
    expect(sent[2]!.call.hint).to.equal(undefined);
  });

  it('words every reason to stop in one place, in the words callers match', () => {
    const notes: Record<StopReason, string | undefined> = {
      cancelled: 'cancelled',
      'deadline-passed': "the call's deadline passed",
      'not-retryable': 'NOT_FOUND is not retryable',
      'not-safe-to-repeat': 'not idempotent and it may have reached the server',
      'stream-delivered': 'the stream already delivered messages',
      'pushback-stop': 'server pushback said not to retry',
      'attempts-exhausted': undefined,
      'allowance-tapered': 'retry allowance tapered',
      'no-time-left': 'no time left before the deadline',
      'budget-exhausted': 'retry budget exhausted',
    };
    for (const [reason, note] of Object.entries(notes))
      expect(stopNote(reason as StopReason, grpc.status.NOT_FOUND), reason).to.equal(note);
  });
});
