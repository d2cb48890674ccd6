// How long a hedged method waits before its next attempt: the configured delay, or — when the
// method's answers have lately been slower than that — their high percentile (Finagle's backup
// requests, Dean and Barroso's "The Tail at Scale"). A fixed delay below a busy service's own
// p99 hedges a share of every healthy call: on a client that is itself the bottleneck, those
// extra attempts only add load. Waiting for the observed p99 keeps hedges to about one call in
// a hundred under steady load, and still sends them at the configured delay when answers are
// fast and one endpoint stops answering (its attempts give no answer, so they add no sample).

/** Geometric latency buckets: bucket i holds [BASE·RATIO^i, BASE·RATIO^(i+1)) ms, the last everything above. */
const BASE_MS = 0.1;
const RATIO = 1.1;
const LOG_RATIO = Math.log(RATIO);
const BUCKETS = 150; // 0.1 ms … 0.1·1.1^150 ≈ 160 s
/** A percentile needs this many answers in the window before it replaces the configured delay. */
export const MIN_SAMPLES = 100;
/** How often the percentile is worked out again (it is read on every hedged call). */
const REFRESH_MS = 100;

export interface AdaptiveHedging {
  /** The percentile of the method's answered attempts' latency the hedge waits for (50–99.9). */
  readonly percentile: number;
  /** Over how long a window, in ms (two halves: the older one dropped as a new one starts). */
  readonly windowMs: number;
}

export const ADAPTIVE_HEDGING_DEFAULTS: AdaptiveHedging = Object.freeze({ percentile: 99, windowMs: 10_000 });

/**
 * One method's hedge delay: `floorMs` (the configured delay) or the percentile of its recent
 * answers' latency, whichever is longer, and never past `capMs` (the per-attempt timeout:
 * beyond it, the cut sends the next attempt anyway).
 */
export class HedgeDelay {
  readonly #floorMs: number;
  readonly #capMs: number;
  readonly #rank: number;
  readonly #halfMs: number;
  /** Counts of the current half-window and the one before it. */
  #current = new Uint32Array(BUCKETS);
  #previous = new Uint32Array(BUCKETS);
  #currentCount = 0;
  #previousCount = 0;
  #halfStartedAt: number;
  #delayMs: number;
  #refreshAt: number;

  constructor(floorMs: number, capMs: number | undefined, adaptive: AdaptiveHedging, now: number) {
    this.#floorMs = floorMs;
    this.#capMs = capMs !== undefined && capMs > floorMs ? capMs : Infinity;
    this.#rank = adaptive.percentile / 100;
    this.#halfMs = adaptive.windowMs / 2;
    this.#halfStartedAt = now;
    this.#delayMs = floorMs;
    this.#refreshAt = now + REFRESH_MS;
  }

  /** An attempt of the method was answered (any status the server sent) after `latencyMs`. */
  record(latencyMs: number, now: number): void {
    this.#roll(now);
    const index = latencyMs <= BASE_MS ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(latencyMs / BASE_MS) / LOG_RATIO));
    this.#current[index]!++;
    this.#currentCount++;
  }

  /** The delay before the next hedge of a call starting now. */
  delayMs(now: number): number {
    if (now >= this.#refreshAt) {
      this.#refreshAt = now + REFRESH_MS;
      this.#roll(now);
      this.#delayMs = this.#compute();
    }
    return this.#delayMs;
  }

  /** The answers the delay now rests on (both halves of the window). */
  get samples(): number {
    return this.#currentCount + this.#previousCount;
  }

  #roll(now: number): void {
    if (now - this.#halfStartedAt < this.#halfMs) return;
    // Two halves or more without a roll: nothing in the window is recent.
    const stale = now - this.#halfStartedAt >= 2 * this.#halfMs;
    const old = this.#previous;
    this.#previous = stale ? (old.fill(0), old) : this.#current;
    this.#previousCount = stale ? 0 : this.#currentCount;
    this.#current = stale ? this.#current.fill(0) : old.fill(0);
    this.#currentCount = 0;
    this.#halfStartedAt = now;
  }

  #compute(): number {
    const total = this.samples;
    if (total < MIN_SAMPLES) return this.#floorMs;
    // The upper edge of the bucket that holds the percentile: never below the answers it stands for.
    let wanted = Math.ceil(total * this.#rank);
    for (let i = 0; i < BUCKETS; i++) {
      wanted -= this.#current[i]! + this.#previous[i]!;
      if (wanted <= 0) {
        const upperMs = BASE_MS * RATIO ** (i + 1);
        return Math.min(this.#capMs, Math.max(this.#floorMs, upperMs));
      }
    }
    return Math.min(this.#capMs, this.#floorMs);
  }
}
