import { connect } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { HealthState, createServerStack, serveWhenReady } from 'grpc-meshlite';
import {
  REPLAYED_HEADER,
  SERVER_LAYER_ORDER,
  authorizationLayer,
  idempotencyLayer,
  loadSheddingLayer,
  remainingBudget,
  composeLayers,
  serverLayers,
  statusName,
  type ServerCall,
  type ServerLayer,
  type ServerResult,
  describeMethod,
} from 'grpc-meshlite/layers';
import { OrderClient, callUnary, orderServiceDefinition, type Order } from '../../examples/orders.js';
import { md } from '../helpers/clients.js';
import { manualClock } from '../helpers/clock.js';
import { memoryLogger } from '../helpers/logs.js';
import { testMeter } from '../helpers/metrics.js';
import { testTracer } from '../helpers/tracing.js';
import { expectGrpcError, useTestPool } from '../helpers/servers.js';
import { until } from '../helpers/until.js';
import { VegasLimit } from '../../src/server/concurrency-limit.js';

/** A unary handler the test controls: each call waits for `release()` unless told otherwise. */
function gatedOrders() {
  const runs: string[] = [];
  const waiting: Array<() => void> = [];
  let gated = false;
  return {
    runs,
    gate: () => (gated = true),
    release: () => {
      gated = false;
      for (const go of waiting.splice(0)) go();
    },
    handlers: {
      GetOrder: async (call: grpc.ServerUnaryCall<{ id: string }, Order>, callback: grpc.sendUnaryData<Order>) => {
        runs.push(call.request.id);
        if (gated) await new Promise<void>((resolve) => waiting.push(resolve));
        callback(null, {
          id: `${call.request.id}-${runs.length}`,
          item: '',
          quantity: 0,
          idempotency_key: '',
          created_by: '',
          created_at_ms: '0',
          served_by: 'S',
        });
      },
    },
  };
}

describe('server stack', () => {
  const pool = useTestPool();

  async function serve(stack: ReturnType<typeof createServerStack>) {
    const orders = gatedOrders();
    const { address } = await pool.server((server) => server.addService(orderServiceDefinition, orders.handlers), {
      interceptors: stack.interceptors,
    });
    const client = pool.track(new OrderClient(address, grpc.credentials.createInsecure()));
    const get = (id: string, headers: Record<string, string> = {}) => callUnary(client.GetOrder, client, { id }, md(headers));
    return { orders, address, client, get };
  }

  it('has the documented order: metrics → tracing → logging → authorization → deadline → idempotency → load shedding', async () => {
    const meter = await testMeter();
    const all = serverLayers({
      authorization: { allow: { '*': ['*'] } },
      metrics: { meterProvider: meter.provider },
      tracing: { tracerProvider: testTracer().provider },
    });
    expect(all.map((l) => l.name)).to.deep.equal([...SERVER_LAYER_ORDER]);
    expect(SERVER_LAYER_ORDER).to.deep.equal([
      'metrics',
      'tracing',
      'logging',
      'authorization',
      'deadline',
      'idempotency',
      'load-shedding',
    ]);
    // Authorization only when asked for; metrics and tracing only when something records them.
    expect(serverLayers().map((l) => l.name)).to.deep.equal(['logging', 'deadline', 'idempotency', 'load-shedding']);
  });

  it('runs a call through the layers in that order, outermost first, and a replay stops at idempotency (ordered log)', async () => {
    const log: string[] = [];
    const tap =
      (name: string): ServerLayer =>
      (next) =>
      async (call) => {
        log.push(`${name} passes it on`);
        const result = await next(call);
        log.push(`${name} got ${statusName(result.status.code)}`);
        return result;
      };
    // A tap just inside every layer shows what that layer passes on.
    const chain = composeLayers(...serverLayers().flatMap((entry) => [entry.layer, tap(`inside ${entry.name}`)]));
    const handler = async (): Promise<ServerResult> => {
      log.push('handler');
      return { status: { code: grpc.status.OK, details: '' }, message: {} };
    };
    const call: ServerCall = {
      method: describeMethod('/orders.v1.OrderService/GetOrder'),
      metadata: md({ 'idempotency-key': 'k-1' }),
      deadline: Infinity,
      peer: 'ipv4:127.0.0.1:1',
      signal: new AbortController().signal,
      responseHeaders: new grpc.Metadata(),
      identity: () => undefined,
      traceContext: undefined,
    };
    await chain(handler)(call);
    expect(log).to.deep.equal([
      'inside logging passes it on',
      'inside deadline passes it on',
      'inside idempotency passes it on',
      'inside load-shedding passes it on',
      'handler',
      'inside load-shedding got OK',
      'inside idempotency got OK',
      'inside deadline got OK',
      'inside logging got OK',
    ]);
    log.length = 0;
    await chain(handler)({ ...call, responseHeaders: new grpc.Metadata() });
    expect(log).to.deep.equal([
      'inside logging passes it on',
      'inside deadline passes it on',
      'inside deadline got OK',
      'inside logging got OK',
    ]);
  });

  describe('deadlines', () => {
    it('refuses a call whose deadline passed before it arrived, without running the handler', async () => {
      const { orders, address } = await serve(createServerStack());
      // A raw HTTP/2 gRPC request with a spent budget (grpc-timeout: 0), as any client may send.
      const session = connect(`http://${address}`);
      session.on('error', () => {}); // the server may reset the session when it stops
      pool.defer(() => session.destroy());
      const trailers = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const stream = session.request({
          ':method': 'POST',
          ':path': '/orders.v1.OrderService/GetOrder',
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': '0n',
        });
        stream.on('trailers', resolve);
        stream.on('response', (headers) => {
          if (headers['grpc-status'] !== undefined) resolve(headers);
        });
        stream.on('error', reject);
        stream.resume();
        // GetOrderRequest { id: "x" }: tag 1, length 1, "x", framed with a 5-byte gRPC prefix.
        stream.end(Buffer.from([0, 0, 0, 0, 3, 0x0a, 0x01, 0x78]));
      });
      expect(trailers['grpc-status']).to.equal(String(grpc.status.DEADLINE_EXCEEDED));
      expect(decodeURIComponent(String(trailers['grpc-message']))).to.match(
        /^deadline passed \d+ ms before the call could start; handler not run$/,
      );
      expect(orders.runs).to.deep.equal([]);
    });

    it('tells a handler how much budget it has left', () => {
      const clock = manualClock(10_000);
      expect(remainingBudget({ getDeadline: () => 10_250 }, clock)).to.equal(250);
      expect(remainingBudget({ getDeadline: () => 9_000 }, clock)).to.equal(0);
      expect(remainingBudget({ getDeadline: () => Infinity }, clock)).to.equal(Infinity);
    });
  });

  describe('load shedding', () => {
    it('refuses calls over the limit at once with RESOURCE_EXHAUSTED and a pushback hint', async () => {
      const stack = createServerStack({ loadShedding: { maxConcurrent: 2, pushbackMs: 40, serverName: 'ServiceA' } });
      const { orders, get } = await serve(stack);
      orders.gate();
      const held = [get('a'), get('b')];
      while (orders.runs.length < 2) await new Promise((resolve) => setImmediate(resolve));
      const refused = await expectGrpcError(get('c'));
      expect(refused.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
      expect(refused.details).to.equal('ServiceA is over its server concurrency limit (2 in flight, limit 2); retry after 40 ms');
      expect(refused.metadata.get('grpc-retry-pushback-ms')).to.deep.equal(['40']);
      expect(orders.runs).to.deep.equal(['a', 'b']);
      orders.release();
      await Promise.all(held);
      expect((await get('d')).id).to.equal('d-3');
      expect(stack.loadShedding!.shed()).to.equal(1);
    });

    it('gives the slot back when a call is cancelled while its handler never answers', async () => {
      const stack = createServerStack({
        loadShedding: { maxConcurrent: 1 },
        idempotency: { methods: ['orders.v1.OrderService/GetOrder'] },
      });
      const { orders, get, client } = await serve(stack);
      orders.gate(); // the handler waits for a release that never comes
      const error = await expectGrpcError(
        callUnary(client.GetOrder, client, { id: 'a' }, md({ 'idempotency-key': 'k' }), { deadline: Date.now() + 100 }),
      );
      expect(error.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
      await until(() => stack.loadShedding!.limit.inFlight === 0 && stack.idempotency!.size() === 0, {
        describe: () => `${stack.loadShedding!.limit.inFlight} in flight, ${stack.idempotency!.size()} keys`,
      });
      orders.release();
      expect((await get('b')).id).to.match(/^b-/);
    });

    it('applies a tighter limit to one method', async () => {
      const stack = createServerStack({ loadShedding: { maxConcurrent: 100, methods: { 'orders.v1.OrderService/GetOrder': 1 } } });
      const { orders, get } = await serve(stack);
      orders.gate();
      const held = get('a');
      while (orders.runs.length < 1) await new Promise((resolve) => setImmediate(resolve));
      expect((await expectGrpcError(get('b'))).details).to.match(/over its GetOrder concurrency limit \(1 in flight, limit 1\)/);
      orders.release();
      await held;
    });

    it('learns a lower limit when latency grows under load (adaptive, Vegas)', () => {
      const limit = new VegasLimit({ initialLimit: 20, minLimit: 2, maxLimit: 200 });
      const run = (rttMs: number, times: number) => {
        for (let i = 0; i < times; i++) {
          const permits = Array.from({ length: limit.limit }, () => limit.acquire()!);
          for (const permit of permits) permit.release(rttMs);
        }
      };
      run(10, 20);
      const grown = limit.limit;
      expect(grown).to.be.greaterThan(20);
      run(40, 20); // queueing: each call now takes four times the no-load latency
      expect(limit.limit).to.be.lessThan(grown);
      expect(limit.limit).to.be.at.least(2);
    });

    it('rejects a limit that is not a positive integer, naming the field', () => {
      expect(() => loadSheddingLayer({ maxConcurrent: 0 })).to.throw(/maxConcurrent.*got 0/);
      expect(() => loadSheddingLayer({ maxConcurrent: 'ten' as never })).to.throw(/maxConcurrent.*"ten"/);
      expect(() => loadSheddingLayer({ methods: { 'a/B': -1 } })).to.throw(/methods\["a\/B"\].*-1/);
    });

    it('refuses method names no call would match: the path form, and "*" where there is no per-method fallback', () => {
      const path = '/orders.v1.OrderService/CreateOrder';
      expect(() => loadSheddingLayer({ methods: { [path]: 8 } })).to.throw(
        `methods["${path}"]: is not a method name: write "package.Service/Method" (no leading "/") or "package.Service", got "${path}"`,
      );
      // maxConcurrent is the limit for everything; a "*" entry would be ignored.
      expect(() => loadSheddingLayer({ methods: { '*': 8 } })).to.throw('methods["*"]: is not a method name');
      expect(() => idempotencyLayer({ methods: [path] })).to.throw(`methods[0]: is not a method name`);
      expect(() => authorizationLayer({ allow: { [path]: ['spiffe://mesh/checkout'] } })).to.throw(
        `allow["${path}"]: is not a method name`,
      );
      expect(() =>
        authorizationLayer({ allow: { '*': ['spiffe://mesh/admin'], 'orders.v1.OrderService/CreateOrder': [] } }),
      ).not.to.throw();
      // Lists of whole services (load shedding's exempt) take no method; authorization's public list takes either.
      expect(() => loadSheddingLayer({ exempt: ['grpc.health.v1.Health/Check'] })).to.throw('exempt[0]: is not a service name');
      expect(() => authorizationLayer({ allow: {}, public: [`/grpc.health.v1.Health`] })).to.throw('public[0]: is not a method name');
      expect(() => authorizationLayer({ allow: {}, public: ['grpc.health.v1.Health', 'orders.v1.OrderService/GetOrder'] })).not.to.throw();
    });
  });

  describe('idempotency', () => {
    it('runs concurrent duplicates exactly once and gives every caller the same answer', async () => {
      const { orders, get } = await serve(createServerStack());
      orders.gate();
      const calls = Array.from({ length: 5 }, () => get('same', { 'idempotency-key': 'k-1' }));
      while (orders.runs.length < 1) await new Promise((resolve) => setImmediate(resolve));
      orders.release();
      const answers = await Promise.all(calls);
      expect(orders.runs).to.deep.equal(['same']);
      expect(new Set(answers.map((a) => a.id))).to.deep.equal(new Set(['same-1']));
    });

    it('replays a remembered answer (marked as replayed) until the TTL runs out', async () => {
      const clock = manualClock();
      const { orders, client } = await serve(createServerStack({ clock, idempotency: { ttlMs: 1000 } }));
      const call = () =>
        new Promise<{ order: Order; replayed: string[] }>((resolve, reject) => {
          let replayed: string[] = [];
          const c = client.GetOrder({ id: 'x' }, md({ 'idempotency-key': 'k-2' }), (error, order) =>
            error ? reject(error) : resolve({ order: order!, replayed }),
          );
          c.on('metadata', (headers: grpc.Metadata) => (replayed = headers.get(REPLAYED_HEADER).map(String)));
        });
      const first = await call();
      clock.tick(999);
      const second = await call();
      expect(second.order.id).to.equal(first.order.id);
      expect(first.replayed).to.deep.equal([]);
      expect(second.replayed).to.deep.equal(['true']);
      clock.tick(2);
      const third = await call();
      expect(third.order.id).not.to.equal(first.order.id);
      expect(orders.runs).to.have.length(2);
    });

    it('does not remember a transient failure: the retry runs again', async () => {
      const layer = idempotencyLayer();
      let runs = 0;
      const results: ServerResult[] = [
        { status: { code: grpc.status.UNAVAILABLE, details: 'try again' } },
        { status: { code: grpc.status.OK, details: 'OK' }, message: { ok: true } },
      ];
      const handler = layer(async () => results[runs++]!);
      const call = serverCall({ 'idempotency-key': 'k-3' });
      expect((await handler(call)).status.code).to.equal(grpc.status.UNAVAILABLE);
      expect((await handler(call)).status.code).to.equal(grpc.status.OK);
      expect((await handler(call)).status.code).to.equal(grpc.status.OK);
      expect(runs).to.equal(2);
    });

    it('refuses an empty or too long key with INVALID_ARGUMENT', async () => {
      const { get, orders } = await serve(createServerStack());
      expect((await expectGrpcError(get('x', { 'idempotency-key': '' }))).code).to.equal(grpc.status.INVALID_ARGUMENT);
      const long = await expectGrpcError(get('x', { 'idempotency-key': 'k'.repeat(129) }));
      expect(long.details).to.equal('idempotency-key must be 1 to 128 characters, got 129');
      expect(orders.runs).to.deep.equal([]);
    });

    it('keeps memory bounded: the least recently used keys go first', async () => {
      const layer = idempotencyLayer({ maxEntries: 2 });
      let runs = 0;
      const handler = layer(async () => ({ status: { code: grpc.status.OK, details: 'OK' }, message: ++runs }));
      for (const key of ['a', 'b', 'c', 'a']) await handler(serverCall({ 'idempotency-key': key }));
      expect(layer.size()).to.equal(2);
      expect(runs).to.equal(4); // "a" was evicted by "c", so it ran again
    });

    it('replays before load shedding: a remembered answer costs no concurrency slot', async () => {
      const { orders, get } = await serve(createServerStack({ loadShedding: { maxConcurrent: 1 } }));
      const first = await get('x', { 'idempotency-key': 'k-4' });
      orders.gate();
      const held = get('busy');
      while (orders.runs.length < 2) await new Promise((resolve) => setImmediate(resolve));
      expect((await get('x', { 'idempotency-key': 'k-4' })).id).to.equal(first.id);
      orders.release();
      await held;
    });
  });

  describe('logging', () => {
    it('logs one line per call with the request id, echoes the id, and redacts secrets', async () => {
      const { logger, lines, raw } = memoryLogger('debug');
      const { client } = await serve(createServerStack({ logger }));
      const echoed = await new Promise<string[]>((resolve) => {
        const call = client.GetOrder({ id: 'x' }, md({ 'x-request-id': 'req-42', authorization: 'Bearer s3cr3t' }), () => {});
        call.on('metadata', (headers: grpc.Metadata) => resolve(headers.get('x-request-id').map(String)));
      });
      expect(echoed).to.deep.equal(['req-42']);
      const line = lines.find((l) => l.msg === 'call handled')!;
      expect(line).to.include({ method: 'orders.v1.OrderService/GetOrder', code: 'OK', requestId: 'req-42' });
      expect(line['peer']).to.be.a('string');
      expect(line['latencyMs']).to.be.a('number');
      expect(raw.join('')).not.to.contain('s3cr3t');
    });

    it('logs an answer the handler gives (NOT_FOUND) at the success level (debug), a failure (INTERNAL) at the failure level', async () => {
      const { logger, lines } = memoryLogger('debug');
      const { address } = await pool.server(
        (server) =>
          server.addService(orderServiceDefinition, {
            GetOrder: (call: grpc.ServerUnaryCall<{ id: string }, Order>, callback: grpc.sendUnaryData<Order>) =>
              callback({ code: call.request.id === 'missing' ? grpc.status.NOT_FOUND : grpc.status.INTERNAL, details: 'no' }),
          }),
        { interceptors: createServerStack({ logger }).interceptors },
      );
      const client = pool.track(new OrderClient(address, grpc.credentials.createInsecure()));
      await expectGrpcError(callUnary(client.GetOrder, client, { id: 'missing' }));
      await expectGrpcError(callUnary(client.GetOrder, client, { id: 'broken' }));
      const handled = lines.filter((l) => l.msg === 'call handled').map((l) => [l['code'], l.level]);
      expect(handled).to.deep.equal([
        ['NOT_FOUND', 20],
        ['INTERNAL', 40],
      ]);
    });

    it('creates a request id when the call has none, and gives it to the handler', async () => {
      let seenByHandler: string | undefined;
      const stack = createServerStack();
      const { address } = await pool.server(
        (server) =>
          server.addService(orderServiceDefinition, {
            GetOrder: (call: grpc.ServerUnaryCall<unknown, Order>, callback: grpc.sendUnaryData<Order>) => {
              seenByHandler = call.metadata.get('x-request-id')[0]?.toString();
              callback({ code: grpc.status.NOT_FOUND, details: 'none' });
            },
          }),
        { interceptors: stack.interceptors },
      );
      const client = pool.track(new OrderClient(address, grpc.credentials.createInsecure()));
      const error = await expectGrpcError(callUnary(client.GetOrder, client, { id: 'x' }));
      expect(error.code).to.equal(grpc.status.NOT_FOUND);
      expect(seenByHandler).to.match(/^[0-9a-f-]{36}$/);
      expect(error.metadata.get('x-request-id').map(String)).to.deep.equal([seenByHandler]);
    });

    it('answers a failure Trailers-Only, so a plain grpc-js retry policy can still retry it', async () => {
      let calls = 0;
      const { address } = await pool.server(
        (server) =>
          server.addService(orderServiceDefinition, {
            GetOrder: (_call: grpc.ServerUnaryCall<unknown, Order>, callback: grpc.sendUnaryData<Order>) => {
              if (++calls === 1) return callback({ code: grpc.status.UNAVAILABLE, details: 'not yet' });
              callback(null, { id: 'o1', item: '', quantity: 0, idempotency_key: '', created_by: '', created_at_ms: '0', served_by: 'S' });
            },
          }),
        { interceptors: createServerStack().interceptors },
      );
      const serviceConfig = {
        methodConfig: [
          {
            name: [{ service: 'orders.v1.OrderService' }],
            retryPolicy: {
              maxAttempts: 2,
              initialBackoff: '0.01s',
              maxBackoff: '0.01s',
              backoffMultiplier: 1,
              retryableStatusCodes: ['UNAVAILABLE'],
            },
          },
        ],
      };
      const client = pool.track(
        new OrderClient(address, grpc.credentials.createInsecure(), { 'grpc.service_config': JSON.stringify(serviceConfig) }),
      );
      const order = await callUnary(client.GetOrder, client, { id: 'o1' });
      expect(order.id).to.equal('o1');
      expect(calls).to.equal(2);
    });
  });

  describe('readiness', () => {
    it('reports NOT_SERVING until ready, then SERVING; stays NOT_SERVING when getting ready fails', async () => {
      const health = new HealthState({ orders: 'SERVING' });
      let finish!: () => void;
      const ready = serveWhenReady(health, () => new Promise<void>((resolve) => (finish = resolve)));
      expect(health.get('orders')).to.equal('NOT_SERVING');
      finish();
      expect(await ready).to.equal(undefined);
      expect(health.get('orders')).to.equal('SERVING');

      const failed = await serveWhenReady(health, () => {
        throw new Error('store unreachable');
      });
      expect(failed?.message).to.equal('store unreachable');
      expect(health.get('orders')).to.equal('NOT_SERVING');
    });
  });
});

function serverCall(headers: Record<string, string>): ServerCall {
  return {
    method: describeMethod('/orders.v1.OrderService/CreateOrder'),
    metadata: md(headers),
    deadline: Infinity,
    peer: '127.0.0.1:1',
    signal: new AbortController().signal,
    responseHeaders: new grpc.Metadata(),
    identity: () => undefined,
    traceContext: undefined,
  };
}
