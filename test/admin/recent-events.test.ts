// The events a status page replays when it opens: repeats coalesced, so that a flapping
// breaker cannot push what led to an outage out of the list.
import { expect } from 'chai';
import { RecentEvents, type AdminEvent } from '../../src/admin/recent-events.js';
import { manualClock } from '../helpers/clock.js';

const disconnected = (endpoint: string): AdminEvent => ({
  type: 'endpoint',
  service: 'orders',
  endpoint,
  kind: 'disconnected',
  reason: 'connection closed',
});
const breaker = (key: string, state: string, previous: string): AdminEvent => ({
  type: 'breaker',
  service: 'orders',
  breaker: key,
  state,
  previous,
});

describe('recent events (status page)', () => {
  it('keeps what led to an outage while two breakers flap for minutes, each flapping breaker one entry with its count', () => {
    const clock = manualClock(1_000_000);
    const recent = new RecentEvents({ capacity: 100 });
    recent.add(disconnected('ServiceA'), clock.now());
    clock.tick(100);
    recent.add(disconnected('ServiceB'), clock.now());
    clock.tick(100);
    recent.add({ type: 'failover', service: 'orders', reason: 'no usable endpoint in any tier' }, clock.now());
    const flappedFrom = clock.now() + 250;
    // ~4 transitions a second for 2 minutes, two breakers interleaved: 480 events.
    for (let i = 0; i < 240; i++) {
      clock.tick(250);
      const [state, previous] = i === 0 ? ['open', 'closed'] : i % 2 === 1 ? ['half-open', 'open'] : ['open', 'half-open'];
      recent.add(breaker('orders.v1.OrderService/GetOrder', state, previous), clock.now());
      recent.add(breaker('orders.v1.OrderService/CreateOrder', state, previous), clock.now());
    }
    const entries = recent.since(0);
    expect(entries.map((e) => [e.event.type, e.event['endpoint'] ?? e.event['breaker'] ?? '', e.count])).to.deep.equal([
      ['endpoint', 'ServiceA', 1],
      ['endpoint', 'ServiceB', 1],
      ['failover', '', 1],
      ['breaker', 'orders.v1.OrderService/GetOrder', 240],
      ['breaker', 'orders.v1.OrderService/CreateOrder', 240],
    ]);
    const flapping = entries[3]!;
    // Its first and latest events, and when: the line reads "flapped 240 times since …, now half-open".
    expect(flapping.first).to.deep.include({ state: 'open', previous: 'closed' });
    expect(flapping.event).to.deep.include({ state: 'half-open', previous: 'open' });
    expect([flapping.firstAt, flapping.at]).to.deep.equal([flappedFrom, clock.now()]);
    expect(recent.lastId).to.equal(483);
  });

  it('replays to a stream that reconnects only the entries updated after the last id it saw', () => {
    const recent = new RecentEvents();
    const a = recent.add(disconnected('ServiceA'), 1);
    const flap = recent.add(breaker('k', 'open', 'closed'), 2);
    const seen = recent.lastId;
    expect(recent.since(seen)).to.deep.equal([]);
    recent.add(breaker('k', 'half-open', 'open'), 3);
    // The breaker's entry changed (count 2) under a new id, with its entry number unchanged.
    expect(recent.since(seen).map((e) => [e.entry, e.id, e.count])).to.deep.equal([[flap.entry, seen + 1, 2]]);
    expect(recent.since(0).map((e) => e.entry)).to.deep.equal([a.entry, flap.entry]);
  });

  it('starts a new entry for a repeat after a quiet minute, keeping the old one', () => {
    const clock = manualClock(1_000_000);
    const recent = new RecentEvents({ coalesceWithinMs: 60_000 });
    recent.add(breaker('k', 'open', 'closed'), clock.now());
    clock.tick(60_000);
    recent.add(breaker('k', 'closed', 'open'), clock.now());
    clock.tick(60_001);
    recent.add(breaker('k', 'open', 'closed'), clock.now());
    expect(recent.since(0).map((e) => [e.count, e.firstAt])).to.deep.equal([
      [2, 1_000_000],
      [1, 1_120_001],
    ]);
  });

  it('drops the entry updated longest ago when full', () => {
    const recent = new RecentEvents({ capacity: 3 });
    for (const name of ['A', 'B', 'C']) recent.add(disconnected(name), 1);
    recent.add(disconnected('A'), 2); // A again: now the most recent
    recent.add(disconnected('D'), 3);
    expect(recent.since(0).map((e) => [e.event['endpoint'], e.count])).to.deep.equal([
      ['C', 1],
      ['A', 2],
      ['D', 1],
    ]);
  });
});
