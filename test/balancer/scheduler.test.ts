import { expect } from 'chai';
import { tierLoads } from '../../src/balancer/priority.js';
import { WeightedScheduler } from '../../src/balancer/scheduler.js';
import { slowStartFactor } from '../../src/balancer/slow-start.js';
import { seededRandom } from '../helpers/clients.js';

function count(scheduler: WeightedScheduler<string>, picks: number, skip?: (item: string) => boolean) {
  const counts: Record<string, number> = {};
  for (let i = 0; i < picks; i++) {
    const item = scheduler.pick(skip)!;
    counts[item] = (counts[item] ?? 0) + 1;
  }
  return counts;
}

describe('smooth weighted scheduler', () => {
  it('gives exactly W(i)/ΣW(j) of 10,000 picks', () => {
    const scheduler = new WeightedScheduler([
      { item: 'A', weight: 80 },
      { item: 'B', weight: 20 },
    ]);
    expect(count(scheduler, 10_000)).to.deep.equal({ A: 8000, B: 2000 });
  });

  it('is exact in every window of ΣW picks, and spreads the light endpoint out', () => {
    const scheduler = new WeightedScheduler([
      { item: 'A', weight: 4 },
      { item: 'B', weight: 1 },
    ]);
    const sequence = Array.from({ length: 20 }, () => scheduler.pick()).join('');
    for (let start = 0; start + 5 <= sequence.length; start += 5) {
      expect(sequence.slice(start, start + 5).split('B').length - 1).to.equal(1);
    }
    expect(sequence).not.to.contain('BB');
  });

  it('keeps fractional weights within ±1 % over 10,000 picks', () => {
    const scheduler = new WeightedScheduler([
      { item: 'A', weight: 2.5 },
      { item: 'B', weight: 7.5 },
      { item: 'C', weight: 0 },
    ]);
    const counts = count(scheduler, 10_000);
    expect(counts['A']! / 10_000).to.be.closeTo(0.25, 0.01);
    expect(counts['C']).to.equal(undefined);
  });

  it('skips items for one pick without ever returning a skipped one', () => {
    const scheduler = new WeightedScheduler([
      { item: 'A', weight: 99 },
      { item: 'B', weight: 1 },
    ]);
    expect(count(scheduler, 50, (item) => item === 'A')).to.deep.equal({ B: 50 });
    expect(scheduler.pick((item) => item === 'A' || item === 'B')).to.equal(undefined);
  });

  it('continues the sequence when rebuilt with the previous credits', () => {
    const first = new WeightedScheduler([
      { item: 'A', weight: 3 },
      { item: 'B', weight: 1 },
    ]);
    const counts: Record<string, number> = {};
    let scheduler = first;
    for (let i = 0; i < 4000; i++) {
      if (i % 3 === 0)
        scheduler = new WeightedScheduler(
          [
            { item: 'A', weight: 3 },
            { item: 'B', weight: 1 },
          ],
          scheduler.credits(),
        );
      const item = scheduler.pick()!;
      counts[item] = (counts[item] ?? 0) + 1;
    }
    expect(counts).to.deep.equal({ A: 3000, B: 1000 });
  });

  it('takes a new split on the next picks after a re-weight, whatever the number of items', () => {
    // 1,000 endpoints at weight 100, then endpoint 0 at 999 and the rest at 1: endpoint 0
    // should take about half of the next 200 picks (999 of 1,998), not wait for ~1,000 picks.
    const entries = (weightOf: (i: number) => number) => Array.from({ length: 1000 }, (_, i) => ({ item: i, weight: weightOf(i) }));
    const before = new WeightedScheduler(
      entries(() => 100),
      undefined,
      seededRandom(7),
    );
    for (let i = 0; i < 500; i++) before.pick();
    const after = new WeightedScheduler(
      entries((i) => (i === 0 ? 999 : 1)),
      before.credits(),
    );
    const first = Array.from({ length: 200 }, () => after.pick()).filter((item) => item === 0).length;
    expect(first).to.be.within(80, 120);
  });
});

describe('weighted scheduler: random start phase (no thundering herd)', () => {
  const entries = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'].map((item) => ({ item, weight: 3 }));

  it('sends the first calls of clients started together to different endpoints', () => {
    const random = seededRandom(7);
    const firsts = new Set(Array.from({ length: 40 }, () => new WeightedScheduler(entries, undefined, random).pick()));
    // Without a random phase every client would start at A.
    expect(firsts.size).to.be.at.least(6);
  });

  it('stays exact over every round of ΣW picks from a random phase', () => {
    const random = seededRandom(11);
    for (let client = 0; client < 20; client++) {
      const scheduler = new WeightedScheduler(
        [
          { item: 'A', weight: 5 },
          { item: 'B', weight: 2 },
          { item: 'C', weight: 1 },
        ],
        undefined,
        random,
      );
      for (let round = 0; round < 5; round++) expect(count(scheduler, 8)).to.deep.equal({ A: 5, B: 2, C: 1 });
    }
  });

  it('keeps the split exact with 1,000 endpoints of different weights', () => {
    const many = Array.from({ length: 1000 }, (_, i) => ({ item: `e${i}`, weight: 1 + (i % 4) }));
    const scheduler = new WeightedScheduler(many, undefined, seededRandom(3));
    const counts = count(scheduler, 2500 * 2); // two rounds (ΣW = 2500)
    expect(many.every(({ item, weight }) => counts[item] === 2 * weight)).to.equal(true);
  });
});

describe('priority tiers (Envoy overprovisioning)', () => {
  it('keeps all traffic on a tier that is healthy enough', () => {
    expect(
      tierLoads(
        [
          { priority: 0, usable: 3, total: 4 },
          { priority: 1, usable: 2, total: 2 },
        ],
        1.4,
      ).map((t) => t.load),
    ).to.deep.equal([100, 0]);
  });

  it('spills what a degraded tier cannot take to the next one', () => {
    const loads = tierLoads(
      [
        { priority: 0, usable: 1, total: 2 },
        { priority: 1, usable: 2, total: 2 },
      ],
      1.4,
    );
    expect(loads.map((t) => Math.round(t.load))).to.deep.equal([70, 30]);
  });

  it('moves everything to the next tier when a tier has nothing usable, and normalises partial health', () => {
    expect(
      tierLoads(
        [
          { priority: 0, usable: 0, total: 2 },
          { priority: 1, usable: 1, total: 1 },
        ],
        1.4,
      ).map((t) => t.load),
    ).to.deep.equal([0, 100]);
    const partial = tierLoads(
      [
        { priority: 0, usable: 1, total: 4 },
        { priority: 1, usable: 1, total: 4 },
      ],
      1.4,
    );
    expect(partial.map((t) => t.load)).to.deep.equal([50, 50]);
    expect(tierLoads([{ priority: 0, usable: 0, total: 1 }], 1.4)[0]!.load).to.equal(0);
  });
});

describe('slow start', () => {
  it('ramps weight linearly from the minimum to full over the window', () => {
    expect(slowStartFactor(1000, 1000, 1000, 10)).to.equal(0.1);
    expect(slowStartFactor(1000, 1500, 1000, 10)).to.equal(0.5);
    expect(slowStartFactor(1000, 2000, 1000, 10)).to.equal(1);
    expect(slowStartFactor(undefined, 5, 1000, 10)).to.equal(1);
  });
});
