// The grpc-js contract kept: what the user passes runs, and nothing private reaches the wire.
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createClientStack, meshCallInfo, type MeshConfigInput } from 'grpc-meshlite';
import { getOrder, orderClient } from '../helpers/clients.js';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.js';
import { readyMeshClient } from '../helpers/mesh.js';
import { expectGrpcError, useTestPool } from '../helpers/servers.js';

const SERVICE = 'orders.v1.OrderService';

describe('the grpc-js contract', () => {
  const pool = useTestPool();

  async function pair(): Promise<[FakeBackend, FakeBackend]> {
    const started = await Promise.all([startFakeBackend('ServiceA'), startFakeBackend('ServiceB')]);
    for (const backend of started) pool.defer(() => backend.stop());
    return started as [FakeBackend, FakeBackend];
  }

  const config = (a: FakeBackend, b: FakeBackend): MeshConfigInput => ({
    services: {
      orders: {
        endpoints: [
          { name: 'ServiceA', address: a.address },
          { name: 'ServiceB', address: b.address },
        ],
        healthCheck: { serviceName: SERVICE, probeIntervalMs: 0 },
        balancer: { slowStart: { windowMs: 0 } },
        client: { retry: { maxAttempts: 3, idempotent: true, backoff: { baseMs: 1, capMs: 1 } } },
      },
    },
  });

  /** An interceptor that adds `header: value` and counts the calls it saw. */
  function tagging(header: string, value: string) {
    const seen = { calls: 0 };
    const interceptor: grpc.Interceptor = (options, nextCall) =>
      new grpc.InterceptingCall(nextCall(options), {
        start(metadata, listener, next) {
          seen.calls++;
          metadata.set(header, value);
          next(metadata, listener);
        },
      });
    return { interceptor, seen };
  }

  const headerOf = (backend: FakeBackend, header: string) => backend.calls.map((call) => call.metadata.get(header).map(String)[0]);

  describe('what the user passes to mesh.client()', () => {
    it('runs client-level interceptors once per call, before the stack: their header goes out on every retry', async () => {
      const [a, b] = await pair();
      const auth = tagging('authorization', 'Bearer t');
      const { client } = await readyMeshClient(pool, { config: config(a, b) }, ['ServiceA', 'ServiceB'], {
        clientOptions: { interceptors: [auth.interceptor] },
      });
      // Each backend fails the first call with this key: attempts 1 and 2 fail, 3 succeeds.
      await getOrder(client, { 'x-test-fail-times': '1', 'x-test-key': 'auth' });
      expect(auth.seen.calls).to.equal(1);
      expect([...headerOf(a, 'authorization'), ...headerOf(b, 'authorization')]).to.deep.equal(['Bearer t', 'Bearer t', 'Bearer t']);
    });

    it('runs interceptor providers too', async () => {
      const [a, b] = await pair();
      const tag = tagging('x-tag', 'provided');
      const { client } = await readyMeshClient(pool, { config: config(a, b) }, ['ServiceA', 'ServiceB'], {
        clientOptions: { interceptor_providers: [() => tag.interceptor] },
      });
      await getOrder(client, { 'x-test-fail-times': '1', 'x-test-key': 'provider' });
      expect(tag.seen.calls).to.equal(1);
      expect([...headerOf(a, 'x-tag'), ...headerOf(b, 'x-tag')]).to.deep.equal(['provided', 'provided', 'provided']);
    });

    it('keeps the stack on a call made with its own interceptors (which replace the client-level ones, as in grpc-js)', async () => {
      const [a, b] = await pair();
      const clientLevel = tagging('x-client-level', 'yes');
      const callLevel = tagging('x-call-level', 'yes');
      const { client } = await readyMeshClient(pool, { config: config(a, b) }, ['ServiceA', 'ServiceB'], {
        clientOptions: { interceptors: [clientLevel.interceptor] },
      });
      const order = await getOrder(client, { 'x-test-fail-times': '1', 'x-test-key': 'call-level' }, { interceptors: [callLevel.interceptor] });
      expect(order.served_by).to.be.oneOf(['ServiceA', 'ServiceB']);
      expect(a.calls.length + b.calls.length).to.equal(3); // retried: the stack ran
      expect([callLevel.seen.calls, clientLevel.seen.calls]).to.deep.equal([1, 0]);
    });

    it("runs the user's callInvocationTransformer", async () => {
      const [a, b] = await pair();
      let transformed = 0;
      const { client } = await readyMeshClient(pool, { config: config(a, b) }, ['ServiceA', 'ServiceB'], {
        clientOptions: {
          callInvocationTransformer: (properties) => {
            transformed++;
            return properties;
          },
        },
      });
      await getOrder(client, {});
      expect(transformed).to.equal(1);
    });
  });

  describe('private headers', () => {
    const privateHeaders = (backend: FakeBackend) =>
      backend.calls.flatMap((call) => Object.keys(call.metadata.getMap()).filter((key) => key.startsWith('x-meshlite')));

    it('never reach a server through the mesh, with retries and hedges', async () => {
      const [a, b] = await pair();
      a.behaviour.delayMs = 30;
      const { client } = await readyMeshClient(
        pool,
        {
          config: {
            ...config(a, b),
            services: {
              orders: {
                ...config(a, b).services['orders']!,
                client: { retry: { maxAttempts: 5, idempotent: true, perAttemptTimeoutMs: 200, hedging: { delayMs: 5, maxAttempts: 4 }, budget: false } },
              },
            },
          },
        },
        ['ServiceA', 'ServiceB'],
      );
      for (let i = 0; i < 6; i++) await getOrder(client, { 'x-test-fail-times': '1', 'x-test-key': `h${i}` }, { deadline: Date.now() + 5000 });
      expect(a.calls.length + b.calls.length).to.be.greaterThan(6);
      expect([...privateHeaders(a), ...privateHeaders(b)]).to.deep.equal([]);
    });

    it('never reach a server on a plain ipv4 target, even when the caller forwards one it received', async () => {
      const [a] = await pair();
      const stack = createClientStack({
        retry: { maxAttempts: 3, idempotent: true, perAttemptTimeoutMs: 200, hedging: { delayMs: 5 }, backoff: { baseMs: 1, capMs: 1 } },
        breaker: false,
      });
      pool.defer(() => stack.close());
      const client = pool.track(orderClient([a.address], stack.interceptors));
      await getOrder(client, { 'x-test-fail-times': '1', 'x-test-key': 'plain', 'x-meshlite-hint': 'forged.1.0' });
      expect(a.calls).to.have.length(2);
      expect(privateHeaders(a)).to.deep.equal([]);
    });
  });

  it('hands a server status over unchanged, code, details and trailers, with the mesh account beside it', async () => {
    const [a, b] = await pair();
    const { client } = await readyMeshClient(pool, { config: config(a, b) }, ['ServiceA', 'ServiceB']);
    const error = await expectGrpcError(getOrder(client, { 'x-test-status': String(grpc.status.NOT_FOUND) }));
    const plain = await expectGrpcError(getOrder(pool.track(orderClient([a.address])), { 'x-test-status': String(grpc.status.NOT_FOUND) }));
    expect([error.code, error.details]).to.deep.equal([plain.code, plain.details]);
    expect(Object.keys(error.metadata.getMap()).sort()).to.deep.equal(Object.keys(plain.metadata.getMap()).sort());
    expect(error.details).not.to.contain('127.0.0.1');
    expect(meshCallInfo(error)).to.deep.include({ attempts: 1, stoppedBecause: 'NOT_FOUND is not retryable' });
  });
});
