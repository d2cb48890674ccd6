// The client logging layer in an outage, on a hand-advanced clock: the first failure of a
// reason in full, its repeats as one line a second, what an operator reads after the fact.
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { loggingLayer, type ClientResult } from 'grpc-meshlite/layers';
import { manualClock } from '../helpers/clock.js';
import { memoryLogger } from '../helpers/logs.js';
import { clientCall } from '../helpers/requests.js';

function failed(details: string): ClientResult {
  return {
    status: { code: grpc.status.UNAVAILABLE, details, metadata: new grpc.Metadata() },
    headers: undefined,
    message: undefined,
    peer: undefined,
    attempts: [],
  };
}

const NO_ENDPOINT = 'no usable endpoint for orders: ServiceA (127.0.0.1:50051) disconnected, ServiceB (127.0.0.1:50052) disconnected';
const breakerOpen = (failures: number, calls: number, probeMs: number) =>
  `circuit breaker open for orders.v1.OrderService/GetOrder: ${failures} of ${calls} calls failed in the last 2 s; next probe in ${probeMs} ms; not sent`;

describe('failed calls summed up in an outage (client logging layer)', () => {
  it('says the first failure of a reason in full, then one line per reason and second: "312 calls failed in the last 1 s"', async () => {
    const clock = manualClock();
    const { logger, lines } = memoryLogger('info');
    let answer = failed(NO_ENDPOINT);
    const layer = loggingLayer({ logger, clock })(async () => answer);
    const get = clientCall('/orders.v1.OrderService/GetOrder');
    const create = clientCall('/orders.v1.OrderService/CreateOrder');
    const said = () => lines.splice(0).map((line) => [line.level, line.msg, line['method'], line['calls']]);

    // A second of outage: 313 calls fail for one reason, and the breaker refuses 10 more, each
    // with its own numbers in the text.
    for (let i = 0; i < 313; i++) await layer(i % 3 === 0 ? create : get);
    for (let i = 0; i < 10; i++) {
      answer = failed(breakerOpen(10 + i, 12 + i, 900 - i * 10));
      await layer(get);
    }
    expect(said()).to.deep.equal([
      [40, 'call finished', 'orders.v1.OrderService/CreateOrder', undefined],
      [40, 'call finished', 'orders.v1.OrderService/GetOrder', undefined],
    ]);
    clock.tick(1000);
    const summary = lines.map((line) => ({ level: line.level, msg: line.msg, methods: line['methods'], windowMs: line['windowMs'] }));
    expect(summary).to.deep.equal([
      {
        level: 40,
        msg: `312 calls failed in the last 1 s: UNAVAILABLE: ${NO_ENDPOINT}`,
        methods: { 'orders.v1.OrderService/GetOrder': 208, 'orders.v1.OrderService/CreateOrder': 104 },
        windowMs: 1000,
      },
      {
        level: 40,
        msg: `9 calls failed in the last 1 s: UNAVAILABLE: ${breakerOpen(19, 21, 810)}`,
        methods: { 'orders.v1.OrderService/GetOrder': 9 },
        windowMs: 1000,
      },
    ]);
    lines.length = 0;

    // The outage goes on for another second: one line per reason, nothing per call.
    answer = failed(NO_ENDPOINT);
    for (let i = 0; i < 100; i++) await layer(get);
    expect(said()).to.deep.equal([]);
    clock.tick(1000);
    expect(said()).to.deep.equal([[40, `100 calls failed in the last 1 s: UNAVAILABLE: ${NO_ENDPOINT}`, undefined, 100]]);

    // A quiet second forgets the reason: its next failure is said in full again.
    clock.tick(1000);
    clock.tick(1000);
    expect(said()).to.deep.equal([]);
    await layer(get);
    expect(said()).to.deep.equal([[40, 'call finished', 'orders.v1.OrderService/GetOrder', undefined]]);
    clock.tick(1000);
    expect(said()).to.deep.equal([]);
    expect(clock.pending()).to.equal(0);
  });

  it('logs a successful call at debug by default (not at info), and every failure in full with summaryWindowMs: 0', async () => {
    const clock = manualClock();
    const { logger, lines } = memoryLogger('debug');
    let answer: ClientResult = { ...failed(''), status: { code: grpc.status.OK, details: '', metadata: new grpc.Metadata() } };
    const layer = loggingLayer({ logger, clock, summaryWindowMs: 0 })(async () => answer);
    await layer(clientCall());
    answer = failed(NO_ENDPOINT);
    await layer(clientCall());
    await layer(clientCall());
    expect(lines.filter((line) => line.msg === 'call finished').map((line) => [line.level, line['code']])).to.deep.equal([
      [20, 'OK'],
      [40, 'UNAVAILABLE'],
      [40, 'UNAVAILABLE'],
    ]);
    expect(clock.pending()).to.equal(0);
  });
});
