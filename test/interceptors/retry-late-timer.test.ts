// DESIGN.md's pitfall: after the event loop was held (the app's own CPU work, a long GC), Node
// runs expired timers before the I/O callbacks already waiting. An attempt's timeout or a hedge
// delay that fired late (by more than 2 ms) is no evidence that the answer is missing:
// here the answer is sitting in the socket, and the call takes it instead of cutting the
// attempt (a DEADLINE_EXCEEDED that passive ejection would count) or sending a hedge.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { expect } from 'chai';
import { createClientStack, type RetryEvent } from 'grpc-meshlite';
import type { RetryOptions } from 'grpc-meshlite/layers';
import { getOrder, orderClient } from '../helpers/clients.js';
import { useTestPool } from '../helpers/servers.js';

/**
 * A gRPC backend on its own thread, so that it answers while this thread's event loop is held.
 * It answers every GetOrder at once with an empty Order (`hangFirst`: all but the first,
 * which it never answers). Shared counters: [0] streams opened,
 * [1] answers fully sent; it posts 'request' once a request has fully arrived.
 */
const BACKEND = `
const { parentPort, workerData } = require('node:worker_threads');
const http2 = require('node:http2');
const counters = new Int32Array(workerData.counters);
const server = http2.createServer();
const sessions = new Set();
server.on('session', (session) => {
  sessions.add(session);
  session.on('close', () => sessions.delete(session));
});
server.on('stream', (stream) => {
  const index = Atomics.add(counters, 0, 1);
  stream.resume();
  stream.on('end', () => {
    parentPort.postMessage('request');
    if (workerData.hangFirst && index === 0) return; // a hung backend, for the first request only
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.alloc(5));
  });
  stream.on('close', () => Atomics.add(counters, 1, 1));
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
parentPort.once('message', () => {
  server.close();
  for (const session of sessions) session.destroy();
  parentPort.close();
});
`;

/** The timeout or hedge delay under test: far longer than a request takes to reach the backend. */
const TIMER_MS = 200;

describe('retry: a timer that fired late because the event loop was held', function () {
  this.timeout(20_000);
  const pool = useTestPool();

  /** One call while the app holds the event loop for `heldMs` from its start (past the timer's due time), its answer in the socket. */
  async function oneHeldCall(retry: RetryOptions, heldMs = 3 * TIMER_MS, hangFirst = false) {
    const counters = new Int32Array(new SharedArrayBuffer(8));
    const backend = new Worker(BACKEND, { eval: true, workerData: { counters: counters.buffer, hangFirst } });
    // Stopped from inside: Node aborts a worker terminated while an HTTP/2 session reads.
    pool.defer(async () => {
      backend.postMessage('stop');
      await once(backend, 'exit');
    });
    const [port] = (await once(backend, 'message')) as [number];
    const stack = createClientStack({ retry: { maxAttempts: 3, budget: false, ...retry }, breaker: false });
    pool.defer(() => stack.close());
    const events: RetryEvent[] = [];
    stack.retry!.onRetry((event) => events.push(event));
    const client = pool.track(orderClient([`127.0.0.1:${port}`], stack.interceptors));
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 5000, (error) => (error ? reject(error) : resolve())));

    const sentAt = Date.now();
    const answer = getOrder(client, {}, { deadline: sentAt + 10_000 });
    await once(backend, 'message'); // the request has reached the backend
    const arrivedAfterMs = Date.now() - sentAt;
    // The app's own CPU work holds the event loop until the answer is in the socket and the
    // timer is late (due at TIMER_MS).
    const until = () => (hangFirst || Atomics.load(counters, 1) > 0) && Date.now() - sentAt > heldMs;
    while (!until() && Date.now() - sentAt < 10_000) continue;
    await answer;
    return { arrivedAfterMs, requests: Atomics.load(counters, 0), events: events.map((event) => event.kind) };
  }

  const hedged: RetryOptions = {
    methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true, hedging: { delayMs: TIMER_MS, maxAttempts: 2 } } },
  };

  it('does not cut an attempt whose answer is in the socket', async () => {
    const { arrivedAfterMs, requests, events } = await oneHeldCall({ idempotent: true, perAttemptTimeoutMs: TIMER_MS });
    expect(arrivedAfterMs, 'the request reached the backend before the timeout was due').to.be.below(TIMER_MS);
    expect({ requests, events }).to.deep.equal({ requests: 1, events: [] });
  });

  it('sends no hedge for an answer that is in the socket', async () => {
    const { arrivedAfterMs, requests, events } = await oneHeldCall(hedged);
    expect(arrivedAfterMs, 'the request reached the backend before the hedge was due').to.be.below(TIMER_MS);
    expect({ requests, events }).to.deep.equal({ requests: 1, events: [] });
  });

  // A client busy with many calls holds its loop a little at a time: the timer is late by a
  // fraction of its length, and the answer that came meanwhile is unread all the same.
  it('sends no hedge, and cuts no attempt, for an answer in the socket when the timer is late by a fraction of its length', async () => {
    const held = TIMER_MS + TIMER_MS / 4;
    const hedge = await oneHeldCall(hedged, held);
    const cut = await oneHeldCall({ idempotent: true, perAttemptTimeoutMs: TIMER_MS }, held);
    for (const { arrivedAfterMs } of [hedge, cut])
      expect(arrivedAfterMs, 'the request reached the backend before the timer was due').to.be.below(TIMER_MS);
    expect([hedge, cut].map(({ requests, events }) => ({ requests, events }))).to.deep.equal([
      { requests: 1, events: [] },
      { requests: 1, events: [] },
    ]);
  });

  // The one more turn is taken once: with no answer in the socket, the hedge goes out then.
  it('still hedges an attempt whose backend hangs when the timer fired late', async () => {
    const { requests, events } = await oneHeldCall(hedged, TIMER_MS + TIMER_MS / 4, true);
    expect({ requests, events }).to.deep.equal({ requests: 2, events: ['hedge'] });
  });
});
