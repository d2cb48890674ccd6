// What the status page shows of recent traffic: each endpoint's attempts (as the balancer saw
// them end) and each service's calls (as the caller saw them end, retries and refusals
// included), in one-second buckets over the last two minutes.
import { statusName, UNHEALTHY_CODE_SET } from '../call/status.js';
import { KEPT_SECONDS, OutcomeSeries, type OutcomeHistory, type OutcomeWindow } from './outcome-series.js';

export interface EndpointWindow {
  readonly attempts: number;
  readonly perSecond: number;
  /** Share of attempts that ended OK (or with an answer that is not a failure); null without attempts. */
  readonly successRate: number | null;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** How long ago its last attempt ended, ms; null when none is kept. */
  readonly lastAttemptAgoMs: number | null;
  /** It had attempts in the window, but none in the last 2 s: the figures are not current. */
  readonly stale: boolean;
}

/** Outcome series by key, made on a key's first record; a key never recorded reads as empty. */
class SeriesByKey {
  readonly #byKey = new Map<string, OutcomeSeries>();
  readonly #since: number;

  constructor(since: number) {
    this.#since = since;
  }

  /** The key's series, made now if it has none; `made` runs first when it is new. */
  recording(key: string, made?: () => void): OutcomeSeries {
    let series = this.#byKey.get(key);
    if (!series) {
      made?.();
      this.#byKey.set(key, (series = new OutcomeSeries(this.#since)));
    }
    return series;
  }

  /** The key's series, or an empty one (not kept). */
  reading(key: string): OutcomeSeries {
    return this.#byKey.get(key) ?? new OutcomeSeries(this.#since);
  }

  /** Forgets keys with nothing in the kept seconds. */
  prune(now: number): void {
    for (const [key, series] of this.#byKey) {
      if ((series.lastAt ?? -Infinity) < now - KEPT_SECONDS * 1000) this.#byKey.delete(key);
    }
  }
}

/**
 * Each endpoint's recent attempts, keyed by service and address. A series nobody recorded into
 * for two minutes is dropped (addresses come and go with pods).
 */
export class EndpointStats {
  readonly #byEndpoint: SeriesByKey;

  constructor(since: number) {
    this.#byEndpoint = new SeriesByKey(since);
  }

  record(service: string, address: string, code: number, durationMs: number, now: number): void {
    // A new address (a new pod): the series of those gone quiet go now, whether or not a page
    // ever asks (this runs once per new series, never per call).
    const series = this.#byEndpoint.recording(`${service}\u0000${address}`, () => this.prune(now));
    series.record(now, UNHEALTHY_CODE_SET.has(code) ? statusName(code) : undefined, durationMs);
  }

  /** The endpoint's attempts over the last `windowMs`. */
  window(service: string, address: string, windowMs: number, now: number): EndpointWindow {
    const w = this.#series(service, address).window(windowMs, now);
    return {
      attempts: w.count,
      perSecond: w.perSecond,
      successRate: w.successRate,
      p50Ms: w.p50Ms,
      p99Ms: w.p99Ms,
      lastAttemptAgoMs: w.lastAgoMs,
      stale: w.stale,
    };
  }

  /** Its attempts per second over the last `seconds` complete seconds. */
  history(service: string, address: string, seconds: number, now: number): OutcomeHistory {
    return this.#series(service, address).history(seconds, now);
  }

  /** Forgets endpoints with nothing in the kept seconds. */
  prune(now: number): void {
    this.#byEndpoint.prune(now);
  }

  #series(service: string, address: string): OutcomeSeries {
    return this.#byEndpoint.reading(`${service}\u0000${address}`);
  }
}

/** A service's calls as its callers saw them, over a window (`linkerd viz stat`'s line). */
export interface CallWindow {
  readonly calls: number;
  readonly perSecond: number;
  /** Share of calls that did not fail (OK, or an answer such as NOT_FOUND); null without calls. */
  readonly successRate: number | null;
  readonly failedPerSecond: number;
  /** Failed calls by why they failed ("UNAVAILABLE: circuit breaker open"), the most frequent first. */
  readonly failures: OutcomeWindow['failures'];
  /** The call's latency as the caller waited, retries and backoff included. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly lastCallAgoMs: number | null;
  /** It had calls in the window, but none in the last 2 s: the figures are not current. */
  readonly stale: boolean;
}

/** Each service's calls, as the mesh's client stacks saw them end. */
export class CallStats {
  readonly #byService: SeriesByKey;

  constructor(since: number) {
    this.#byService = new SeriesByKey(since);
  }

  /** A call of `service` ended at `now`: `failure` says why it failed, undefined when it did not. */
  record(service: string, failure: string | undefined, durationMs: number, now: number): void {
    this.#byService.recording(service).record(now, failure, durationMs);
  }

  window(service: string, windowMs: number, now: number): CallWindow {
    const w = this.#series(service).window(windowMs, now);
    return {
      calls: w.count,
      perSecond: w.perSecond,
      successRate: w.successRate,
      failedPerSecond: w.failedPerSecond,
      failures: w.failures,
      p50Ms: w.p50Ms,
      p99Ms: w.p99Ms,
      lastCallAgoMs: w.lastAgoMs,
      stale: w.stale,
    };
  }

  /** Its calls and failed calls per second over the last `seconds` complete seconds. */
  history(service: string, seconds: number, now: number): OutcomeHistory {
    return this.#series(service).history(seconds, now);
  }

  #series(service: string): OutcomeSeries {
    return this.#byService.reading(service);
  }
}
