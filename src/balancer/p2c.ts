import type { EndpointChooser } from './scheduler.js';

/**
 * Power of two choices by cost (Linkerd's balancer): draw two distinct candidates, keep the
 * cheaper, cost = peak-EWMA round-trip time × (calls in flight + 1). Combined with the
 * configured weights by sampling: each draw picks a candidate with probability W(i) / ΣW, and
 * the first draw is kept unless it costs more than PREFERENCE times the second. Why sample
 * rather than divide the cost by the weight: divided costs of alike endpoints send every call
 * to the heaviest at low load (80/20 becomes 100/0), while sampled draws keep the configured
 * split for as long as endpoints are alike — a peak-EWMA wanders by 2× on one slow answer or
 * one call in flight — and a slow or loaded endpoint loses its calls all the same. A draw costs
 * O(log n) (prefix sums), whatever the number of endpoints.
 */
export class P2cChooser<T> implements EndpointChooser<T> {
  readonly #items: T[];
  /** Cumulative weights: #prefix[i] = W(0) + … + W(i). */
  readonly #prefix: number[];
  readonly #cost: (item: T) => number;
  readonly #random: () => number;

  constructor(entries: ReadonlyArray<{ item: T; weight: number }>, cost: (item: T) => number, random: () => number) {
    const usable = entries.filter((entry) => entry.weight > 0);
    this.#items = usable.map((entry) => entry.item);
    let sum = 0;
    this.#prefix = usable.map((entry) => (sum += entry.weight));
    this.#cost = cost;
    this.#random = random;
  }

  get size(): number {
    return this.#items.length;
  }

  pick(skip?: (item: T) => boolean): T | undefined {
    const n = this.#items.length;
    if (n === 0) return undefined;
    if (skip) return this.#pickAmong(this.#items.filter((item) => !skip(item)));
    if (n === 1) return this.#items[0];
    const first = this.#draw(-1);
    const second = this.#draw(first);
    const a = this.#items[first]!;
    const b = this.#items[second]!;
    return this.#cost(a) > PREFERENCE * this.#cost(b) ? b : a;
  }

  /** P2C has no sequence to carry into the next picker. */
  credits(): Map<T, number> {
    return new Map();
  }

  /** With items skipped for this pick (rare: a retry's avoid-hint), the same rule over the rest, drawn uniformly. */
  #pickAmong(rest: readonly T[]): T | undefined {
    if (rest.length <= 1) return rest[0];
    const i = Math.floor(this.#random() * rest.length);
    let j = Math.floor(this.#random() * (rest.length - 1));
    if (j >= i) j++;
    const a = rest[i]!;
    const b = rest[j]!;
    return this.#cost(a) > PREFERENCE * this.#cost(b) ? b : a;
  }

  /** An index drawn by weight, never `excluded`. */
  #draw(excluded: number): number {
    const prefix = this.#prefix;
    const total = prefix[prefix.length - 1]!;
    const excludedWeight = excluded < 0 ? 0 : prefix[excluded]! - (excluded === 0 ? 0 : prefix[excluded - 1]!);
    let target = this.#random() * (total - excludedWeight);
    // Step over the excluded item's span of the line.
    if (excluded >= 0 && target >= (excluded === 0 ? 0 : prefix[excluded - 1]!)) target += excludedWeight;
    let lo = 0;
    let hi = prefix.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (prefix[mid]! > target) hi = mid;
      else lo = mid + 1;
    }
    return lo === excluded ? (lo + 1) % prefix.length : lo;
  }
}

/** How much dearer the first draw may be before the second is taken instead. */
export const PREFERENCE = 2;
