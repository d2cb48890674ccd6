// Failed calls said once per reason and window instead of once each: in an outage every call
// fails for the same reason (~100 a second, the same 500 bytes), and a line per call buries
// what led to it. The first failure of a reason is said in full; the repeats that follow
// within a window are counted and said as one line when it closes: "312 calls failed in the
// last 1 s: <reason>". A reason with no failure for a whole window is forgotten, so its next
// failure is said in full again.
import { setTimer, unrefTimer, type Clock } from '../clock.js';

/** One reason's repeats in the window that runs. */
interface Repeats {
  /** The reason as its latest failure gave it (the key makes numbers alike). */
  reason: string;
  calls: number;
  /** Calls per method in the window (the method as metrics name it). */
  readonly methods: Map<string, number>;
}

const OTHER_REASONS = 'other reasons (more than 100 distinct ones in the window)';

/** What a closing window says of one reason. */
export interface FailureRepeat {
  readonly reason: string;
  /** Failed calls in the window, the one said in full not included. */
  readonly calls: number;
  readonly windowMs: number;
  readonly methods: Readonly<Record<string, number>>;
}

/**
 * The key of a reason: its text with every number made alike, so that "5 of 10 calls failed …;
 * next probe in 734 ms" and "6 of 11 … 512 ms" are one reason (an address's digits go too,
 * which groups the same trouble at several endpoints of one service).
 */
export function reasonKey(reason: string): string {
  return reason.replace(/\d+(?:\.\d+)?/g, '#');
}

/**
 * Counts failures per reason over windows of `windowMs` on `clock`, and hands each closing
 * window's repeats to `say`. One timer at a time, unref'd, only while a window runs.
 *
 * @example
 *   const summary = new FailureSummary(clock, 1000, (r) => log.warn(r, `${r.calls} calls failed in the last 1 s: ${r.reason}`));
 *   if (summary.note(details, method)) log.warn({ method, details }, 'call finished'); // the first, in full
 */
export class FailureSummary {
  readonly #clock: Clock;
  readonly #windowMs: number;
  readonly #say: (repeat: FailureRepeat) => void;
  /** Reasons seen in the window that runs (or said in full in it), by key. */
  #current = new Map<string, Repeats>();
  #timer: unknown;
  /** A bound on distinct reasons per window: past it, new reasons are counted under one line of their own. */
  static readonly MAX_REASONS = 100;

  constructor(clock: Clock, windowMs: number, say: (repeat: FailureRepeat) => void) {
    this.#clock = clock;
    this.#windowMs = windowMs;
    this.#say = say;
  }

  /**
   * A call failed for `reason`: true when it is to be said in full (the reason's first failure
   * since it was last quiet for a window), false when it is counted into the window's line.
   */
  note(reason: string, method: string): boolean {
    let key = reasonKey(reason);
    let repeats = this.#current.get(key);
    if (repeats === undefined && this.#current.size >= FailureSummary.MAX_REASONS) {
      key = OTHER_REASONS;
      repeats = this.#current.get(key) ?? { reason: OTHER_REASONS, calls: 0, methods: new Map() };
      this.#current.set(key, repeats);
    } else if (repeats === undefined) {
      this.#current.set(key, { reason, calls: 0, methods: new Map() });
      this.#arm();
      return true;
    } else {
      repeats.reason = reason;
    }
    repeats.calls++;
    repeats.methods.set(method, (repeats.methods.get(method) ?? 0) + 1);
    return false;
  }

  #arm(): void {
    if (this.#timer === undefined) this.#timer = unrefTimer(setTimer(this.#clock, this.#close, this.#windowMs));
  }

  /** The window closes: each reason with repeats is said and carries on into the next window; a quiet one is forgotten. */
  readonly #close = (): void => {
    this.#timer = undefined;
    const closing = this.#current;
    this.#current = new Map();
    for (const [key, repeats] of closing) {
      if (repeats.calls === 0) continue;
      this.#say(this.#repeatOf(repeats));
      this.#current.set(key, { reason: repeats.reason, calls: 0, methods: new Map() });
    }
    if (this.#current.size > 0) this.#arm();
  };

  #repeatOf(repeats: Repeats): FailureRepeat {
    return {
      reason: repeats.reason,
      calls: repeats.calls,
      windowMs: this.#windowMs,
      methods: Object.fromEntries(repeats.methods),
    };
  }
}
