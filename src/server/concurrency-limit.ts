/**
 * How many calls may run at once. `acquire` hands out a permit or refuses; releasing a permit
 * reports how long the call took, which an adaptive limit learns from.
 */
export interface ConcurrencyLimit {
  readonly limit: number;
  readonly inFlight: number;
  acquire(): Permit | undefined;
}

export interface Permit {
  /** The call ended after `rttMs`; `dropped` when it failed for lack of capacity downstream. */
  release(rttMs: number, dropped?: boolean): void;
}

/** A fixed limit. */
export class FixedLimit implements ConcurrencyLimit {
  #inFlight = 0;

  constructor(readonly limit: number) {}

  get inFlight(): number {
    return this.#inFlight;
  }

  acquire(): Permit | undefined {
    if (this.#inFlight >= this.limit) return undefined;
    this.#inFlight++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#inFlight--;
      },
    };
  }
}

export interface VegasOptions {
  initialLimit: number;
  minLimit: number;
  maxLimit: number;
}

/**
 * An adaptive limit in the manner of TCP Vegas and Netflix's concurrency-limits VegasLimit:
 * it estimates the queue as `limit × (1 − minRTT / RTT)`; a short queue (≤ α = 3·log10 limit)
 * raises the limit by log10 limit, a long one (≥ β = 6·log10 limit) or a drop lowers it.
 * Latency that grows because work queues up inside the server thus shrinks the limit before
 * the server falls over. The no-load latency (minRTT) is re-measured every 1000 samples, so
 * it follows a change in the workload.
 */
export class VegasLimit implements ConcurrencyLimit {
  readonly #options: VegasOptions;
  #limit: number;
  #inFlight = 0;
  #minRtt = Infinity;
  #samples = 0;

  constructor(options: VegasOptions) {
    this.#options = options;
    this.#limit = options.initialLimit;
  }

  get limit(): number {
    return Math.floor(this.#limit);
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  acquire(): Permit | undefined {
    if (this.#inFlight >= this.limit) return undefined;
    const inFlightAtStart = ++this.#inFlight;
    let released = false;
    return {
      release: (rttMs, dropped = false) => {
        if (released) return;
        released = true;
        this.#inFlight--;
        this.#sample(rttMs, inFlightAtStart, dropped);
      },
    };
  }

  #sample(rttMs: number, inFlight: number, dropped: boolean): void {
    if (++this.#samples % 1000 === 0) this.#minRtt = Infinity;
    if (rttMs > 0) this.#minRtt = Math.min(this.#minRtt, rttMs);
    const step = Math.max(1, Math.log10(this.#limit));
    let next = this.#limit;
    if (dropped) next = this.#limit - step;
    else if (inFlight * 2 >= this.#limit && rttMs > 0) {
      // Only a limit that is actually used says anything about whether it is right.
      const queue = this.#limit * (1 - this.#minRtt / rttMs);
      if (queue <= 3 * step) next = this.#limit + step;
      else if (queue >= 6 * step) next = this.#limit - step;
    }
    this.#limit = Math.min(this.#options.maxLimit, Math.max(this.#options.minLimit, next));
  }
}
