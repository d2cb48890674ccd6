// nice-grpc clients get the client layers through grpc-meshlite/nice-grpc's middleware.
import { ChannelCredentials } from '@grpc/grpc-js';
import { expect } from 'chai';
import { createMesh, meshCallInfo, type MeshConfigInput } from 'grpc-meshlite';
import { meshMiddleware } from 'grpc-meshlite/nice-grpc';
import { ClientError, Metadata, Status, createChannel, createClientFactory, type ClientMiddleware } from 'nice-grpc';
import { AsyncLocalStorage } from 'node:async_hooks';
import { orderServiceDefinition, type Order } from '../../examples/orders.js';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { connectAndWait } from '../helpers/mesh.js';
import { useTestPool } from '../helpers/servers.js';
import { testTracer } from '../helpers/tracing.js';
import type { TracerProvider } from '@opentelemetry/api';
import { parseTraceparent } from '../../src/observability/tracing.js';

const SERVICE = 'orders.v1.OrderService';

interface NiceOrders {
  GetOrder(request: { id: string }, options?: { metadata?: Metadata; deadline?: number | Date; signal?: AbortSignal }): Promise<Order>;
}

describe('nice-grpc clients through the mesh (grpc-meshlite/nice-grpc)', function () {
  this.timeout(20_000);
  const pool = useTestPool();

  async function setup(tracerProvider?: TracerProvider, inner?: ClientMiddleware) {
    const backends = await Promise.all([startFakeBackend('ServiceA'), startFakeBackend('ServiceB')]);
    for (const backend of backends) pool.defer(() => backend.stop());
    const config: MeshConfigInput = {
      services: {
        orders: {
          endpoints: backends.map((backend) => ({ name: backend.name, address: backend.address })),
          healthCheck: { serviceName: SERVICE, probeIntervalMs: 0 },
          balancer: { slowStart: { windowMs: 0 } },
          client: { retry: { maxAttempts: 3, idempotent: true, backoff: { baseMs: 1, capMs: 1 } } },
        },
      },
    };
    const mesh = createMesh({ config, ...(tracerProvider && { tracerProvider }) });
    pool.defer(() => mesh.close());
    const channel = createChannel(mesh.target('orders'), ChannelCredentials.createInsecure(), mesh.channelOptions());
    pool.defer(() => channel.close());
    const stack = mesh.clientStack('orders');
    pool.defer(() => stack.close());
    // nice-grpc runs the middleware added last outermost: `inner` goes first to sit under the mesh's.
    const factory = (inner ? createClientFactory().use(inner) : createClientFactory()).use(meshMiddleware(stack));
    const client = factory.create(orderServiceDefinition, channel) as unknown as NiceOrders;
    await connectAndWait(mesh, channel, ['ServiceA', 'ServiceB']);
    return { backends: backends, client, stack };
  }

  const headers = (values: Record<string, string>) => {
    const metadata = Metadata();
    for (const [key, value] of Object.entries(values)) metadata.set(key, value);
    return metadata;
  };

  it('retries a failed call on the other backend, with the caller metadata on every attempt', async () => {
    const { backends, client } = await setup();
    const order = await client.GetOrder(
      { id: 'x' },
      { metadata: headers({ 'x-test-fail-times': '1', 'x-test-key': 'nice', authorization: 'Bearer n' }) },
    );
    expect(order.served_by).to.be.oneOf(['ServiceA', 'ServiceB']);
    const calls = [...backends[0].calls, ...backends[1].calls];
    expect(calls).to.have.length(3);
    expect(calls.map((call) => call.metadata.get('authorization').map(String)[0])).to.deep.equal(['Bearer n', 'Bearer n', 'Bearer n']);
    expect(calls.flatMap((call) => Object.keys(call.metadata.getMap()).filter((key) => key.startsWith('x-meshlite')))).to.deep.equal([]);
  });

  it('sends grpc-previous-rpc-attempts and each attempt its own traceparent, under one call span', async () => {
    const tracer = testTracer();
    pool.defer(() => tracer.shutdown());
    const { backends, client } = await setup(tracer.provider);
    await client.GetOrder({ id: 'x' }, { metadata: headers({ 'x-test-fail-times': '1', 'x-test-key': 'traced' }) });
    // In the order they were sent: by the count of attempts before each.
    const previousOf = (call: { metadata: { get(key: string): unknown[] } }) =>
      Number(call.metadata.get('grpc-previous-rpc-attempts')[0] ?? 0);
    const calls = [...backends[0].calls, ...backends[1].calls].sort((a, b) => previousOf(a) - previousOf(b));
    expect(calls.map((call) => call.metadata.get('grpc-previous-rpc-attempts').map(String))).to.deep.equal([[], ['1'], ['2']]);
    const [callSpan] = tracer.named('Sent.');
    const attempts = tracer
      .named('Attempt.')
      .sort((a, b) => Number(a.attributes['previous-rpc-attempts']) - Number(b.attributes['previous-rpc-attempts']));
    expect(attempts.map((span) => span.attributes['previous-rpc-attempts'])).to.deep.equal([0, 1, 2]);
    const sent = calls.map((call) => parseTraceparent(call.metadata.get('traceparent')[0]));
    expect(sent.map((context) => context?.traceId)).to.deep.equal(calls.map(() => callSpan!.spanContext().traceId));
    expect(sent.map((context) => context?.spanId)).to.deep.equal(attempts.map((span) => span.spanContext().spanId));
  });

  it("throws nice-grpc's ClientError with the server's code and details, and the mesh's account", async () => {
    const { client } = await setup();
    const error = await client.GetOrder({ id: 'x' }, { metadata: headers({ 'x-test-status': String(Status.NOT_FOUND) }) }).then(
      () => expect.fail('expected NOT_FOUND'),
      (caught: unknown) => caught as ClientError,
    );
    expect(error).to.be.instanceOf(ClientError);
    expect(error.code).to.equal(Status.NOT_FOUND);
    expect(error.details).to.match(/^Service[AB]: steered failure$/);
    expect(meshCallInfo(error)).to.deep.include({ attempts: 1, stoppedBecause: 'NOT_FOUND is not retryable' });
  });

  it('keeps answering while a backend dies', async () => {
    const { backends, client } = await setup();
    const served: string[] = [];
    for (let i = 0; i < 10; i++) served.push((await client.GetOrder({ id: 'x' })).served_by);
    backends[0].stop();
    for (let i = 0; i < 10; i++) served.push((await client.GetOrder({ id: 'x' })).served_by);
    expect(new Set(served.slice(0, 10))).to.deep.equal(new Set(['ServiceA', 'ServiceB']));
    expect(new Set(served.slice(10))).to.deep.equal(new Set(['ServiceB']));
  });

  it('ends a call at its deadline (the deadline option) with DEADLINE_EXCEEDED, and one its caller aborts with an AbortError', async () => {
    const { client } = await setup();
    const hung = headers({ 'x-test-hang': '1' });
    // A number is ms from now, as nice-grpc's deadline middleware reads it; a Date is a time.
    const late = await client.GetOrder({ id: 'x' }, { metadata: hung, deadline: 100 }).catch((caught: unknown) => caught as ClientError);
    expect((late as ClientError).code).to.equal(Status.DEADLINE_EXCEEDED);
    const dated = await client
      .GetOrder({ id: 'x' }, { metadata: hung, deadline: new Date(Date.now() + 100) })
      .catch((caught: unknown) => caught as ClientError);
    expect((dated as ClientError).code).to.equal(Status.DEADLINE_EXCEEDED);
    const controller = new AbortController();
    const pending = client.GetOrder({ id: 'x' }, { metadata: hung, signal: controller.signal }).catch((caught: unknown) => caught);
    controller.abort();
    expect(((await pending) as Error).name).to.equal('AbortError'); // what abort-controller-x's isAbortError checks
  });

  it("sends each retry in its caller's async context, though the retries wait on one shared timer", async () => {
    const request = new AsyncLocalStorage<string>();
    const seen: string[] = [];
    // After the mesh's middleware: it sees every attempt, in the context it was sent in.
    const recorder: ClientMiddleware = async function* (call, options) {
      seen.push(`${String(options.metadata?.get('x-test-key'))} in ${request.getStore()}`);
      return yield* call.next(call.request, options);
    };
    const { client } = await setup(undefined, recorder);
    await Promise.all(
      ['r-1', 'r-2', 'r-3'].map((id) =>
        request.run(id, () => client.GetOrder({ id: 'x' }, { metadata: headers({ 'x-test-fail-times': '1', 'x-test-key': id }) })),
      ),
    );
    // Each call failed once at least (a backend fails its first call of each key), so it was retried.
    for (const id of ['r-1', 'r-2', 'r-3']) expect(seen.filter((entry) => entry.startsWith(`${id} in`))).to.have.length.of.at.least(2);
    expect(seen.filter((entry) => entry.split(' in ')[0] !== entry.split(' in ')[1])).to.deep.equal([]);
  });
});
