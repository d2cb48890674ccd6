import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { drainServer, type DrainPhase } from 'grpc-meshlite';
import { HealthClient } from 'grpc-meshlite/layers';
import { resolveDrainOptions } from '../src/server/drain.js';
import { OrderClient, callUnary } from '../examples/orders.js';
import { manualClock } from './helpers/clock.js';
import { startFakeBackend, type FakeBackend } from './helpers/fake-backend.js';
import { expectGrpcError, nextEvent, useTestPool } from './helpers/servers.js';
import { streamReader } from './helpers/streams.js';

describe('graceful drain', () => {
  const pool = useTestPool();

  async function setup() {
    const backend = await startFakeBackend('ServiceA');
    pool.defer(() => backend.stop());
    const creds = grpc.credentials.createInsecure();
    const orders = pool.track(new OrderClient(backend.address, creds));
    const health = pool.track(new HealthClient(backend.address, creds));
    return { backend, orders, health };
  }

  function drain(backend: FakeBackend, clock: ReturnType<typeof manualClock>, log: string[], timeoutMs = 10_000) {
    const phases = new Map<DrainPhase, () => void>();
    const reached = (phase: DrainPhase) => new Promise<void>((resolve) => phases.set(phase, resolve));
    const shuttingDown = reached('shutting-down');
    const done = drainServer(
      { server: backend.server, health: backend.health, healthService: backend.healthService },
      { graceMs: 1000, timeoutMs },
      (phase) => {
        log.push(phase);
        phases.get(phase)?.();
      },
      clock,
    );
    return { done, shuttingDown };
  }

  it('reports NOT_SERVING first, keeps serving through the grace period, then shuts down', async () => {
    const { backend, orders, health } = await setup();
    const clock = manualClock();
    const log: string[] = [];
    const watch = streamReader(health.watch({ service: '' }));
    expect((await watch.next()).status).to.equal('SERVING');

    const { done } = drain(backend, clock, log);
    expect((await watch.next()).status).to.equal('NOT_SERVING');
    log.push('client saw NOT_SERVING');
    const duringGrace = await callUnary(orders.GetOrder, orders, { id: '1' });
    log.push(`call during grace served by ${duringGrace.served_by}`);

    clock.tick(1000);
    expect(await done).to.deep.equal({ forced: false });
    expect(log).to.deep.equal([
      'not-serving',
      'client saw NOT_SERVING',
      'call during grace served by ServiceA',
      'shutting-down',
      'stopped',
    ]);
    expect((await watch.end).code).to.equal(grpc.status.OK);
    const refused = await expectGrpcError(callUnary(orders.GetOrder, orders, { id: '2' }));
    expect(refused.code).to.equal(grpc.status.UNAVAILABLE);
  });

  it('lets an in-flight call finish before the server stops', async () => {
    const { backend, orders } = await setup();
    const clock = manualClock();
    const metadata = new grpc.Metadata();
    metadata.set('x-test-delay-ms', '200');
    const arrived = nextEvent((l) => backend.onCall.subscribe(l));
    const inFlight = callUnary(orders.GetOrder, orders, { id: 'slow' }, metadata);
    await arrived;
    const { done, shuttingDown } = drain(backend, clock, []);
    clock.tick(1000);
    await shuttingDown;
    expect((await inFlight).served_by).to.equal('ServiceA');
    expect(await done).to.deep.equal({ forced: false });
  });

  it('forces the shutdown when calls outlive the hard limit', async () => {
    const { backend, orders } = await setup();
    const clock = manualClock();
    const metadata = new grpc.Metadata();
    metadata.set('x-test-hang', '1');
    const arrived = nextEvent((l) => backend.onCall.subscribe(l));
    const hung = callUnary(orders.GetOrder, orders, { id: 'hung' }, metadata);
    await arrived;
    const log: string[] = [];
    const { done, shuttingDown } = drain(backend, clock, log, 5000);
    clock.tick(1000);
    await shuttingDown;
    clock.tick(5000);
    expect(await done).to.deep.equal({ forced: true });
    expect(log).to.deep.equal(['not-serving', 'shutting-down', 'forced']);
    const error = await expectGrpcError(hung);
    // forceShutdown resets the stream (RST_STREAM CANCEL): grpc-js reports it as CANCELLED.
    expect(error.code).to.equal(grpc.status.CANCELLED);
  });

  it('rejects invalid options, naming the field and the value', () => {
    expect(() => resolveDrainOptions({ graceMs: -1 })).to.throw(/graceMs.*-1/);
    expect(() => resolveDrainOptions({ timeoutMs: Number.NaN })).to.throw(/timeoutMs.*NaN/);
    expect(() => resolveDrainOptions({ grace: 1 } as never)).to.throw(/unknown field "grace"/);
  });
});
