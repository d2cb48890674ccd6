// Outcomes (calls or attempts) in one-second buckets over the last two minutes, for the status
// page: a window's rate, success, failures by reason and latency quantiles, and a per-second
// history a chart can draw. Bounded whatever the rate: a bucket holds counts and a sparse
// latency histogram, never the calls themselves.

/** Seconds kept: the chart's two minutes. */
export const KEPT_SECONDS = 120;
/**
 * A window whose newest outcome is older than this is stale: its figures describe the past,
 * not now (in an outage the endpoints' last successes would otherwise read as current).
 */
export const STALE_AFTER_MS = 2000;

/** Latency buckets: 8 per doubling (each about 9 % wide) from 10 µs up. */
const STEPS_PER_DOUBLING = 8;
const SMALLEST_MS = 0.01;

interface Second {
  second: number;
  count: number;
  failed: number;
  /** Failures by reason; made on the second's first failure. */
  reasons: Map<string, number> | undefined;
  /** Latency bucket index → count. */
  readonly latency: Map<number, number>;
}

export interface OutcomeWindow {
  readonly count: number;
  /** Outcomes per second over the window (or over the time since recording started, when shorter). */
  readonly perSecond: number;
  /** Share that did not fail, 0–1; null with none. */
  readonly successRate: number | null;
  readonly failedPerSecond: number;
  /** Failures by reason, the most frequent first. */
  readonly failures: ReadonlyArray<{ readonly reason: string; readonly count: number; readonly perSecond: number }>;
  /** Latency quantiles, ms (about ±5 %: the histogram's resolution); null with none. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** How long ago the newest outcome ended, ms; null when none is kept. */
  readonly lastAgoMs: number | null;
  /** The window holds outcomes but none of the last STALE_AFTER_MS: what it says is not current. */
  readonly stale: boolean;
}

/** Per-second counts of complete seconds, the oldest first, ending where the current second starts. */
export interface OutcomeHistory {
  /** Start of the current (incomplete, not included) second, clock ms. */
  readonly end: number;
  readonly count: readonly number[];
  readonly failed: readonly number[];
}

/**
 * One subject's outcomes (a service's calls, an endpoint's attempts).
 *
 * @example
 *   const series = new OutcomeSeries(clock.now());
 *   series.record(clock.now(), undefined, 3.2);                  // a success that took 3.2 ms
 *   series.record(clock.now(), 'UNAVAILABLE: no usable endpoint', 0.4);
 *   series.window(10_000, clock.now()).successRate;              // 0.5
 */
export class OutcomeSeries {
  readonly #ring: Array<Second | undefined> = Array.from({ length: KEPT_SECONDS });
  /** When recording started: a window reaching further back has a shorter span. */
  readonly #since: number;
  #lastAt: number | undefined;

  constructor(since: number) {
    this.#since = since;
  }

  /** When the newest outcome ended; undefined before the first. */
  get lastAt(): number | undefined {
    return this.#lastAt;
  }

  /** An outcome that ended at `now`: `failure` is why it failed, undefined when it did not. */
  record(now: number, failure: string | undefined, durationMs: number): void {
    const second = Math.floor(now / 1000);
    const index = second % KEPT_SECONDS;
    let slot = this.#ring[index];
    if (slot === undefined) {
      slot = this.#ring[index] = { second, count: 0, failed: 0, reasons: undefined, latency: new Map() };
    } else if (slot.second !== second) {
      // An outcome stamped before the slot's second (a clock set back) has no bucket left.
      if (slot.second > second) return;
      slot.second = second;
      slot.count = slot.failed = 0;
      slot.reasons?.clear();
      slot.latency.clear();
    }
    slot.count++;
    if (failure !== undefined) {
      slot.failed++;
      slot.reasons ??= new Map();
      slot.reasons.set(failure, (slot.reasons.get(failure) ?? 0) + 1);
    }
    const bucket = latencyBucket(durationMs);
    slot.latency.set(bucket, (slot.latency.get(bucket) ?? 0) + 1);
    if (this.#lastAt === undefined || now > this.#lastAt) this.#lastAt = now;
  }

  /**
   * The last `windowMs`, in whole buckets: from the second it started in to the current one as
   * far as it has gone (between `windowMs` and a second more; rates divide by what is covered).
   */
  window(windowMs: number, now: number): OutcomeWindow {
    const current = Math.floor(now / 1000);
    const first = Math.max(current - KEPT_SECONDS + 1, Math.floor((now - windowMs) / 1000));
    let count = 0;
    let failed = 0;
    const reasons = new Map<string, number>();
    const latency = new Map<number, number>();
    for (let second = first; second <= current; second++) {
      const slot = this.#slot(second);
      if (!slot) continue;
      count += slot.count;
      failed += slot.failed;
      for (const [reason, n] of slot.reasons ?? []) reasons.set(reason, (reasons.get(reason) ?? 0) + n);
      for (const [bucket, n] of slot.latency) latency.set(bucket, (latency.get(bucket) ?? 0) + n);
    }
    // At least a second: a page polled just after the start would divide by almost nothing.
    const spanS = Math.max(1, (now - Math.max(first * 1000, this.#since)) / 1000);
    const rate = (n: number) => Math.round((n / spanS) * 10) / 10;
    const lastAgoMs = this.#lastAt === undefined ? null : Math.max(0, now - this.#lastAt);
    return {
      count,
      perSecond: rate(count),
      successRate: count === 0 ? null : (count - failed) / count,
      failedPerSecond: rate(failed),
      failures: [...reasons]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .map(([reason, n]) => ({ reason, count: n, perSecond: rate(n) })),
      p50Ms: quantile(latency, count, 0.5),
      p99Ms: quantile(latency, count, 0.99),
      lastAgoMs,
      stale: count > 0 && lastAgoMs !== null && lastAgoMs > STALE_AFTER_MS,
    };
  }

  /** Counts per second over the last `seconds` complete seconds. */
  history(seconds: number, now: number): OutcomeHistory {
    const current = Math.floor(now / 1000);
    const n = Math.min(KEPT_SECONDS, seconds);
    const count: number[] = [];
    const failed: number[] = [];
    for (let second = current - n; second < current; second++) {
      const slot = this.#slot(second);
      count.push(slot?.count ?? 0);
      failed.push(slot?.failed ?? 0);
    }
    return { end: current * 1000, count, failed };
  }

  #slot(second: number): Second | undefined {
    const slot = this.#ring[((second % KEPT_SECONDS) + KEPT_SECONDS) % KEPT_SECONDS];
    return slot?.second === second ? slot : undefined;
  }
}

function latencyBucket(ms: number): number {
  if (!(ms > SMALLEST_MS)) return 0;
  return Math.round(Math.log2(ms / SMALLEST_MS) * STEPS_PER_DOUBLING);
}

/** The bucket value at quantile `q` (the first bucket whose cumulative count reaches q·count), rounded for reading. */
function quantile(latency: Map<number, number>, count: number, q: number): number | null {
  if (count === 0) return null;
  const rank = Math.max(1, Math.ceil(q * count));
  let seen = 0;
  for (const bucket of [...latency.keys()].sort((a, b) => a - b)) {
    seen += latency.get(bucket)!;
    if (seen >= rank) return readable(SMALLEST_MS * 2 ** (bucket / STEPS_PER_DOUBLING));
  }
  return null;
}

/** Two significant digits at most, and no finer than 0.1 ms. */
function readable(ms: number): number {
  if (ms >= 10) return Math.round(Number(ms.toPrecision(2)));
  return Math.round(ms * 10) / 10;
}
