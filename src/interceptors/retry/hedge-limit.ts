// How many hedges a client may have in flight at once: Envoy's retry budget (`budget_percent`
// of the active requests, never fewer than `min_retry_concurrency`), applied to hedges. The
// retry budget (budget.ts) bounds hedges over ten seconds; this bounds a burst. When a client
// starts a load at once (or its answers all slow down together), every call waits past the
// hedge delay before the adaptive delay has heard a single slow answer, and each would send a
// hedge into a pair that is no faster: the hedges only add load. A hung or slow endpoint's
// hedges go to an endpoint that answers, end quickly, and so are few at a time: the bound
// stays out of their way.
import * as z from 'zod/mini';
import { count, percent } from '../../schema/bounds.js';

export interface HedgeLimitOptions {
  /** Hedges in flight, as a share in percent of the calls in flight through the retry layer. Default 10. */
  percent?: number;
  /** Hedges in flight allowed whatever the share says. Default 3 (Envoy's min_retry_concurrency). */
  min?: number;
}

export const HEDGE_LIMIT_DEFAULTS = Object.freeze({ percent: 10, min: 3 });

/** The hedge limit as a config file writes it. */
export const hedgeLimitConfigSchema = z.strictObject({
  percent: z._default(percent(), HEDGE_LIMIT_DEFAULTS.percent),
  min: z._default(count(0, 100_000), HEDGE_LIMIT_DEFAULTS.min),
});

export interface HedgeLimitSnapshot {
  readonly callsInFlight: number;
  readonly hedgesInFlight: number;
  /** Hedges held back (sent a delay later, if the call still waits) since the limit was made. */
  readonly heldBack: number;
}

/** The calls and hedges in flight through one retry layer (one client), and whether another hedge may go. */
export class HedgeLimit {
  readonly #share: number;
  readonly #min: number;
  #calls = 0;
  #hedges = 0;
  #heldBack = 0;

  constructor(options: { readonly percent: number; readonly min: number }) {
    this.#share = options.percent / 100;
    this.#min = options.min;
  }

  callStarted(): void {
    this.#calls++;
  }

  callEnded(): void {
    this.#calls--;
  }

  /** Whether a hedge may go now; one that may not is counted as held back. */
  admits(): boolean {
    if (this.#hedges < this.#min || this.#hedges < this.#share * this.#calls) return true;
    this.#heldBack++;
    return false;
  }

  hedgeStarted(): void {
    this.#hedges++;
  }

  /** A hedge ended (answered, failed, or cancelled and done). */
  hedgeEnded(): void {
    this.#hedges--;
  }

  snapshot(): HedgeLimitSnapshot {
    return { callsInFlight: this.#calls, hedgesInFlight: this.#hedges, heldBack: this.#heldBack };
  }
}
