import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RetryEvent } from 'grpc-meshlite';
import { silentLogger } from '../../src/observability/logger.js';
import { startBackend } from '../../examples/backend.js';
import { MemoryOrderStore, type NewOrder } from '../../examples/order-store.js';
import { callUnary, type Order } from '../../examples/orders.js';
import { md, seededRandom } from '../helpers/clients.js';
import { readyMeshClient } from '../helpers/mesh.js';
import { useTestPool } from '../helpers/servers.js';

/** The store both backends share (a database, in real life), counting every create it is asked for. */
class CountingStore extends MemoryOrderStore {
  requests = 0;
  override create(order: NewOrder) {
    this.requests++;
    return super.create(order);
  }
}

describe('exactly-once CreateOrder through retries, hedges and failovers', function () {
  this.timeout(30_000);
  const pool = useTestPool();

  it('creates every order exactly once while ServiceA is slow, flaky, and then killed', async () => {
    const store = new CountingStore();
    const start = async (name: string) => {
      const backend = await startBackend({ name, port: 0, store, logger: silentLogger, random: seededRandom(7) });
      pool.defer(() => backend.forceStop());
      await backend.ready;
      return backend;
    };
    const [a, b] = [await start('ServiceA'), await start('ServiceB')];
    const { client } = await readyMeshClient(
      pool,
      {
        config: {
          services: {
            orders: {
              endpoints: [
                { name: 'ServiceA', address: a.address, weight: 50 },
                { name: 'ServiceB', address: b.address, weight: 50 },
              ],
              healthCheck: { serviceName: 'orders.v1.OrderService', probeIntervalMs: 100, probeTimeoutMs: 100 },
              balancer: { ejection: { consecutiveFailures: 3, baseEjectionMs: 100 }, slowStart: { windowMs: 0 } },
              client: {
                retry: {
                  maxAttempts: 4,
                  perAttemptTimeoutMs: 300,
                  backoff: { baseMs: 1, capMs: 10 },
                  budget: { minRetriesPerSecond: 1000 },
                  // Safe to repeat because the server honours the idempotency key.
                  methods: { 'orders.v1.OrderService/CreateOrder': { idempotent: true, hedging: { delayMs: 15, maxAttempts: 3 } } },
                },
                breaker: { volumeThreshold: 10_000 },
              },
            },
          },
        },
      },
      ['ServiceA', 'ServiceB'],
    );
    const retries: RetryEvent[] = [];
    client.stack.retry!.onRetry((event) => retries.push(event));

    // ServiceA does the work and never answers in time (every call that reaches it is hedged,
    // and the hedge reaches ServiceB with the same key), and fails some of its calls at once
    // (retries fire); a seeded draw decides which.
    a.faults.replyDelayMs = 60_000;
    a.faults.failRate = 0.3;
    const keys = Array.from({ length: 80 }, (_, i) => `order-${i}`);
    const answers = new Map<string, Order>();
    const errors: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        if (next === 40) a.forceStop(); // and halfway through, ServiceA dies
        try {
          const order = await callUnary(
            client.CreateOrder,
            client,
            { idempotency_key: key, item: 'book', quantity: 1 },
            md({ 'idempotency-key': key }),
            { deadline: Date.now() + 10_000 },
          );
          answers.set(key, order);
        } catch (error) {
          errors.push((error as grpc.ServiceError).details);
        }
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));

    expect(errors).to.deep.equal([]);
    expect(answers.size).to.equal(keys.length);
    for (const [key, order] of answers) expect(order.idempotency_key).to.equal(key);
    // Retries and hedges did send the same orders more than once: every order ServiceA made
    // was answered by ServiceB, which found it under its key instead of making another...
    const madeByA = [...answers.values()].filter((order) => order.created_by === 'ServiceA');
    expect(madeByA.length).to.be.at.least(1);
    expect(madeByA.map((order) => order.served_by)).to.deep.equal(madeByA.map(() => 'ServiceB'));
    expect(retries.filter((r) => r.kind === 'hedge').length).to.be.at.least(madeByA.length);
    expect(store.requests).to.be.at.least(keys.length + madeByA.length);
    // ...and still every order exists exactly once.
    expect(store.count()).to.equal(keys.length);
    expect(new Set([...answers.values()].map((o) => o.id)).size).to.equal(keys.length);
  });
});
