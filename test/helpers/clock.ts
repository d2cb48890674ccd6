import FakeTimers from '@sinonjs/fake-timers';
import type { Clock } from 'grpc-meshlite';

/** A timer of manualClock, with Node's ref()/unref(): whether it would keep a process alive. */
interface ManualTimer {
  readonly id: FakeTimers.TimerId;
  refed: boolean;
  ref(): ManualTimer;
  unref(): ManualTimer;
}

/**
 * A hand-advanced clock: nothing fires until the test calls `tick`. Global timers stay real.
 * `pending()` counts the timers set and not yet fired or cleared; `held()` those of them that
 * would keep a Node process alive (not unref'd).
 */
export function manualClock(start = 1_000_000): Clock & { tick(ms: number): void; pending(): number; held(): number } {
  const fake = FakeTimers.createClock(start);
  const live = new Set<ManualTimer>();
  return {
    now: () => fake.now,
    setTimeout: (callback, ms) => {
      const timer: ManualTimer = {
        id: fake.setTimeout(() => {
          live.delete(timer);
          callback();
        }, ms),
        refed: true,
        ref() {
          timer.refed = true;
          return timer;
        },
        unref() {
          timer.refed = false;
          return timer;
        },
      };
      live.add(timer);
      return timer;
    },
    clearTimeout: (handle) => {
      const timer = handle as ManualTimer | undefined;
      if (timer === undefined) return;
      live.delete(timer);
      fake.clearTimeout(timer.id);
    },
    tick: (ms) => void fake.tick(ms),
    pending: () => fake.countTimers(),
    held: () => [...live].filter((timer) => timer.refed).length,
  };
}
