// The grpc-js contract kept: what the user passes runs, and nothing private reaches the wire.
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createClientStack, meshCallInfo, type MeshConfigInput } from 'grpc-meshlite';
import { callUnary, OrderClient, orderServiceDefinition, type GetOrderRequest, type Order } from '../../examples/orders.js';
import { getOrder, md, orderClient } from '../helpers/clients.js';
import { manualClock } from '../helpers/clock.js';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.js';
import { readyMeshClient } from '../helpers/mesh.js';
import { FreezableProxy } from '../helpers/proxy.js';
import { expectGrpcError, useTestPool } from '../helpers/servers.js';

const SERVICE = 'orders.v1.OrderService';

describe('the grpc-js contract', () => {
  const pool = useTestPool();

  async function pair(): Promise<[FakeBackend, FakeBackend]> {
    const started = await Promise.all([startFakeBackend('ServiceA'), startFakeBackend('ServiceB')]);
    for (const backend of started) pool.defer(() => backend.stop());
    return started;
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
      const order = await getOrder(
        client,
        { 'x-test-fail-times': '1', 'x-test-key': 'call-level' },
        { interceptors: [callLevel.interceptor] },
      );
      expect(order.served_by).to.be.oneOf(['ServiceA', 'ServiceB']);
      expect(a.calls.length + b.calls.length).to.equal(3); // retried: the stack ran
      expect([callLevel.seen.calls, clientLevel.seen.calls]).to.deep.equal([1, 0]);
    });

    it("lets an interceptor of the user's change the method definition of its own call only", async () => {
      const [a, b] = await pair();
      let seen = 0;
      // Sends the first call to another method (as a method-renaming interceptor would).
      const renames: grpc.Interceptor = (options, nextCall) => {
        if (++seen === 1) options.method_definition.path = `/${SERVICE}/CreateOrder`;
        return new grpc.InterceptingCall(nextCall(options));
      };
      const { client } = await readyMeshClient(pool, { config: config(a, b) }, ['ServiceA', 'ServiceB'], {
        clientOptions: { interceptors: [renames] },
      });
      await getOrder(client);
      await getOrder(client);
      expect([...a.calls, ...b.calls].map((call) => call.method)).to.deep.equal(['CreateOrder', 'GetOrder']);
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
      // Its calls' attempts still go straight to the channel, which serializes a request once
      // for all of them (through grpc-js, each attempt would be serialized again).
      let serialized = 0;
      const definition = orderServiceDefinition['GetOrder']!;
      const before = a.calls.length + b.calls.length;
      await new Promise<Order>((resolve, reject) =>
        client.makeUnaryRequest<GetOrderRequest, Order>(
          `/${SERVICE}/GetOrder`,
          (request) => (serialized++, definition.requestSerialize(request)),
          (bytes) => definition.responseDeserialize(bytes) as Order,
          { id: 'o-1' },
          md({ 'x-test-fail-times': '1', 'x-test-key': 'transformed' }),
          {},
          (error, order) => (error ? reject(error) : resolve(order!)),
        ),
      );
      expect(transformed).to.equal(2);
      // Each backend fails the key's first call: the third attempt answers.
      expect(a.calls.length + b.calls.length - before).to.equal(3);
      expect(serialized).to.equal(1);
    });
    it('serializes a call with the serializers it was made with, though an earlier call of its method had others', async () => {
      const [a, b] = await pair();
      const { client } = await readyMeshClient(pool, { config: config(a, b) }, ['ServiceA', 'ServiceB']);
      const definition = orderServiceDefinition['GetOrder']!;
      const seen: string[] = [];
      const call = (tag: string) =>
        new Promise<Order>((resolve, reject) =>
          client.makeUnaryRequest<GetOrderRequest, Order>(
            `/${SERVICE}/GetOrder`,
            (request) => (seen.push(`${tag} out`), definition.requestSerialize(request)),
            (bytes) => (seen.push(`${tag} in`), definition.responseDeserialize(bytes) as Order),
            { id: 'o-1' },
            new grpc.Metadata(),
            {},
            (error, order) => (error ? reject(error) : resolve(order!)),
          ),
        );
      await getOrder(client);
      await call('first');
      await call('second');
      expect(seen).to.deep.equal(['first out', 'first in', 'second out', 'second in']);
    });
  });

  describe('what grpc-js does below the last interceptor (the stack sends attempts straight to the channel)', () => {
    it("sends through the client's own channel when the stack's interceptors are reused on another client, or followed by another interceptor", async () => {
      const [a, b] = await pair();
      const { client } = await readyMeshClient(pool, { config: config(a, b) }, ['ServiceA', 'ServiceB']);
      // A plain client of ServiceB alone, carrying the mesh client's stack.
      const other = pool.track(
        new OrderClient(`ipv4:${b.address}`, grpc.credentials.createInsecure(), { interceptors: client.stack.interceptors }),
      );
      for (let i = 0; i < 4; i++) expect((await getOrder(other)).served_by).to.equal('ServiceB');
      // The stack, then an interceptor of the caller's, then the stack again (mesh.client() appends it).
      const tag = tagging('x-after-stack', 'yes');
      await getOrder(client, {}, { interceptors: [...client.stack.interceptors, tag.interceptor] });
      expect(tag.seen.calls).to.equal(1);
      expect([...headerOf(a, 'x-after-stack'), ...headerOf(b, 'x-after-stack')].filter(Boolean)).to.deep.equal(['yes']);
    });

    it('ends a hedge the closed client can no longer start as a failed attempt, and the call still gets its answer', async () => {
      const [a, b] = await pair();
      const hedged = config(a, b);
      hedged.services['orders']!.client = { retry: { maxAttempts: 3, idempotent: true, hedging: { delayMs: 50 }, budget: false } };
      const clock = manualClock(Date.now()); // the hedge goes out when the test says
      const { client } = await readyMeshClient(pool, { config: hedged, clock }, ['ServiceA', 'ServiceB']);
      const arrived = new Promise<void>((resolve) => [a, b].forEach((backend) => backend.onCall.subscribe(() => resolve())));
      const answer = getOrder(client, { 'x-test-delay-ms': '100' });
      await arrived;
      client.close(); // the first attempt runs on; grpc-js refuses new calls on the channel
      clock.tick(50);
      const order = await answer;
      expect(order.served_by).to.be.oneOf(['ServiceA', 'ServiceB']);
      expect(a.calls.length + b.calls.length).to.equal(1);
    });

    it("sends a call's own credentials on every attempt", async () => {
      const [a, b] = await pair();
      const { client } = await readyMeshClient(pool, { config: config(a, b) }, ['ServiceA', 'ServiceB']);
      const credentials = grpc.credentials.createFromMetadataGenerator((_params, callback) =>
        callback(null, md({ 'x-call-credential': 'c' })),
      );
      await getOrder(client, { 'x-test-fail-times': '1', 'x-test-key': 'credentials' }, { credentials });
      expect([...headerOf(a, 'x-call-credential'), ...headerOf(b, 'x-call-credential')]).to.deep.equal(['c', 'c', 'c']);
    });

    it("bounds a call made with a server call as its parent by the parent's deadline", async () => {
      const [a, b] = await pair();
      const { client } = await readyMeshClient(pool, { config: config(a, b) }, ['ServiceA', 'ServiceB']);
      // A relay whose handler calls on through the mesh, passing its own call as the parent.
      const relay = await pool.server((server) =>
        server.addService(orderServiceDefinition, {
          GetOrder: (call: grpc.ServerUnaryCall<GetOrderRequest, Order>, callback: grpc.sendUnaryData<Order>) =>
            client.GetOrder(call.request, new grpc.Metadata(), { parent: call }, callback),
        }),
      );
      const sent = Date.now();
      await getOrder(pool.track(orderClient([relay.address])), {}, { deadline: sent + 300 });
      const [received] = [...a.calls, ...b.calls];
      // Without its parent the call would have no deadline at all (none configured). Each hop
      // sends the time left in whole ms, rounded up, and the next one adds it to its own clock.
      expect(received!.deadline).to.be.within(sent, sent + 300 + 20);
    });

    it('fails a request that cannot be serialized as grpc-js does, without sending it', async () => {
      const [a, b] = await pair();
      const { client } = await readyMeshClient(pool, { config: config(a, b) }, ['ServiceA', 'ServiceB']);
      const unserializable = {
        get id(): string {
          throw new Error('no id today');
        },
      };
      const viaMesh = await expectGrpcError(callUnary(client.GetOrder, client, unserializable));
      const plain = await expectGrpcError(callUnary(client.GetOrder, pool.track(orderClient([a.address])), unserializable));
      expect([viaMesh.code, viaMesh.details]).to.deep.equal([plain.code, plain.details]);
      expect(viaMesh.details).to.contain('no id today');
      expect(a.calls.length + b.calls.length).to.equal(0);
    });

    it('fails a response that cannot be decoded as grpc-js does', async () => {
      const [a, b] = await pair();
      const getOrderDefinition = orderServiceDefinition['GetOrder']!;
      const Strict = grpc.makeGenericClientConstructor(
        {
          GetOrder: {
            ...getOrderDefinition,
            responseDeserialize: () => {
              throw new Error('not an order');
            },
          },
        },
        'orders.v1.OrderService',
      ) as unknown as typeof OrderClient;
      const mesh = readyMeshClient(pool, { config: config(a, b) }, ['ServiceA', 'ServiceB']);
      const strict = pool.track((await mesh).mesh.client(Strict, 'orders'));
      const plainStrict = pool.track(new Strict(`ipv4:${a.address}`, grpc.credentials.createInsecure()));
      const viaMesh = await expectGrpcError(callUnary(strict.GetOrder, strict, { id: 'o-1' }));
      const plain = await expectGrpcError(callUnary(plainStrict.GetOrder, plainStrict, { id: 'o-1' }));
      expect([viaMesh.code, viaMesh.details]).to.deep.equal([plain.code, plain.details]);
      expect(viaMesh.details).to.contain('not an order');
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
                client: {
                  retry: {
                    maxAttempts: 5,
                    idempotent: true,
                    perAttemptTimeoutMs: 200,
                    hedging: { delayMs: 5, maxAttempts: 4 },
                    budget: false,
                  },
                },
              },
            },
          },
        },
        ['ServiceA', 'ServiceB'],
      );
      for (let i = 0; i < 6; i++)
        await getOrder(client, { 'x-test-fail-times': '1', 'x-test-key': `h${i}` }, { deadline: Date.now() + 5000 });
      expect(a.calls.length + b.calls.length).to.be.greaterThan(6);
      expect([...privateHeaders(a), ...privateHeaders(b)]).to.deep.equal([]);
    });

    it('never reach a server on a plain ipv4 target, even when the caller forwards one it received', async () => {
      const [a] = await pair();
      const stack = createClientStack({
        retry: {
          maxAttempts: 3,
          idempotent: true,
          perAttemptTimeoutMs: 200,
          hedging: { delayMs: 5, maxAttempts: 2 },
          backoff: { baseMs: 1, capMs: 1 },
        },
        breaker: false,
      });
      pool.defer(() => stack.close());
      const client = pool.track(orderClient([a.address], stack.interceptors));
      await getOrder(client, { 'x-test-fail-times': '1', 'x-test-key': 'plain', 'x-meshlite-hint': 'forged.1.0' });
      expect(a.calls).to.have.length(2);
      expect(privateHeaders(a)).to.deep.equal([]);
    });
  });

  it('shares one connection per backend between the clients of a mesh, as grpc-js shares one between channels', async () => {
    const backend = await startFakeBackend('ServiceA');
    pool.defer(() => backend.stop());
    const proxy = await new FreezableProxy(backend.port).listen();
    pool.defer(() => proxy.close());
    const single: MeshConfigInput = {
      services: { orders: { endpoints: [{ name: 'ServiceA', address: proxy.address }], balancer: { slowStart: { windowMs: 0 } } } },
    };
    const { mesh, client } = await readyMeshClient(pool, { config: single }, ['ServiceA']);
    const second = pool.track(mesh.client(OrderClient, 'orders'));
    for (const each of [client, second]) expect((await getOrder(each)).served_by).to.equal('ServiceA');
    expect(proxy.openConnections).to.equal(1);
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
    // A Trailers-Only failure brings no headers: no 'metadata' event, as with plain grpc-js.
    const metadataEvents = async (c: OrderClient) => {
      let events = 0;
      await new Promise<void>((resolve) => {
        const call = c.GetOrder({ id: 'x' }, md({ 'x-test-status': String(grpc.status.NOT_FOUND) }), () => resolve());
        call.on('metadata', () => events++);
      });
      return events;
    };
    expect(await metadataEvents(client)).to.equal(await metadataEvents(pool.track(orderClient([a.address]))));
    // The account is for a program to read, not for a logger's JSON of the error: it stays out.
    expect(Object.keys(JSON.parse(JSON.stringify(error)) as object).sort()).to.deep.equal(
      Object.keys(JSON.parse(JSON.stringify(plain)) as object).sort(),
    );
  });
});
