import { WeightedScheduler, type EndpointChooser } from './scheduler.js';

/**
 * Power of two choices by cost (Linkerd's balancer): take two distinct candidates, keep the
 * cheaper, cost = peak-EWMA round-trip time × (calls in flight + 1). Combined with the
 * configured weights through the candidates: the first comes from the weighted EDF sequence
 * (exact split), the second is drawn at random with probability W(i) / ΣW; the first is kept
 * unless it costs more than PREFERENCE times the second and by more than a tolerance (a few
 * milliseconds: a peak-EWMA catches every event-loop hiccup, and the endpoint with the most
 * calls catches the most, so smaller differences are noise that would bend the split toward
 * the light endpoint). Why not divide the cost by the
 * weight: divided costs of alike endpoints send every call to the heaviest at low load (80/20
 * becomes 100/0). This way the configured split holds exactly while endpoints are alike — a
 * peak-EWMA wanders by 2× on one slow answer or one call in flight — and a slow or loaded
 * endpoint loses its calls all the same. A pick costs O(log n) whatever the number of endpoints.
 */
export class P2cChooser<T> implements EndpointChooser<T> {
  readonly #items: T[];
  readonly #index: Map<T, number>;
  /** Cumulative weights: #prefix[i] = W(0) + … + W(i). */
  readonly #prefix: number[];
  readonly #sequence: WeightedScheduler<T>;
  readonly #cost: (item: T) => number;
  readonly #random: () => number;
  readonly #toleranceMs: number;

  constructor(
    entries: ReadonlyArray<{ item: T; weight: number }>,
    cost: (item: T) => number,
    random: () => number,
    carried?: ReadonlyMap<T, number>,
    toleranceMs = 0,
  ) {
    this.#toleranceMs = toleranceMs;
    const usable = entries.filter((entry) => entry.weight > 0);
    this.#items = usable.map((entry) => entry.item);
    this.#index = new Map(this.#items.map((item, i) => [item, i]));
    let sum = 0;
    this.#prefix = usable.map((entry) => (sum += entry.weight));
    this.#sequence = new WeightedScheduler(usable, carried, random);
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
    const a = this.#sequence.pick()!;
    if (n === 1) return a;
    const b = this.#items[this.#draw(this.#index.get(a)!)]!;
    return this.#dearer(a, b) ? b : a;
  }

  /** The weighted sequence's position, carried into the next picker. */
  credits(): Map<T, number> {
    return this.#sequence.credits();
  }

  /** With items skipped for this pick (rare: a retry's avoid-hint), the same rule over the rest, drawn uniformly. */
  #pickAmong(rest: readonly T[]): T | undefined {
    if (rest.length <= 1) return rest[0];
    const i = Math.floor(this.#random() * rest.length);
    let j = Math.floor(this.#random() * (rest.length - 1));
    if (j >= i) j++;
    const a = rest[i]!;
    const b = rest[j]!;
    return this.#dearer(a, b) ? b : a;
  }

  /** Whether `a` costs enough more than `b` to give up the draw: over PREFERENCE times, and by more than the tolerance. */
  #dearer(a: T, b: T): boolean {
    const costA = this.#cost(a);
    const costB = this.#cost(b);
    return costA > PREFERENCE * costB && costA - costB > this.#toleranceMs;
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
