import * as z from 'zod/mini';
import { systemClock, type Clock } from '../../clock.js';
import { resolveWith } from '../../schema/validate.js';
import { HOUR, durationMs } from '../../schema/bounds.js';

export interface TaperOptions {
  /** N: retries a call may make when a failure streak begins (the curve's ceiling). */
  maxRetries: number;
  /** k: how sharply the allowance falls around T, per second. Larger is steeper. */
  steepness: number;
  /** T: streak age, in ms, at which the allowance has fallen to N/2. */
  midpointMs: number;
}

export interface RetryBudgetOptions {
  /** Retries allowed as a share of requests seen in the window. Default 0.2 (Linkerd, Finagle). */
  ratio?: number;
  /** Retries allowed per second whatever the traffic, so quiet clients can still retry. Default 10. */
  minRetriesPerSecond?: number;
  /** How long a request's deposit and a retry's withdrawal count, in ms. Default 10000. */
  ttlMs?: number;
  /**
   * The seed's taper: while a failure streak lasts, each call may retry at most
   * `R = N / (1 + e^{k(t − T)})` times, t being the streak's age. Off by default.
   */
  taper?: TaperOptions;
  clock?: Clock;
}

export const RETRY_BUDGET_DEFAULTS = Object.freeze({ ratio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 });

const budgetFields = {
  ratio: z._default(z.number().check(z.minimum(0), z.maximum(10)), RETRY_BUDGET_DEFAULTS.ratio),
  minRetriesPerSecond: z._default(z.number().check(z.minimum(0), z.maximum(100_000)), RETRY_BUDGET_DEFAULTS.minRetriesPerSecond),
  ttlMs: z._default(durationMs(100, HOUR), RETRY_BUDGET_DEFAULTS.ttlMs),
  taper: z.optional(
    z.strictObject({
      maxRetries: z.number().check(z.minimum(0), z.maximum(10)),
      steepness: z.number().check(z.positive(), z.maximum(100)),
      midpointMs: durationMs(0, HOUR),
    }),
  ),
};

/** The budget as a config file writes it: every option but the clock. */
export const retryBudgetConfigSchema = z.strictObject(budgetFields);

const budgetSchema = z.strictObject({ ...budgetFields, clock: z.optional(z.custom<Clock>()) });

export function resolveRetryBudgetOptions(options: RetryBudgetOptions = {}) {
  return resolveWith(budgetSchema, options, 'retry budget options');
}

const BUCKETS = 10;

export interface RetryBudgetSnapshot {
  readonly requests: number;
  readonly retries: number;
  /** Retries the budget would grant right now. */
  readonly available: number;
  /** Retries and hedges refused since the budget was made. */
  readonly refused: number;
  /** Age of the current failure streak in ms, 0 when the last attempt succeeded. */
  readonly failureStreakMs: number;
}

/**
 * A retry budget shared by every call of one client, in the Finagle/Linkerd style: each
 * request deposits `ratio` of a retry, each retry withdraws one, and a reserve of
 * `minRetriesPerSecond × ttl` keeps quiet clients able to retry. Counts live in a ring of
 * ten buckets over `ttlMs`, so every operation is O(1). In a total outage retries stay near
 * `ratio` of the traffic instead of multiplying it by the attempt count.
 *
 * @example
 *   const budget = new RetryBudget({ ratio: 0.1 });
 *   budget.recordRequest();
 *   if (budget.tryRetry()) { ... }
 */
export class RetryBudget {
  readonly #ratio: number;
  readonly #reserve: number;
  readonly #bucketMs: number;
  readonly #taper: TaperOptions | undefined;
  readonly #clock: Clock;
  readonly #requests = Array.from({ length: BUCKETS }, () => 0);
  readonly #retries = Array.from({ length: BUCKETS }, () => 0);
  #requestSum = 0;
  #retrySum = 0;
  #refused = 0;
  #bucket = 0;
  #bucketStart: number;
  #streakStart: number | undefined;

  constructor(options: RetryBudgetOptions = {}) {
    const resolved = resolveRetryBudgetOptions(options);
    this.#ratio = resolved.ratio;
    this.#reserve = (resolved.minRetriesPerSecond * resolved.ttlMs) / 1000;
    this.#bucketMs = resolved.ttlMs / BUCKETS;
    this.#taper = resolved.taper;
    this.#clock = resolved.clock ?? systemClock;
    this.#bucketStart = this.#clock.now();
  }

  /** Every call deposits once, before its first attempt. */
  recordRequest(): void {
    this.#advance();
    this.#requests[this.#bucket]!++;
    this.#requestSum++;
  }

  /** Withdraws one retry (or hedge) if the budget allows it. */
  tryRetry(): boolean {
    this.#advance();
    if (this.#available() < 1) {
      this.#refused++;
      return false;
    }
    this.#retries[this.#bucket]!++;
    this.#retrySum++;
    return true;
  }

  /** Feeds the failure streak the taper follows: any success ends it. */
  recordAttempt(ok: boolean): void {
    if (ok) this.#streakStart = undefined;
    else this.#streakStart ??= this.#clock.now();
  }

  /**
   * Retries a call starting now may make by the taper, `N / (1 + e^{k(t − T)})`; a fraction
   * is granted with that probability, so the average follows the curve. Infinity without a taper.
   */
  retryAllowance(random: () => number): number {
    if (!this.#taper || this.#streakStart === undefined) return Infinity;
    const { maxRetries: n, steepness: k, midpointMs } = this.#taper;
    const t = (this.#clock.now() - this.#streakStart) / 1000;
    const r = n / (1 + Math.exp(k * (t - midpointMs / 1000)));
    const whole = Math.floor(r);
    return whole + (random() < r - whole ? 1 : 0);
  }

  snapshot(): RetryBudgetSnapshot {
    this.#advance();
    return {
      requests: this.#requestSum,
      retries: this.#retrySum,
      available: Math.max(0, Math.floor(this.#available())),
      refused: this.#refused,
      failureStreakMs: this.#streakStart === undefined ? 0 : this.#clock.now() - this.#streakStart,
    };
  }

  #available(): number {
    return this.#reserve + this.#ratio * this.#requestSum - this.#retrySum;
  }

  /** Moves the ring forward to now, expiring buckets older than the ttl. */
  #advance(): void {
    const elapsed = Math.floor((this.#clock.now() - this.#bucketStart) / this.#bucketMs);
    if (elapsed <= 0) return;
    for (let i = 0; i < Math.min(elapsed, BUCKETS); i++) {
      this.#bucket = (this.#bucket + 1) % BUCKETS;
      this.#requestSum -= this.#requests[this.#bucket]!;
      this.#retrySum -= this.#retries[this.#bucket]!;
      this.#requests[this.#bucket] = 0;
      this.#retries[this.#bucket] = 0;
    }
    this.#bucketStart += elapsed * this.#bucketMs;
  }
}
