// The p2c_ewma policy's parts: the peak-EWMA estimate and the power-of-two-choices draw, on
// explicit times and a seeded random; then the policy in a mesh, on an injected clock.
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { P2cChooser, PREFERENCE } from '../../src/balancer/p2c.js';
import { PeakEwma } from '../../src/balancer/peak-ewma.js';
import { getOrder, seededRandom } from '../helpers/clients.js';
import { manualClock } from '../helpers/clock.js';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { connectAndWait, meshClient, split, until } from '../helpers/mesh.js';
import { useTestPool } from '../helpers/servers.js';

describe('peak-EWMA round-trip time', () => {
  const options = { decayMs: 500, defaultRttMs: 30 };

  it('starts at the default estimate', () => {
    expect(new PeakEwma(options, 0).estimate(0)).to.equal(30);
  });

  it('takes a slower sample at once, and lets faster ones decay in with weight 1 − e^(−Δt/τ)', () => {
    const rtt = new PeakEwma(options, 0);
    rtt.observe(200, 0);
    expect(rtt.estimate(0)).to.equal(200);
    rtt.observe(2, 500); // Δt = τ: the old estimate keeps e^−1 of its weight
    expect(rtt.estimate(500)).to.be.closeTo(200 * Math.exp(-1) + 2 * (1 - Math.exp(-1)), 1e-9);
    rtt.observe(400, 501);
    expect(rtt.estimate(501)).to.equal(400);
  });

  it('decays toward zero while no sample comes, so an endpoint left alone is tried again', () => {
    const rtt = new PeakEwma(options, 0);
    rtt.observe(200, 0);
    expect(rtt.estimate(1000)).to.be.closeTo(200 * Math.exp(-2), 1e-9);
    expect(rtt.estimate(5000)).to.be.below(0.01);
  });
});

describe('power of two choices', () => {
  const count = (chooser: P2cChooser<string>, picks: number) => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < picks; i++) {
      const item = chooser.pick()!;
      counts[item] = (counts[item] ?? 0) + 1;
    }
    return counts;
  };

  it('keeps the configured split exactly while the endpoints cost alike (the first candidate comes from the weighted sequence)', () => {
    const chooser = new P2cChooser(
      [
        { item: 'A', weight: 80 },
        { item: 'B', weight: 20 },
      ],
      () => 5,
      seededRandom(1),
    );
    expect(count(chooser, 10_000)).to.deep.equal({ A: 8000, B: 2000 });
  });

  it('keeps the split within the preference band, and sends everything to the cheaper one beyond it', () => {
    const cost: Record<string, number> = { A: 2 * PREFERENCE - 0.1, B: 2 };
    const chooser = new P2cChooser(
      [
        { item: 'A', weight: 80 },
        { item: 'B', weight: 20 },
      ],
      (item) => cost[item]!,
      seededRandom(2),
    );
    expect(count(chooser, 10_000)).to.deep.equal({ A: 8000, B: 2000 });
    cost['A'] = 200; // ServiceA turned slow
    expect(count(chooser, 10_000)).to.deep.equal({ B: 10_000 });
  });

  it('treats differences within the tolerance as noise: the configured split decides', () => {
    const cost: Record<string, number> = { A: 6, B: 2 }; // 3× dearer, but only 4 ms
    const chooser = new P2cChooser(
      [
        { item: 'A', weight: 80 },
        { item: 'B', weight: 20 },
      ],
      (item) => cost[item]!,
      seededRandom(5),
      undefined,
      5,
    );
    expect(count(chooser, 1000)).to.deep.equal({ A: 800, B: 200 });
    cost['A'] = 8; // 6 ms dearer: beyond the tolerance
    expect(count(chooser, 1000)).to.deep.equal({ B: 1000 });
  });

  it('draws two distinct endpoints by weight among 1,000, and prefers the cheaper', () => {
    const entries = Array.from({ length: 1000 }, (_, i) => ({ item: `e${i}`, weight: 1 }));
    // Cost grows with the index. The rule over every ordered pair of distinct draws says what
    // share the cheap half should get (0.75 for pure P2C; less, as the first draw is kept
    // unless it costs over PREFERENCE times the second); 20,000 seeded picks must match it.
    const costOf = (i: number) => 1 + i * 10;
    let expected = 0;
    for (let i = 0; i < 1000; i++) {
      for (let j = 0; j < 1000; j++) if (j !== i) expected += (costOf(i) > PREFERENCE * costOf(j) ? j : i) < 500 ? 1 : 0;
    }
    expected /= 1000 * 999;
    const chooser = new P2cChooser(entries, (item) => costOf(Number(item.slice(1))), seededRandom(3));
    const counts = count(chooser, 20_000);
    const cheapHalf = Object.entries(counts)
      .filter(([item]) => Number(item.slice(1)) < 500)
      .reduce((sum, [, n]) => sum + n, 0);
    expect(expected).to.be.above(0.6);
    expect(cheapHalf / 20_000).to.be.closeTo(expected, 0.015);
  });

  it('never returns a skipped endpoint', () => {
    const chooser = new P2cChooser(
      [
        { item: 'A', weight: 99 },
        { item: 'B', weight: 1 },
        { item: 'C', weight: 1 },
      ],
      () => 1,
      seededRandom(4),
    );
    for (let i = 0; i < 200; i++) expect(chooser.pick((item) => item === 'A')).to.be.oneOf(['B', 'C']);
    expect(chooser.pick(() => true)).to.equal(undefined);
  });
});

describe('the p2c_ewma policy in a mesh (injected clock)', function () {
  this.timeout(20_000);
  const pool = useTestPool();

  async function twoBackends(weights: [number, number]) {
    const [a, b] = await Promise.all([startFakeBackend('ServiceA'), startFakeBackend('ServiceB')]);
    for (const backend of [a, b]) pool.defer(() => backend.stop());
    const clock = manualClock(Date.now());
    const { mesh, client } = meshClient(
      pool,
      {
        clock,
        random: seededRandom(9),
        config: {
          services: {
            orders: {
              endpoints: [
                { name: 'ServiceA', address: a.address, weight: weights[0] },
                { name: 'ServiceB', address: b.address, weight: weights[1] },
              ],
              healthCheck: { probeIntervalMs: 0 },
              balancer: { policy: 'p2c_ewma', slowStart: { windowMs: 0 }, ejection: { enabled: false } },
            },
          },
        },
      },
      { stack: { retry: false, breaker: false, deadline: false } },
    );
    await connectAndWait(mesh, client, ['ServiceA', 'ServiceB']);
    return { a, b, mesh, client, clock };
  }

  it('keeps the configured weights while the endpoints answer alike', async () => {
    const { client } = await twoBackends([80, 20]);
    // On the injected clock every answer takes 0 ms: alike, so the split is the configured one, exactly.
    expect(await split(client, 200)).to.deep.equal({ ServiceA: 160, ServiceB: 40 });
  });

  it('counts a call in flight for longer than the estimate as that slow: a hung endpoint loses its calls before any answer', async () => {
    const { a, mesh, client, clock } = await twoBackends([50, 50]);
    a.behaviour.hang = true;
    // Two calls: the weighted sequence sends one to ServiceA, where it hangs. With one call in
    // flight A costs 30 ms × 2, B 30 ms: not over 2×, so A would still take its turns ...
    for (let i = 0; i < 2; i++) void getOrder(client).catch(() => undefined);
    await until(mesh, (e) => e['ServiceA']!.inFlight === 1 && e['ServiceB']!.inFlight === 0);
    // ... until its call has waited longer than the estimate: 100 ms × 2 against B's 30.
    clock.tick(100);
    expect(await split(client, 20)).to.deep.equal({ ServiceB: 20 });
  });

  it("steers away from an endpoint that sheds load: RESOURCE_EXHAUSTED counts as a 1 s answer (the estimate fading is the unit tests' part)", async () => {
    const { a, mesh, client } = await twoBackends([50, 50]);
    a.behaviour.status = grpc.status.RESOURCE_EXHAUSTED;
    // Calls until one reaches A and is shed.
    for (let i = 0; i < 20 && a.behaviour.status !== undefined; i++) {
      try {
        await getOrder(client);
      } catch {
        a.behaviour.status = undefined;
      }
    }
    expect(a.behaviour.status).to.equal(undefined);
    expect(mesh.snapshot('orders')[0]!.endpoints.find((e) => e.name === 'ServiceA')!.latencyMs).to.equal(1000);
    expect(await split(client, 50)).to.deep.equal({ ServiceB: 50 });
  });
});
