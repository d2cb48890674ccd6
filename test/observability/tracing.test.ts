// OpenTelemetry spans per call and per attempt (gRPC A72), their context on the wire (W3C
// traceparent, each attempt its own span id), A6's grpc-previous-rpc-attempts, and log lines
// that join client and server — against the real SDK with an in-memory exporter and real
// in-process servers that read what arrived.
import * as grpc from '@grpc/grpc-js';
import {
  ROOT_CONTEXT,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Context,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
} from '@opentelemetry/api';
import { StackContextManager } from '@opentelemetry/sdk-trace';
import { expect } from 'chai';
import { createClientStack, createServerStack } from 'grpc-meshlite';
import { clientLayers, serverLayers } from 'grpc-meshlite/layers';
import { orderServiceDefinition, type Order } from '../../examples/orders.js';
import { formatTraceparent, injectTraceContext, parseTraceparent } from '../../src/observability/tracing.js';
import { getOrder, md, orderClient } from '../helpers/clients.js';
import { clientCall } from '../helpers/requests.js';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.js';
import { memoryLogger } from '../helpers/logs.js';
import { readyMeshClient } from '../helpers/mesh.js';
import { useTestPool } from '../helpers/servers.js';
import { describeSpan, testTracer, type TestTracer } from '../helpers/tracing.js';
import { until } from '../helpers/until.js';

const CALL = 'Sent.orders.v1.OrderService.GetOrder';
const ATTEMPT = 'Attempt.orders.v1.OrderService.GetOrder';
const SERVER = 'Recv.orders.v1.OrderService.GetOrder';

describe('tracing (OpenTelemetry spans per call and attempt, gRPC A72)', function () {
  this.timeout(20_000);
  const pool = useTestPool();

  function useTracer(): TestTracer {
    const tracer = testTracer();
    pool.defer(() => tracer.shutdown());
    return tracer;
  }

  /** A fake backend whose server stack traces into `tracer` (and logs into `logger`, if given). */
  async function tracedBackend(name: string, tracer: TestTracer, logger?: ReturnType<typeof memoryLogger>['logger']): Promise<FakeBackend> {
    const stack = createServerStack({
      tracing: { tracerProvider: tracer.provider },
      ...(logger ? { logger, logging: { successLevel: 'info' as const } } : { logging: false as const }),
    });
    const backend = await startFakeBackend(name, { server: { interceptors: stack.interceptors } });
    pool.defer(() => backend.stop());
    return backend;
  }

  /** A plain (non-mesh) client of `backend` through a client stack that traces into `tracer`. */
  function tracedClient(backend: FakeBackend, tracer: TestTracer | undefined, logger?: ReturnType<typeof memoryLogger>['logger']) {
    const stack = createClientStack({
      ...(tracer ? { tracing: { tracerProvider: tracer.provider } } : {}),
      ...(logger ? { logger, logging: { successLevel: 'info' as const } } : { logging: false as const }),
      breaker: false,
      retry: { maxAttempts: 3, idempotent: true, backoff: { baseMs: 1, capMs: 1 } },
    });
    return pool.track(orderClient([backend.address], stack.interceptors));
  }

  it('a hedged call gives one call span and two attempt spans: the hedge answered, the loser ended as cancelled', async () => {
    const tracer = useTracer();
    const slow = await tracedBackend('ServiceA', tracer);
    const fast = await tracedBackend('ServiceB', tracer);
    slow.behaviour.hang = true;
    const { client } = await readyMeshClient(
      pool,
      {
        tracerProvider: tracer.provider,
        config: {
          services: {
            orders: {
              endpoints: [
                { name: 'A', address: slow.address },
                { name: 'B', address: fast.address },
              ],
              balancer: { slowStart: { windowMs: 0 } },
            },
          },
        },
      },
      ['A', 'B'],
      {
        stack: {
          breaker: false,
          logging: false,
          retry: { maxAttempts: 2, methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true, hedging: { delayMs: 30 } } } },
        },
      },
    );

    const order = await getOrder(client);
    expect(order.served_by).to.equal('ServiceB');

    // Both attempt spans and the call's have ended by the time the caller has its answer.
    const calls = tracer.named(CALL).map(describeSpan);
    const attempts = tracer.named(ATTEMPT).map(describeSpan);
    expect(calls).to.have.length(1);
    const call = calls[0]!;
    expect(call).to.deep.include({ kind: 'CLIENT', status: SpanStatusCode.UNSET, parentSpanId: undefined });
    expect(call.attributes).to.deep.include({
      'rpc.system': 'grpc',
      'rpc.service': 'orders.v1.OrderService',
      'rpc.method': 'GetOrder',
      'rpc.grpc.status_code': grpc.status.OK,
      'meshlite.attempts': 2,
    });
    expect(attempts).to.have.length(2);
    for (const attempt of attempts) expect(attempt).to.deep.include({ traceId: call.traceId, parentSpanId: call.spanId });
    const [first, hedge] = attempts;
    expect(first!.attributes).to.deep.include({
      'previous-rpc-attempts': 0,
      'transparent-retry': false,
      'meshlite.attempt.kind': 'first',
      'meshlite.attempt.end': 'lost',
      'rpc.grpc.status_code': grpc.status.CANCELLED,
      'network.peer.address': '127.0.0.1',
      'network.peer.port': slow.port,
    });
    // Cancelled by the mesh, not failed: no error on the loser's span.
    expect(first!.status).to.equal(SpanStatusCode.UNSET);
    expect(hedge!.attributes).to.deep.include({
      'previous-rpc-attempts': 1,
      'meshlite.attempt.kind': 'hedge',
      'meshlite.attempt.end': 'answered',
      'rpc.grpc.status_code': grpc.status.OK,
      'network.peer.port': fast.port,
    });
    expect(hedge!.events).to.deep.equal(['Outbound message', 'Inbound message']);

    // Each backend's server span is the child of the attempt that reached it.
    await until(() => tracer.named(SERVER).length === 2, { describe: () => JSON.stringify(tracer.named(SERVER).map(describeSpan)) });
    const servers = tracer.named(SERVER).map(describeSpan);
    expect(servers.map((span) => span.parentSpanId)).to.have.members([first!.spanId, hedge!.spanId]);
    for (const server of servers) expect(server).to.deep.include({ kind: 'SERVER', traceId: call.traceId });
  });

  it('a retried call shows both attempts in order, the second with previous-rpc-attempts 1', async () => {
    const tracer = useTracer();
    const backend = await tracedBackend('ServiceA', tracer);
    const client = tracedClient(backend, tracer);

    await getOrder(client, { 'x-test-fail-times': '1', 'x-test-key': 'retried' });

    const [call] = tracer.named(CALL);
    const attempts = tracer.named(ATTEMPT);
    expect(attempts).to.have.length(2);
    const [first, second] = attempts.map(describeSpan);
    expect(first!.attributes).to.deep.include({
      'previous-rpc-attempts': 0,
      'meshlite.attempt.kind': 'first',
      'meshlite.attempt.end': 'failed',
      'rpc.grpc.status_code': grpc.status.UNAVAILABLE,
    });
    expect(first!.status).to.equal(SpanStatusCode.ERROR);
    expect(second!.attributes).to.deep.include({
      'previous-rpc-attempts': 1,
      'meshlite.attempt.kind': 'retry',
      'meshlite.attempt.end': 'answered',
      'rpc.grpc.status_code': grpc.status.OK,
    });
    // In order: the retry started after the first attempt had ended.
    const [firstEnd, secondStart] = [attempts[0]!.endTime, attempts[1]!.startTime];
    expect(secondStart[0] * 1e9 + secondStart[1]).to.be.at.least(firstEnd[0] * 1e9 + firstEnd[1]);
    for (const attempt of [first!, second!]) expect(attempt.parentSpanId).to.equal(call!.spanContext().spanId);
    expect(call!.attributes).to.deep.include({ 'meshlite.attempts': 2, 'rpc.grpc.status_code': grpc.status.OK });
  });

  it('sends each attempt its own traceparent with the call trace id, and the server span is the child of the attempt span', async () => {
    const tracer = useTracer();
    const backend = await tracedBackend('ServiceA', tracer);
    const client = tracedClient(backend, tracer);
    // The caller's own traceparent (a forwarded one, say) is replaced by each attempt's.
    const stale = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';

    await getOrder(client, { 'x-test-fail-times': '1', 'x-test-key': 'wire', traceparent: stale });

    const [call] = tracer.named(CALL).map(describeSpan);
    const attempts = tracer.named(ATTEMPT).map(describeSpan);
    const sent = backend.calls.map((received) => received.metadata.get('traceparent').map(String));
    expect(sent).to.have.length(2);
    expect(sent.map((values) => values.length)).to.deep.equal([1, 1]);
    const [wire1, wire2] = sent.map((values) => parseTraceparent(values[0])!);
    expect(wire1!.traceId).to.equal(call!.traceId);
    expect(wire2!.traceId).to.equal(call!.traceId);
    expect(wire1!.spanId).to.not.equal(wire2!.spanId);
    expect([wire1!.spanId, wire2!.spanId]).to.deep.equal(attempts.map((attempt) => attempt.spanId));

    await until(() => tracer.named(SERVER).length === 2);
    const servers = tracer.named(SERVER).map(describeSpan);
    expect(servers.map((server) => server.parentSpanId)).to.deep.equal(attempts.map((attempt) => attempt.spanId));
    expect(servers[0]).to.deep.include({ kind: 'SERVER', traceId: call!.traceId, status: SpanStatusCode.ERROR });
    expect(servers[0]!.attributes).to.deep.include({ 'rpc.grpc.status_code': grpc.status.UNAVAILABLE });
    expect(servers[1]!.attributes).to.deep.include({ 'previous-rpc-attempts': 1, 'rpc.grpc.status_code': grpc.status.OK });
  });

  it('sends grpc-previous-rpc-attempts on the second attempt only, also when nothing traces, and leaves the caller traceparent alone', async () => {
    const backend = await startFakeBackend('ServiceA');
    pool.defer(() => backend.stop());
    const client = tracedClient(backend, undefined);
    const callers = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';

    await getOrder(client, { 'x-test-fail-times': '2', 'x-test-key': 'plain', traceparent: callers });

    const arrived = backend.calls.map((received) => ({
      previous: received.metadata.get('grpc-previous-rpc-attempts').map(String),
      traceparent: received.metadata.get('traceparent').map(String),
    }));
    expect(arrived).to.deep.equal([
      { previous: [], traceparent: [callers] },
      { previous: ['1'], traceparent: [callers] },
      { previous: ['2'], traceparent: [callers] },
    ]);
  });

  it('stays out of the stacks without a tracer provider', () => {
    expect(clientLayers().map((layer) => layer.name)).to.not.include('tracing');
    expect(serverLayers().map((layer) => layer.name)).to.not.include('tracing');
    const tracer = testTracer();
    expect(clientLayers({ tracing: { tracerProvider: tracer.provider } }).map((layer) => layer.name)).to.include('tracing');
    expect(serverLayers({ tracing: { tracerProvider: tracer.provider } }).map((layer) => layer.name)).to.include('tracing');
    expect(() => clientLayers({ tracing: { tracerProvider: {} as never } })).to.throw(/invalid tracing options: tracerProvider/);
  });

  it("ends the call's span, as an error, when a layer below it fails instead of answering", async () => {
    const tracer = useTracer();
    const [tracing] = clientLayers({
      tracing: { tracerProvider: tracer.provider },
      logging: false,
      deadline: false,
      breaker: false,
      retry: false,
    });
    const broken = () => Promise.reject(new Error('layer broke'));
    const failed = await tracing!
      .layer(broken)(clientCall())
      .catch((error: unknown) => error);
    expect(String(failed)).to.contain('layer broke');
    expect(tracer.named('Sent.').map((span) => describeSpan(span).status)).to.deep.equal([SpanStatusCode.ERROR]);
  });

  it('takes the global tracer provider when the app registered one before making the stacks', async () => {
    const tracer = useTracer();
    trace.setGlobalTracerProvider(tracer.provider);
    try {
      const backend = await startFakeBackend('ServiceA', { server: { interceptors: createServerStack({ logging: false }).interceptors } });
      pool.defer(() => backend.stop());
      const client = pool.track(orderClient([backend.address], createClientStack({ logging: false }).interceptors));
      await getOrder(client);
      await until(() => tracer.named(SERVER).length === 1);
      expect(tracer.spans().map((span) => span.name.split('.')[0])).to.have.members(['Sent', 'Attempt', 'Recv']);
    } finally {
      trace.disable();
    }
    expect(clientLayers().map((layer) => layer.name)).to.not.include('tracing');
  });

  it("joins the client's log line and the server's for the same call: the same trace id and request id", async () => {
    const tracer = useTracer();
    const server = memoryLogger('info');
    const clientLog = memoryLogger('info');
    const backend = await tracedBackend('ServiceA', tracer, server.logger);
    const client = tracedClient(backend, tracer, clientLog.logger);

    await getOrder(client);

    const clientLine = clientLog.lines.find((line) => line.msg === 'call finished')!;
    const serverLine = server.lines.find((line) => line.msg === 'call handled')!;
    const [call] = tracer.named(CALL);
    expect(clientLine.traceId).to.equal(call!.spanContext().traceId);
    expect(serverLine.traceId).to.equal(clientLine.traceId);
    expect(clientLine.requestId).to.be.a('string').and.equal(serverLine.requestId);
  });

  it("joins them by the client's traceparent when only the client traces", async () => {
    const tracer = useTracer();
    const server = memoryLogger('info');
    const serverStack = createServerStack({ logger: server.logger, logging: { successLevel: 'info' } });
    const backend = await startFakeBackend('ServiceA', { server: { interceptors: serverStack.interceptors } });
    pool.defer(() => backend.stop());
    const client = tracedClient(backend, tracer);

    await getOrder(client);

    const serverLine = server.lines.find((line) => line.msg === 'call handled')!;
    expect(serverLine.traceId).to.equal(tracer.named(CALL)[0]!.spanContext().traceId);
  });

  describe("with the app's propagator", () => {
    // A propagator of the app's own, on a header of its own: the mesh must use it, not W3C.
    const field = 'x-test-trace';
    const ownPropagator: TextMapPropagator = {
      inject(ctx: Context, carrier: unknown, setter: TextMapSetter) {
        const span = trace.getSpanContext(ctx);
        if (span) setter.set(carrier, field, `${span.traceId}.${span.spanId}`);
      },
      extract(ctx: Context, carrier: unknown, getter: TextMapGetter) {
        const value = getter.get(carrier, field);
        const [traceId, spanId] = String(value ?? '').split('.');
        if (!traceId || !spanId) return ctx;
        return trace.setSpanContext(ctx, { traceId, spanId, traceFlags: 1, isRemote: true });
      },
      fields: () => [field],
    };

    beforeEach(() => propagation.setGlobalPropagator(ownPropagator));
    afterEach(() => propagation.disable());

    it('sends and reads the span context through it', async () => {
      const tracer = useTracer();
      const backend = await tracedBackend('ServiceA', tracer);
      const client = tracedClient(backend, tracer);

      await getOrder(client);

      const [attempt] = tracer.named(ATTEMPT).map(describeSpan);
      const metadata = backend.calls[0]!.metadata;
      expect(metadata.get(field).map(String)).to.deep.equal([`${attempt!.traceId}.${attempt!.spanId}`]);
      expect(metadata.get('traceparent')).to.deep.equal([]);
      await until(() => tracer.named(SERVER).length === 1);
      expect(describeSpan(tracer.named(SERVER)[0]!).parentSpanId).to.equal(attempt!.spanId);
    });
  });

  describe('through a server that calls another (client → ServiceA → ServiceB)', () => {
    beforeEach(() => context.setGlobalContextManager(new StackContextManager().enable()));
    afterEach(() => context.disable());

    it("makes the handler's outgoing call a child of the server span: one trace across both hops", async () => {
      const tracer = useTracer();
      const b = await tracedBackend('ServiceB', tracer);
      const downstream = tracedClient(b, tracer);
      // ServiceA's handler calls ServiceB at once, in the context its server span runs in.
      const serverStack = createServerStack({ tracing: { tracerProvider: tracer.provider }, logging: false });
      const a = await pool.server(
        (server) =>
          server.addService(orderServiceDefinition, {
            GetOrder: (_call: grpc.ServerUnaryCall<{ id: string }, Order>, callback: grpc.sendUnaryData<Order>) => {
              downstream.GetOrder({ id: 'from-a' }, (error: grpc.ServiceError | null, order?: Order) => callback(error, order));
            },
          }),
        { interceptors: serverStack.interceptors },
      );
      const client = pool.track(
        orderClient([a.address], createClientStack({ tracing: { tracerProvider: tracer.provider }, logging: false }).interceptors),
      );

      await getOrder(client);

      await until(() => tracer.named(SERVER).length === 2 && tracer.named(CALL).length === 2);
      const calls = tracer.named(CALL).map(describeSpan);
      const servers = tracer.named(SERVER).map(describeSpan);
      expect(new Set([...calls, ...servers].map((span) => span.traceId)).size).to.equal(1);
      // The outer call is a root; the inner one's parent is ServiceA's server span.
      const [outer, inner] = calls;
      expect(outer!.parentSpanId).to.equal(undefined);
      expect(inner!.parentSpanId).to.equal(servers[0]!.spanId);
    });
  });

  describe('W3C trace context, written by the mesh when the app configured no propagator', () => {
    it('formats and parses traceparent, refusing malformed and all-zero ids', () => {
      const spanContext = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 };
      expect(formatTraceparent(spanContext)).to.equal('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
      expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).to.deep.include({
        ...spanContext,
        isRemote: true,
      });
      expect(parseTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).to.equal(undefined);
      expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01')).to.equal(undefined);
      expect(parseTraceparent('00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01')).to.equal(undefined);
      expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra')).to.equal(undefined);
      expect(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later')).to.deep.include({ traceFlags: 1 });
      expect(parseTraceparent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).to.equal(undefined);
    });

    it('writes tracestate with traceparent, and removes a stale one the caller sent', () => {
      const spanContext = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 0, isRemote: false };
      const stale = md({ tracestate: 'old=1' });
      injectTraceContext(trace.setSpanContext(ROOT_CONTEXT, spanContext), stale);
      expect(stale.get('traceparent')).to.deep.equal(['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00']);
      expect(stale.get('tracestate')).to.deep.equal([]);
    });
  });
});
