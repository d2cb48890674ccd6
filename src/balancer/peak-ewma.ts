/**
 * Peak-EWMA round-trip time, as Linkerd's balancer (tower's PeakEwma) keeps it per endpoint:
 * a sample slower than the estimate replaces it at once (a backend turning slow is seen on its
 * first slow answer); a faster one decays in with weight 1 − e^(−Δt/τ); with no sample the
 * estimate decays toward zero, so an endpoint left alone is tried again. A new endpoint starts
 * at a default estimate. Times are in ms, given by the caller (tests use an injected clock).
 *
 * @example
 *   const rtt = new PeakEwma({ decayMs: 500, defaultRttMs: 30 }, 0);
 *   rtt.observe(200, 10); rtt.estimate(10); // 200
 */
export class PeakEwma {
  readonly #decayMs: number;
  #estimate: number;
  #stamp: number;

  constructor(options: { readonly decayMs: number; readonly defaultRttMs: number }, now: number) {
    this.#decayMs = options.decayMs;
    this.#estimate = options.defaultRttMs;
    this.#stamp = now;
  }

  /** The estimate at `now`, decayed since the last sample. */
  estimate(now: number): number {
    const elapsed = now - this.#stamp;
    return elapsed <= 0 ? this.#estimate : this.#estimate * Math.exp(-elapsed / this.#decayMs);
  }

  observe(rttMs: number, now: number): void {
    const elapsed = Math.max(0, now - this.#stamp);
    if (rttMs > this.#estimate) {
      this.#estimate = rttMs;
    } else {
      const decay = Math.exp(-elapsed / this.#decayMs);
      this.#estimate = this.#estimate * decay + rttMs * (1 - decay);
    }
    this.#stamp = now;
  }
}
