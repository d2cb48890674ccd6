import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createClientStack } from 'grpc-meshlite';
import { deadlineLayer, propagateDeadline } from 'grpc-meshlite/layers';
import { orderServiceDefinition, OrderClient, callUnary, type Order } from '../../examples/orders.js';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { createOrder, getOrder, orderClient } from '../helpers/clients.js';
import { manualClock } from '../helpers/clock.js';
import { clientCall, scriptedNext } from '../helpers/requests.js';
import { expectGrpcError, useTestPool } from '../helpers/servers.js';

describe('deadline interceptor', () => {
  const pool = useTestPool();

  /**
   * A client whose stack runs on a hand-held clock, with a grpc-js interceptor behind the
   * stack that records the deadline each attempt is handed to the channel with.
   */
  async function setup(deadline: Parameters<typeof deadlineLayer>[0]) {
    const backend = await startFakeBackend('ServiceB');
    pool.defer(() => backend.stop());
    const clock = manualClock(Date.now());
    const stack = createClientStack({ clock, deadline, retry: false, breaker: false });
    const sent: number[] = [];
    const spy: grpc.Interceptor = (options, nextCall) => {
      sent.push(Number(options.deadline ?? Infinity));
      return new grpc.InterceptingCall(nextCall(options));
    };
    const client = pool.track(orderClient([backend.address], [...stack.interceptors, spy]));
    return { backend, client, clock, sent };
  }

  it('gives a call without a deadline the configured one: T_max = T_now + T_timeout', async () => {
    const { backend, client, clock, sent } = await setup({ timeoutMs: 100 });
    const error = await expectGrpcError(getOrder(client, { 'x-test-hang': '1' }));
    expect(error.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
    expect(sent).to.deep.equal([clock.now() + 100]);
    expect(backend.calls[0]!.deadline).to.be.below(Infinity);
  });

  it('never extends a deadline the caller set', async () => {
    const { client, clock, sent } = await setup({ timeoutMs: 60_000 });
    const callerDeadline = clock.now() + 300;
    await getOrder(client, {}, { deadline: callerDeadline });
    expect(sent).to.deep.equal([callerDeadline]);
  });

  it('uses the most specific per-method timeout', async () => {
    const { client, clock, sent } = await setup({
      timeoutMs: 60_000,
      methods: { 'orders.v1.OrderService': 30_000, 'orders.v1.OrderService/GetOrder': 200 },
    });
    await getOrder(client);
    await createOrder(client);
    expect(sent).to.deep.equal([clock.now() + 200, clock.now() + 30_000]);
  });

  it('fails a call whose deadline already passed at once, without touching the network', async () => {
    const { backend, client } = await setup({});
    const error = await expectGrpcError(getOrder(client, {}, { deadline: Date.now() - 10 }));
    expect(error.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
    expect(error.details).to.match(/^deadline exceeded before the call started \(\d+ ms past its deadline\); not sent$/);
    expect(backend.calls).to.have.length(0);
  });

  it('computes the deadline from an injected clock', async () => {
    const clock = manualClock(5_000);
    const next = scriptedNext(grpc.status.OK);
    let seen = 0;
    await deadlineLayer({ timeoutMs: 250, clock })(async (request) => {
      seen = request.deadline;
      return next(request);
    })(clientCall());
    expect(seen).to.equal(5_250);
  });

  it('rejects invalid options, naming the field and the value', () => {
    expect(() => deadlineLayer({ timeoutMs: 0 })).to.throw(/timeoutMs.*0/);
    expect(() => deadlineLayer({ methods: { 'a/B': -5 } })).to.throw(/methods\["a\/B"\].*-5/);
  });

  describe('propagation across two hops (client → ServiceA → ServiceB)', () => {
    async function twoHops(marginMs: number) {
      const b = await startFakeBackend('ServiceB');
      pool.defer(() => b.stop());
      const stack = createClientStack({ retry: false, breaker: false });
      const toB = pool.track(orderClient([b.address], stack.interceptors));
      const remainingAtA: number[] = [];
      const a = await pool.server((server) =>
        server.addService(orderServiceDefinition, {
          GetOrder: (call: grpc.ServerUnaryCall<{ id: string }, Order>, callback: grpc.sendUnaryData<Order>) => {
            const deadline = propagateDeadline(call, { marginMs });
            remainingAtA.push(Number(call.getDeadline()) - Date.now());
            toB.GetOrder(call.request, { deadline }, callback);
          },
        }),
      );
      const client = pool.track(new OrderClient(a.address, grpc.credentials.createInsecure()));
      return { b, client, remainingAtA };
    }

    it('gives the second hop the first hop’s remaining time minus the margin', async () => {
      const { b, client, remainingAtA } = await twoHops(50);
      const order = await callUnary(client.GetOrder, client, { id: 'x' }, new grpc.Metadata(), {
        deadline: Date.now() + 2000,
      });
      expect(order.served_by).to.equal('ServiceB');
      const received = b.calls[0]!;
      const timeoutAtB = received.deadline - received.arrivedAt;
      expect(timeoutAtB).to.be.at.most(remainingAtA[0]! - 50 + 1);
    });

    it('fails the second hop at once when the first hop’s budget is already spent', async () => {
      const { b, client } = await twoHops(500);
      const error = await expectGrpcError(
        callUnary(client.GetOrder, client, { id: 'x' }, new grpc.Metadata(), { deadline: Date.now() + 200 }),
      );
      expect(error.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
      expect(error.details).to.contain('not sent');
      expect(b.calls).to.have.length(0);
    });
  });
});
