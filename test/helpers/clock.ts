import FakeTimers from '@sinonjs/fake-timers';
import type { Clock } from 'grpc-meshlite';

/** A hand-advanced clock: nothing fires until the test calls `tick`. Global timers stay real. */
export function manualClock(start = 1_000_000): Clock & { tick(ms: number): void; pending(): number } {
  const fake = FakeTimers.createClock(start);
  return {
    now: () => fake.now,
    setTimeout: (callback, ms) => fake.setTimeout(callback, ms),
    clearTimeout: (handle) => fake.clearTimeout(handle as FakeTimers.TimerId),
    tick: (ms) => void fake.tick(ms),
    pending: () => fake.countTimers(),
  };
}
