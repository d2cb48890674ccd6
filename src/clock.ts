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

/**
 * What a TimerQueue fires. The queue keeps the item's place in its own three fields, so that
 * scheduling allocates nothing: the item is the timer.
 */
export interface Timed {
  /** When it is due (clock time), while queued; the queue's. */
  dueAt: number;
  /** Its neighbours in the queue, undefined when not queued; the queue's (start them undefined). */
  timedPrev: Timed | undefined;
  timedNext: Timed | undefined;
  /** Called once it is due, in the timers phase, as a timer's callback would be. */
  fire(): void;
}

/**
 * Many timers on one: the retry engine's hedge delays, retry backoffs and per-attempt timeouts
 * (one or two per call, nearly all cancelled by the answer) in a list by due time, served by
 * one timer on the clock set for the earliest. A timer per call cost a Timeout object, a
 * timer-list insertion and its removal on every call; here a call links and unlinks its own
 * object. The list is searched from its end, where a new due time nearly always goes (most are
 * now plus the same delay), and unlinking is O(1); the clock's timer is set again only when the
 * earliest due time moves earlier — or, fired for an item since cancelled, once for the next.
 * With nothing queued the timer is left set but unref'd: it keeps no process alive, and one
 * call at a time (the next due later than the last) costs no timer each. Items due together fire
 * in the order they were queued; one queued while the others fire waits for the next turn of
 * the event loop, as a 0 ms timer set in a timer's callback does.
 */
export class TimerQueue {
  readonly #clock: Clock;
  /** The list's two ends meet here (a ring): its next is the earliest item, its prev the latest. */
  readonly #ends: Timed;
  #size = 0;
  #timer: unknown;
  /** The due time the clock's timer is set for (Infinity: none). */
  #timerAt = Infinity;
  /** Whether the timer keeps the process alive: only while something is queued. */
  #refed = true;
  /** False: the timer never keeps the process alive (background work, such as health checks). */
  readonly #holdsProcess: boolean;

  constructor(clock: Clock, options: { readonly holdsProcess?: boolean } = {}) {
    this.#clock = clock;
    this.#holdsProcess = options.holdsProcess ?? true;
    this.#refed = this.#holdsProcess;
    const ends: Timed = { dueAt: -Infinity, timedPrev: undefined, timedNext: undefined, fire: () => {} };
    ends.timedPrev = ends.timedNext = ends;
    this.#ends = ends;
  }

  /** How many items wait. */
  get size(): number {
    return this.#size;
  }

  /** Queues `item` to fire at `at` (clock time), or moves it there if it is queued. */
  schedule(item: Timed, at: number): void {
    if (Number.isNaN(at)) throw new RangeError('timer due time is NaN');
    if (item.timedNext !== undefined) this.#unlink(item);
    item.dueAt = at;
    const ends = this.#ends;
    let before = ends.timedPrev!;
    while (before !== ends && before.dueAt > at) before = before.timedPrev!;
    const after = before.timedNext!;
    item.timedPrev = before;
    item.timedNext = after;
    before.timedNext = item;
    after.timedPrev = item;
    this.#size++;
    if (at < this.#timerAt) this.#arm(at);
    else if (!this.#refed && this.#holdsProcess) {
      this.#refed = true;
      (this.#timer as { ref?: () => void } | undefined)?.ref?.();
    }
  }

  /** Takes `item` out of the queue; harmless when it is not queued. */
  cancel(item: Timed): void {
    if (item.timedNext === undefined) return;
    this.#unlink(item);
    // Nothing left to wait for: the timer stays (the next call's due time is most likely
    // later, and would set it again) but no longer keeps the process alive.
    if (this.#size === 0 && this.#refed) {
      this.#refed = false;
      (this.#timer as { unref?: () => void } | undefined)?.unref?.();
    }
  }

  #unlink(item: Timed): void {
    item.timedPrev!.timedNext = item.timedNext;
    item.timedNext!.timedPrev = item.timedPrev;
    item.timedPrev = item.timedNext = undefined;
    this.#size--;
  }

  #arm(at: number): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#refed = this.#holdsProcess;
    this.#timer = at === Infinity ? undefined : setTimer(this.#clock, this.#fire, at - this.#clock.now());
    if (!this.#holdsProcess) unrefTimer(this.#timer);
  }

  readonly #fire = (): void => {
    // Everything due by the time the timer was set for is due now, even if the clock reads a
    // hair earlier (Date.now() and the event loop's clock differ by up to a millisecond).
    const horizon = Math.max(this.#clock.now(), this.#timerAt);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#refed = this.#holdsProcess;
    const ends = this.#ends;
    const due: Timed[] = [];
    for (let first = ends.timedNext!; first !== ends && first.dueAt <= horizon; first = ends.timedNext!) {
      this.#unlink(first);
      due.push(first);
    }
    // One item that throws must not take the others' turns (they are out of the list already):
    // they all fire, then the first error goes on as a timer's own would.
    let failure: { error: unknown } | undefined;
    for (const item of due) {
      try {
        item.fire();
      } catch (error) {
        failure ??= { error };
      }
    }
    const first = ends.timedNext!;
    if (first !== ends && first.dueAt < this.#timerAt) this.#arm(first.dueAt);
    if (failure) throw failure.error;
  };
}

const queues = new WeakMap<Clock, TimerQueue>();

/** The one TimerQueue of `clock`. */
export function timerQueue(clock: Clock): TimerQueue {
  let queue = queues.get(clock);
  if (queue === undefined) {
    queue = new TimerQueue(clock);
    queues.set(clock, queue);
  }
  return queue;
}
