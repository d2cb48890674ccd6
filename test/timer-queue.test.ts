// The retry engine's hedge delays, retry backoffs and per-attempt timeouts share one timer per
// clock (TimerQueue): what a user would notice if it were wrong is a hedge or a timeout that
// fires late, early, twice or never, or a process kept alive by a timer nothing waits for.
import { expect } from 'chai';
import { TimerQueue, type Timed } from '../src/clock.js';
import { seededRandom } from './helpers/clients.js';
import { manualClock } from './helpers/clock.js';

function item(name: string, fired: Array<{ name: string; at: number }>, now: () => number, then?: () => void): Timed & { name: string } {
  return {
    name,
    dueAt: 0,
    timedPrev: undefined,
    timedNext: undefined,
    fire() {
      fired.push({ name, at: now() });
      then?.();
    },
  };
}

describe('TimerQueue', () => {
  it('fires each item once, at its due time, in due order; a cancelled one never', () => {
    const clock = manualClock(0);
    const queue = new TimerQueue(clock);
    const fired: Array<{ name: string; at: number }> = [];
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((name) => item(name, fired, () => clock.now()));
    queue.schedule(c!, 300);
    queue.schedule(a!, 100);
    queue.schedule(d!, 400);
    queue.schedule(b!, 200);
    queue.cancel(c!);
    // Moved: later, then earlier than it was; queued again where it was, after b (due together).
    queue.schedule(b!, 200);
    queue.schedule(d!, 500);
    queue.schedule(d!, 250);
    clock.tick(1000);
    expect(fired).to.deep.equal([
      { name: 'a', at: 100 },
      { name: 'b', at: 200 },
      { name: 'd', at: 250 },
    ]);
    expect(queue.size).to.equal(0);
  });

  it('keeps one clock timer for many items, which keeps the process alive only while one waits', () => {
    const clock = manualClock(0);
    const queue = new TimerQueue(clock);
    const fired: Array<{ name: string; at: number }> = [];
    const items = Array.from({ length: 100 }, (_, i) => item(`i${i}`, fired, () => clock.now()));
    items.forEach((it, i) => queue.schedule(it, 60 + i));
    expect([clock.pending(), clock.held()]).to.deep.equal([1, 1]);
    for (const it of items) queue.cancel(it);
    // A timer that held the process would keep it alive for calls that have ended.
    expect(clock.held()).to.equal(0);
    // One call at a time: each one due later than the timer reuses it.
    queue.schedule(items[0]!, 70);
    expect([clock.pending(), clock.held()]).to.deep.equal([1, 1]);
    queue.cancel(items[0]!);
    clock.tick(1000);
    expect(fired).to.deep.equal([]);
    expect(clock.pending()).to.equal(0);
  });

  it('never keeps the process alive when made for background work (holdsProcess: false)', () => {
    const clock = manualClock(0);
    const queue = new TimerQueue(clock, { holdsProcess: false });
    const fired: Array<{ name: string; at: number }> = [];
    const [early, late] = [item('early', fired, () => clock.now()), item('late', fired, () => clock.now())];
    queue.schedule(late, 2000);
    queue.schedule(early, 1000);
    expect([clock.pending(), clock.held()]).to.deep.equal([1, 0]);
    clock.tick(1000);
    // Set again for the next item, still without holding the process.
    expect([clock.pending(), clock.held()]).to.deep.equal([1, 0]);
    clock.tick(1000);
    expect(fired).to.deep.equal([
      { name: 'early', at: 1000 },
      { name: 'late', at: 2000 },
    ]);
  });

  it('fires an item queued by another as it fires on a later turn, not inside it', () => {
    const clock = manualClock(0);
    const queue = new TimerQueue(clock);
    const fired: Array<{ name: string; at: number }> = [];
    let inside = false;
    let nestedInside: boolean | undefined;
    const later = item(
      'later',
      fired,
      () => clock.now(),
      () => (nestedInside = inside),
    );
    const first = item(
      'first',
      fired,
      () => clock.now(),
      () => {
        inside = true;
        queue.schedule(later, clock.now());
        inside = false;
      },
    );
    queue.schedule(first, 100);
    clock.tick(100);
    expect(fired.map((f) => f.name)).to.deep.equal(['first']);
    // The next turn (a 0 ms timer set while timers run; this test clock's next millisecond).
    clock.tick(1);
    expect(fired.map((f) => f.name)).to.deep.equal(['first', 'later']);
    expect(nestedInside).to.equal(false);
  });

  it('fires every item due even when one throws, and the error still surfaces', () => {
    const clock = manualClock(0);
    const queue = new TimerQueue(clock);
    const fired: Array<{ name: string; at: number }> = [];
    const broken = item(
      'broken',
      fired,
      () => clock.now(),
      () => {
        throw new Error('a bug in a callback');
      },
    );
    const next = item('next', fired, () => clock.now());
    const later = item('later', fired, () => clock.now());
    queue.schedule(broken, 100);
    queue.schedule(next, 100);
    queue.schedule(later, 200);
    expect(() => clock.tick(100)).to.throw('a bug in a callback');
    clock.tick(100);
    expect(fired.map((f) => f.name)).to.deep.equal(['broken', 'next', 'later']);
  });

  it('fires in due order under any mix of schedules, moves and cancels', () => {
    const clock = manualClock(0);
    const queue = new TimerQueue(clock);
    const random = seededRandom(11);
    const fired: Array<{ name: string; at: number }> = [];
    const items = Array.from({ length: 64 }, (_, i) => item(`i${i}`, fired, () => clock.now()));
    const expected = new Map<string, number>();
    for (let step = 0; step < 2000; step++) {
      const it = items[Math.floor(random() * items.length)]!;
      if (random() < 0.3) {
        queue.cancel(it);
        expected.delete(it.name);
      } else {
        const at = 1 + Math.floor(random() * 10_000);
        queue.schedule(it, at);
        expected.set(it.name, at);
      }
    }
    clock.tick(20_000);
    const want = [...expected].map(([name, at]) => ({ name, at })).sort((x, y) => x.at - y.at);
    expect(fired.map((f) => f.at)).to.deep.equal(want.map((w) => w.at));
    expect(new Set(fired.map((f) => f.name))).to.deep.equal(new Set(want.map((w) => w.name)));
    expect(queue.size).to.equal(0);
  });
});
