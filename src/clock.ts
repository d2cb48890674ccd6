/**
 * Time as the toolkit sees it. Timing logic takes a Clock so tests can drive it with fake
 * timers or a hand-advanced clock instead of sleeping.
 */
export interface Clock {
  now(): number;
  /** A monotonic sub-millisecond reading for measuring short durations; without it, now() is used. */
  precise?(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock. Reads the globals at call time, so fake timers installed later apply. */
export const systemClock: Clock = {
  now: () => Date.now(),
  precise: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The longest delay Node's timers hold (2³¹−1 ms, about 24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * The one way the toolkit sets a timer: `callback` after `ms` on `clock`. A delay setTimeout
 * cannot hold is clamped to what it can (above MAX_TIMER_DELAY_MS, Infinity: the longest
 * wait; below 0: none), so no option can turn a timer into a 1 ms loop; NaN is a bug and
 * throws. A test pins that nothing else in src/ calls setTimeout.
 */
export function setTimer(clock: Clock, callback: () => void, ms: number): unknown {
  if (Number.isNaN(ms)) throw new RangeError('timer delay is NaN');
  return clock.setTimeout(callback, Math.min(MAX_TIMER_DELAY_MS, Math.max(0, ms)));
}

/**
 * Lets the process exit while `handle` waits, for timers that only keep state fresh (a
 * balancer's next rebuild, a health probe). A test clock's handles may not support it.
 */
export function unrefTimer<T>(handle: T): T {
  (handle as { unref?: () => void } | undefined)?.unref?.();
  return handle;
}

/** Resolves after `ms` on `clock` (at once for no delay). */
export function sleep(ms: number, clock: Clock = systemClock): Promise<void> {
  return new Promise((resolve) => (ms <= 0 ? resolve() : setTimer(clock, resolve, ms)));
}
