import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { HealthImplementation } from 'grpc-health-check';
import { HealthState, type FailoverEvent, type MeshConfigInput } from 'grpc-meshlite';
import { healthServiceDefinition } from 'grpc-meshlite/layers';
import { REWATCH_BACKOFF } from '../../src/health/health-checker.js';
import { callUnary } from '../../examples/orders.js';
import { startFakeBackend, type FakeBackendOptions } from '../helpers/fake-backend.js';
import { manualClock } from '../helpers/clock.js';
import { seededRandom } from '../helpers/clients.js';
import { connectAndWait, allUsable, meshClient, readyMeshClient, split, until } from '../helpers/mesh.js';
import { useTestPool } from '../helpers/servers.js';

const SERVICE = 'orders.v1.OrderService';

describe('mesh health checking and priority tiers', function () {
  this.timeout(20_000);
  const pool = useTestPool();

  async function backend(name: string, options?: FakeBackendOptions) {
    const started = await startFakeBackend(name, options);
    pool.defer(() => started.stop());
    return started;
  }

  function mesh(services: MeshConfigInput['services']) {
    return meshClient(pool, { config: { services } });
  }

  function readyMesh(services: MeshConfigInput['services'], ready: string[]) {
    return readyMeshClient(pool, { config: { services } }, ready);
  }

  type WatchCall = grpc.ServerWritableStream<{ service: string }, unknown>;

  /**
   * A backend whose grpc.health.v1 is the test's: `watch` answers each Watch (default: SERVING
   * once), `check` runs before each Check answers SERVING.
   */
  function healthBackend(name: string, { watch, check }: { watch?: (call: WatchCall) => void; check?: () => void }) {
    return backend(name, {
      health: false,
      setup: (server) =>
        server.addService(healthServiceDefinition, {
          Watch: watch ?? ((call: WatchCall) => void call.write({ status: 'SERVING' })),
          Check: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
            check?.();
            callback(null, { status: 'SERVING' });
          },
          List: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { statuses: {} }),
        }),
    });
  }

  it('fails over to the next priority tier when a tier has nothing usable, and back when it recovers', async () => {
    const [a, b, c] = await Promise.all(['ServiceA', 'ServiceB', 'ServiceC'].map((name) => backend(name)));
    const { mesh: m, client } = mesh({
      orders: {
        endpoints: [
          { name: 'ServiceA', address: a!.address, weight: 80, priority: 0 },
          { name: 'ServiceB', address: b!.address, weight: 20, priority: 0 },
          { name: 'ServiceC', address: c!.address, weight: 1, priority: 1 },
        ],
        healthCheck: { serviceName: SERVICE },
        balancer: { slowStart: { windowMs: 0 } },
      },
    });
    const failovers: FailoverEvent[] = [];
    m.events.onFailover((event) => failovers.push(event));
    await connectAndWait(m, client, ['ServiceA', 'ServiceB', 'ServiceC']);
    expect(await split(client, 10)).to.deep.equal({ ServiceA: 8, ServiceB: 2 });

    a!.health.set(SERVICE, 'NOT_SERVING');
    b!.health.set(SERVICE, 'NOT_SERVING');
    await until(m, (e) => !e['ServiceA']!.usable && !e['ServiceB']!.usable);
    expect(await split(client, 10)).to.deep.equal({ ServiceC: 10 });
    expect(failovers.at(-1)).to.include({ from: 0, to: 1, reason: 'priority 0 has no usable endpoint' });

    // One of two back: Envoy's overprovisioning keeps 70 % on tier 0, spills 30 % to tier 1.
    a!.health.set(SERVICE, 'SERVING');
    await until(m, allUsable('ServiceA'));
    expect(failovers.at(-1)).to.include({ from: 1, to: 0, reason: 'priority 0 usable again' });
    expect(m.snapshot('orders')[0]!.tiers).to.deep.equal([
      { priority: 0, load: 70, panic: false },
      { priority: 1, load: 30, panic: false },
    ]);
    expect(await split(client, 100)).to.deep.equal({ ServiceA: 70, ServiceC: 30 });

    b!.health.set(SERVICE, 'SERVING');
    await until(m, allUsable('ServiceA', 'ServiceB'));
    expect(await split(client, 10)).to.deep.equal({ ServiceA: 8, ServiceB: 2 });
  });

  it('sends a retry that has tried every endpoint of the active tier to the tier below, connected already', async () => {
    const [a, b, c] = await Promise.all(['ServiceA', 'ServiceB', 'ServiceC'].map((name) => backend(name)));
    const { mesh: m, client } = mesh({
      orders: {
        endpoints: [
          { name: 'ServiceA', address: a!.address, weight: 80, priority: 0 },
          { name: 'ServiceB', address: b!.address, weight: 20, priority: 0 },
          { name: 'ServiceC', address: c!.address, weight: 1, priority: 1 },
        ],
        healthCheck: { serviceName: SERVICE },
        balancer: { slowStart: { windowMs: 0 }, ejection: { enabled: false } },
        client: { retry: { maxAttempts: 3, idempotent: true, backoff: { baseMs: 1, capMs: 1 } } },
      },
    });
    await connectAndWait(m, client, ['ServiceA', 'ServiceB', 'ServiceC']);
    // Both endpoints of tier 0 fail every call while they still look usable (a moment after
    // both were killed at once, before the balancer heard): the third attempt goes to C.
    a!.behaviour.status = grpc.status.UNAVAILABLE;
    b!.behaviour.status = grpc.status.UNAVAILABLE;
    const served = [];
    for (let i = 0; i < 5; i++) served.push((await callUnary(client.GetOrder, client, { id: 'x' })).served_by);
    expect(served).to.deep.equal(Array(5).fill('ServiceC'));
    expect(m.snapshot('orders')[0]!.tiers).to.deep.equal([
      { priority: 0, load: 100, panic: false },
      { priority: 1, load: 0, panic: false },
    ]);
  });

  it('in panic mode spreads over every connected endpoint when too few are healthy', async () => {
    const [a, b] = await Promise.all(['ServiceA', 'ServiceB'].map((name) => backend(name)));
    const { mesh: m, client } = await readyMesh(
      {
        orders: {
          endpoints: [
            { name: 'ServiceA', address: a!.address, weight: 1 },
            { name: 'ServiceB', address: b!.address, weight: 1 },
          ],
          healthCheck: { serviceName: SERVICE },
          balancer: { panicThresholdPercent: 50 },
        },
      },
      ['ServiceA', 'ServiceB'],
    );
    a!.health.set(SERVICE, 'NOT_SERVING');
    b!.health.set(SERVICE, 'NOT_SERVING');
    await until(m, (e) => !e['ServiceA']!.usable && !e['ServiceB']!.usable);
    // Nothing healthy is below the 50 % threshold: rather than fail every call, use them all.
    expect(await split(client, 10)).to.deep.equal({ ServiceA: 5, ServiceB: 5 });
    expect(m.snapshot('orders')[0]!.tiers).to.deep.equal([{ priority: 0, load: 100, panic: true }]); // the meshlite.service.tier.panic gauge
  });

  it('probes only a silent endpoint: none while Watch is quiet and nothing is sent, one after the idle interval, one soon after a call goes unanswered', async () => {
    let checks = 0;
    const a = await healthBackend('ServiceA', { check: () => checks++ });
    const clock = manualClock(Date.now());
    const { mesh: m, client } = meshClient(pool, {
      config: {
        services: {
          orders: {
            endpoints: [{ name: 'ServiceA', address: a.address }],
            healthCheck: { serviceName: SERVICE, probeIntervalMs: 1000, probeTimeoutMs: 500, idleProbeIntervalMs: 30_000 },
            balancer: { slowStart: { windowMs: 0 } },
          },
        },
      },
      clock,
    });
    await connectAndWait(m, client, ['ServiceA']);
    // Ten probe intervals at rest: before, ten Check probes; now none.
    for (let i = 0; i < 10; i++) clock.tick(1000);
    expect(checks).to.equal(0);
    // Silent for the idle interval (idle looks fall on whole seconds of the clock): one probe.
    clock.tick(21_000);
    await until(m, () => checks === 1);
    // A call the backend does not answer: a look within half the probe interval finds the
    // endpoint silent with a call in flight, and probes.
    a.behaviour.hang = true;
    void callUnary(client.GetOrder, client, { id: 'x' }).catch(() => undefined);
    await until(m, (e) => e['ServiceA']!.inFlight === 1);
    const sent = clock.now();
    await until(m, () => {
      clock.tick(50);
      return checks === 2;
    });
    // Within one probe interval of the endpoint's last word (plus this loop's 50 ms steps).
    expect(clock.now() - sent).to.be.at.most(1000 + 100);
    client.close();
  });

  it('rebuilds no picker for a healthy answer in other words (a probe after the Watch), one for a verdict', async () => {
    let checks = 0;
    let watch: WatchCall | undefined;
    const a = await healthBackend('ServiceA', {
      watch: (call) => {
        watch = call;
        call.write({ status: 'SERVING' });
      },
      check: () => checks++,
    });
    const clock = manualClock(Date.now());
    const { mesh: m, client } = meshClient(pool, {
      config: {
        services: {
          orders: {
            endpoints: [{ name: 'ServiceA', address: a.address }],
            healthCheck: { serviceName: SERVICE, probeIntervalMs: 1000, probeTimeoutMs: 500, idleProbeIntervalMs: 10_000 },
            balancer: { slowStart: { windowMs: 0 } },
          },
        },
      },
      clock,
    });
    await connectAndWait(m, client, ['ServiceA']);
    const builds = () => m.snapshot('orders')[0]!.pickerBuilds;
    const before = builds();
    await until(m, () => {
      clock.tick(1000);
      return checks === 1 && m.snapshot('orders')[0]!.endpoints[0]!.healthDetail === 'Check: SERVING';
    });
    // "Watch: SERVING" became "Check: SERVING": the same verdict, so the same picker.
    expect(builds()).to.equal(before);
    // A verdict that changes what may be picked rebuilds it.
    watch!.write({ status: 'NOT_SERVING' });
    await until(m, (e) => !e['ServiceA']!.usable);
    expect(builds()).to.be.greaterThan(before);
    client.close();
  });

  /**
   * Eight endpoints on a 10 s idle-probe period: when each is probed, counted from when they
   * connected together, or — `afterTraffic` — from when a burst of calls to all of them ended;
   * until each was probed once, or for `forMs` of the clock.
   */
  async function idleProbes(
    seed: number,
    { afterTraffic = false, idleProbesPerSecond, forMs }: { afterTraffic?: boolean; idleProbesPerSecond?: number; forMs?: number } = {},
  ): Promise<{ from: number; probes: Map<string, number[]>; timers: number }> {
    const clock = manualClock(Date.now());
    const names = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'];
    const probes = new Map<string, number[]>();
    let counting = !afterTraffic;
    const backends = await Promise.all(
      names.map((name) =>
        healthBackend(name, {
          check: () => {
            if (counting) probes.set(name, [...(probes.get(name) ?? []), clock.now()]);
          },
        }),
      ),
    );
    const { mesh: m, client } = meshClient(pool, {
      config: {
        services: {
          orders: {
            endpoints: backends.map((b, i) => ({ name: names[i]!, address: b.address })),
            healthCheck: {
              serviceName: SERVICE,
              probeIntervalMs: 1000,
              probeTimeoutMs: 500,
              idleProbeIntervalMs: IDLE_PERIOD,
              ...(idleProbesPerSecond !== undefined && { idleProbesPerSecond }),
            },
            balancer: { slowStart: { windowMs: 0 } },
          },
        },
      },
      clock,
      random: seededRandom(seed),
    });
    await connectAndWait(m, client, names);
    // Traffic to every endpoint at once: each is heard at the same moment, then all fall silent.
    if (afterTraffic) await Promise.all(Array.from({ length: 4 * names.length }, () => callUnary(client.GetOrder, client, { id: 'x' })));
    const from = clock.now();
    const timers = clock.pending();
    counting = true;
    await until(m, () => {
      clock.tick(forMs === undefined ? 100 : 500);
      return forMs === undefined ? probes.size === names.length : clock.now() - from >= forMs;
    });
    client.close();
    return { from, probes, timers };
  }
  const firstIdleProbes = async (seed: number, afterTraffic: boolean) => {
    const { from, probes, timers } = await idleProbes(seed, { afterTraffic });
    return { offsets: [...probes.values()].map((at) => at[0]! - from), timers };
  };
  const IDLE_PERIOD = 10_000;

  it('spreads the idle probes of endpoints that connected together over the whole period, on one timer', async () => {
    const { offsets, timers } = await firstIdleProbes(29, false);
    // Their idle looks wait in one queue on one clock timer, not a timer (and a Node timer list,
    // at a delay of its own) per endpoint: 0.6 KiB an endpoint at 1,000 endpoints.
    expect(timers).to.equal(1);
    // None waits longer than the period (and the second the idle looks are rounded up to); and
    // not all in the last fifth of it, where every first look used to fall (1,000 endpoints
    // probed in a 12 s wave once a minute).
    expect(Math.max(...offsets)).to.be.at.most(IDLE_PERIOD + 1000 + 100);
    expect(Math.min(...offsets)).to.be.below(0.8 * IDLE_PERIOD);
  });

  it('spreads the idle probes of endpoints that served traffic together and then went idle', async () => {
    const { offsets } = await firstIdleProbes(31, true);
    // Not all in the last fifth of the period after the traffic, where every look used to fall.
    expect(Math.max(...offsets)).to.be.at.most(IDLE_PERIOD + 1000 + 600);
    expect(Math.min(...offsets)).to.be.below(0.7 * IDLE_PERIOD);
  });

  it('sends no more idle probes a second than idleProbesPerSecond, however many endpoints', async () => {
    // Eight endpoints on a 10 s idle period would send 0.8 probes a second; at most 0.2 a
    // second stretches each one's period to 40 s on average — and every endpoint is still probed
    // (each may add one probe to the rate's share, wherever its first falls).
    const forMs = 80_000;
    const { probes: capped } = await idleProbes(37, { idleProbesPerSecond: 0.2, forMs });
    const sent = [...capped.values()].flat().length;
    expect(sent).to.be.at.most((0.2 * forMs) / 1000 + 8);
    expect(capped.size).to.equal(8);
    // Under the default (2 a second) the same endpoints keep their 10 s period.
    const { probes: uncapped } = await idleProbes(37, { forMs });
    expect([...uncapped.values()].flat().length).to.be.at.least((0.8 * forMs) / 1000 / 1.1 - 8);
  });

  it('re-watches with backoff when the health stream breaks, and keeps following the backend', async () => {
    // A health service whose Watch fails at once until it is fixed, then follows `state`.
    const state = new HealthState({ [SERVICE]: 'SERVING' });
    let broken = true;
    let watches = 0;
    const a = await backend('ServiceA', {
      health: false,
      setup: (server) =>
        server.addService(healthServiceDefinition, {
          Watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
            watches++;
            if (broken) return call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'health store down' });
            call.write({ status: state.get(call.request.service) });
            const dispose = state.onChange((change) => call.write({ status: change.status }));
            call.on('cancelled', dispose);
          },
          Check: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { status: 'SERVING' }),
          List: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { statuses: {} }),
        }),
    });
    const clock = manualClock(Date.now());
    const { mesh: m, client } = meshClient(pool, {
      config: {
        services: {
          orders: { endpoints: [{ name: 'ServiceA', address: a.address }], healthCheck: { serviceName: SERVICE, probeIntervalMs: 0 } },
        },
      },
      clock,
    });
    client.getChannel().getConnectivityState(true);
    // The first Watch fails: the endpoint is out, and the only timer on the clock is the re-watch.
    await until(m, (e) => e['ServiceA']?.health === 'failed' && clock.pending() === 1);
    expect(watches).to.equal(1);

    // Re-watch n waits min(5 s, 200 ms · 1.6^n) ± 20 %: the first between 160 and 240 ms ...
    clock.tick(159);
    expect(clock.pending()).to.equal(1);
    clock.tick(81);
    expect(clock.pending()).to.equal(0);
    await until(m, () => watches === 2 && clock.pending() === 1);
    // ... the second between 256 and 384 ms: the delay grows while the stream keeps failing.
    clock.tick(255);
    expect(clock.pending()).to.equal(1);
    clock.tick(129);
    expect(clock.pending()).to.equal(0);
    await until(m, () => watches === 3 && clock.pending() === 1);

    broken = false;
    clock.tick(REWATCH_BACKOFF.maxMs * (1 + REWATCH_BACKOFF.jitter));
    await until(m, allUsable('ServiceA'));
    expect(watches).to.equal(4);
    state.set(SERVICE, 'NOT_SERVING');
    await until(m, (e) => e['ServiceA']!.health === 'not-serving');
  });

  it('drains an endpoint whose weight goes to 0', async () => {
    const [a, b] = await Promise.all(['ServiceA', 'ServiceB'].map((name) => backend(name)));
    const endpoints = (weightA: number) => [
      { name: 'ServiceA', address: a!.address, weight: weightA },
      { name: 'ServiceB', address: b!.address, weight: 1 },
    ];
    const { mesh: m, client } = await readyMesh({ orders: { endpoints: endpoints(1), balancer: { slowStart: { windowMs: 0 } } } }, [
      'ServiceA',
      'ServiceB',
    ]);
    m.update({ services: { orders: { endpoints: endpoints(0), balancer: { slowStart: { windowMs: 0 } } } } });
    await until(m, (e) => e['ServiceA']!.weight === 0);
    expect(await split(client, 10)).to.deep.equal({ ServiceB: 10 });
    expect(m.snapshot('orders')[0]!.endpoints[0]).to.include({ usable: false, connectivity: 'READY' });
  });

  it('works with a health server that is not ours (grpc-health-check)', async () => {
    const official = new HealthImplementation({ '': 'SERVING', [SERVICE]: 'SERVING' });
    const a = await backend('ServiceA', { health: false, setup: (server) => official.addToServer(server) });
    const b = await backend('ServiceB');
    const { mesh: m, client } = await readyMesh(
      {
        orders: {
          endpoints: [
            { name: 'ServiceA', address: a.address, weight: 1 },
            { name: 'ServiceB', address: b.address, weight: 1 },
          ],
          healthCheck: { serviceName: SERVICE },
          balancer: { slowStart: { windowMs: 0 } },
        },
      },
      ['ServiceA', 'ServiceB'],
    );
    official.setStatus(SERVICE, 'NOT_SERVING');
    await until(m, (e) => !e['ServiceA']!.usable);
    expect(await split(client, 10)).to.deep.equal({ ServiceB: 10 });
    official.setStatus(SERVICE, 'SERVING');
    await until(m, allUsable('ServiceA', 'ServiceB'));
    expect(await split(client, 10)).to.deep.equal({ ServiceA: 5, ServiceB: 5 });
  });

  it('treats a backend without a health service (UNIMPLEMENTED) as healthy', async () => {
    const a = await backend('ServiceA', { health: false });
    const { mesh: m, client } = mesh({
      orders: { endpoints: [{ name: 'ServiceA', address: a.address }], healthCheck: { serviceName: SERVICE } },
    });
    expect((await callUnary(client.GetOrder, client, { id: 'x' })).served_by).to.equal('ServiceA');
    expect(m.snapshot('orders')[0]!.endpoints[0]).to.include({ health: 'unimplemented', usable: true });
  });

  it('takes no verdict from a probe timeout that fired late because the event loop was held', async () => {
    // The backend shares this process: while its Check handler holds the event loop for 3x the
    // probe timeout, the client's deadline timer expires, and Node runs it before the answer
    // waiting in the socket. A timer that fired that late says nothing about the backend.
    let checks = 0;
    const a = await healthBackend('ServiceA', {
      check: () => {
        checks++;
        const end = performance.now() + 300;
        while (performance.now() < end); // the app's own CPU work, on the one event loop
      },
    });
    const clock = manualClock(Date.now());
    const { mesh: m, client } = meshClient(pool, {
      config: {
        services: {
          orders: {
            endpoints: [{ name: 'ServiceA', address: a.address }],
            healthCheck: { serviceName: SERVICE, probeIntervalMs: 1000, probeTimeoutMs: 100, idleProbeIntervalMs: 10_000 },
            balancer: { slowStart: { windowMs: 0 } },
          },
        },
      },
      clock,
    });
    const kinds: string[] = [];
    m.events.onEndpoint((event) => kinds.push(event.kind));
    await connectAndWait(m, client, ['ServiceA']);
    // Manual time runs on, 1 s per look, until the idle interval has brought two probes (the
    // first one's verdict was taken before the second was sent).
    await until(m, () => {
      clock.tick(1000);
      return checks === 2;
    });
    expect(kinds).to.not.include('unhealthy');
    expect(m.snapshot('orders')[0]!.endpoints[0]).to.include({ usable: true, health: 'serving' });
    expect((await callUnary(client.GetOrder, client, { id: 'x' })).served_by).to.equal('ServiceA');
  });

  it('queues calls (they do not fail) until the first health answer arrives', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // A health service that holds back its first Watch answer until the test says so.
    const a = await healthBackend('ServiceA', { watch: (call) => void released.then(() => call.write({ status: 'SERVING' })) });
    const { mesh: m, client } = mesh({
      orders: { endpoints: [{ name: 'ServiceA', address: a.address }], healthCheck: { serviceName: SERVICE, probeIntervalMs: 0 } },
    });
    let settled = false;
    const call = callUnary(client.GetOrder, client, { id: 'x' }).finally(() => (settled = true));
    await until(m, (e) => e['ServiceA']?.connectivity === 'READY' && e['ServiceA'].health === 'unknown');
    expect(m.snapshot('orders')[0]!.state).to.equal('CONNECTING');
    expect(settled).to.equal(false);
    release();
    expect((await call).served_by).to.equal('ServiceA');
  });
});
