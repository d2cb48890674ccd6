/**
 * Smooth weighted round robin (as in nginx): every pick adds each candidate's weight to its
 * running credit, takes the candidate with the most credit, and charges it the total. Over
 * any ΣW consecutive picks with integer weights each item is chosen exactly W(i) times,
 * i.e. P(i) = W(i) / Σ W(j), and picks are spread out rather than bunched. A pick costs
 * O(n) in the number of candidates and nothing in the number of calls; no pick is ever
 * skipped or retried. Credit carries over when the candidate set is rebuilt, so a new
 * snapshot continues the sequence instead of restarting it.
 *
 * @example
 *   const s = new SmoothWeightedScheduler([{ item: 'A', weight: 4 }, { item: 'B', weight: 1 }]);
 *   s.pick(); // A, A, B, A, A, ...
 */
export class SmoothWeightedScheduler<T> {
  readonly #items: T[];
  readonly #weights: number[];
  readonly #credit: number[];

  constructor(entries: ReadonlyArray<{ item: T; weight: number }>, carried?: ReadonlyMap<T, number>) {
    const usable = entries.filter((entry) => entry.weight > 0);
    this.#items = usable.map((entry) => entry.item);
    this.#weights = usable.map((entry) => entry.weight);
    // Credit earned under other weights is clamped to this set's total, so a re-weight or a
    // new endpoint converges within one round instead of replaying an old debt.
    const total = this.#weights.reduce((sum, weight) => sum + weight, 0);
    this.#credit = usable.map((entry) => Math.max(-total, Math.min(total, carried?.get(entry.item) ?? 0)));
  }

  get size(): number {
    return this.#items.length;
  }

  /** The next item, or undefined when none is eligible. `skip` excludes items for this pick only. */
  pick(skip?: (item: T) => boolean): T | undefined {
    let best = -1;
    let total = 0;
    for (let i = 0; i < this.#items.length; i++) {
      if (skip?.(this.#items[i]!)) continue;
      this.#credit[i]! += this.#weights[i]!;
      total += this.#weights[i]!;
      if (best < 0 || this.#credit[i]! > this.#credit[best]!) best = i;
    }
    if (best < 0) return undefined;
    this.#credit[best]! -= total;
    return this.#items[best];
  }

  /** Running credit per item, to hand to the next scheduler. */
  credits(): Map<T, number> {
    return new Map(this.#items.map((item, i) => [item, this.#credit[i]!]));
  }
}
