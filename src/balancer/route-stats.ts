// Picks per route and destination, for the snapshot: how the configured split is doing. The
// counters belong to one config version's route table (a reload starts them afresh) and
// outlive the pickers; they hold numbers only, nothing a call made. A pick costs a map lookup
// and a few typed-array writes; the memory is RECENT_PICKS bytes per route, whatever the load.
import type { RoutePickCounter } from './endpoint-metrics.js';
import type { RouteSnapshot } from './snapshot.js';
import type { RouteTable } from './routes.js';

/** How many of a route's last picks its actual shares are computed over. */
export const RECENT_PICKS = 1000;

/** One route's picks: in total, and its last RECENT_PICKS destinations in a ring. */
class RouteCounter {
  readonly #index: ReadonlyMap<string, number>;
  /** The destination of each of the last picks, by index (a route has at most 16). */
  readonly #ring = new Uint8Array(RECENT_PICKS);
  /** Picks per destination among the last ones. */
  readonly #recent: Uint32Array;
  /** Picks per destination that found it without a usable endpoint. */
  readonly #fallbacks: Float64Array;
  #filled = 0;
  #next = 0;
  #picks = 0;

  readonly #metric: RoutePickCounter | undefined;

  constructor(subsets: readonly string[], metric: RoutePickCounter | undefined) {
    this.#metric = metric;
    const index = new Map<string, number>();
    subsets.forEach((subset, i) => index.has(subset) || index.set(subset, i));
    this.#index = index;
    this.#recent = new Uint32Array(subsets.length);
    this.#fallbacks = new Float64Array(subsets.length);
  }

  count(subset: string | undefined, fellBack: boolean): void {
    this.#picks++;
    const index = subset === undefined ? undefined : this.#index.get(subset);
    this.#metric?.(index, fellBack);
    if (index === undefined) return;
    if (fellBack) this.#fallbacks[index]!++;
    if (this.#filled === RECENT_PICKS) this.#recent[this.#ring[this.#next]!]!--;
    else this.#filled++;
    this.#ring[this.#next] = index;
    this.#recent[index]!++;
    this.#next = this.#next + 1 === RECENT_PICKS ? 0 : this.#next + 1;
  }

  get picks(): number {
    return this.#picks;
  }

  /** Destination `index`'s share of the last picks, 0–100 (one decimal); undefined before any. */
  actualShare(index: number): number | undefined {
    return this.#filled === 0 ? undefined : Math.round((1000 * this.#recent[index]!) / this.#filled) / 10;
  }

  fallbacks(index: number): number {
    return this.#fallbacks[index]!;
  }
}

/** The picks of every route of one route table. */
export class RouteStats {
  readonly #table: RouteTable;
  readonly #counters: ReadonlyMap<string, RouteCounter>;

  /** `metric` makes a route's `meshlite.route.picks` counter, when the mesh records metrics. */
  constructor(table: RouteTable, metric?: (route: string, subsets: readonly string[]) => RoutePickCounter) {
    this.#table = table;
    this.#counters = new Map(
      table.routes.map((route) => {
        const subsets = (route.config.destinations ?? []).map((d) => d.subset);
        return [route.name, new RouteCounter(subsets, metric?.(route.name, subsets))];
      }),
    );
  }

  /** A pick of `route` for `subset` (undefined: the whole service); `fellBack`: the subset had no usable endpoint. */
  count(route: string, subset: string | undefined, fellBack: boolean): void {
    this.#counters.get(route)?.count(subset, fellBack);
  }

  snapshot(): RouteSnapshot[] {
    return this.#table.routes.map((route) => {
      const counter = this.#counters.get(route.name)!;
      const destinations = route.config.destinations ?? [];
      const total = destinations.reduce((sum, d) => sum + d.weight, 0);
      return {
        name: route.name,
        fallback: route.config.fallback,
        picks: counter.picks,
        destinations: destinations.map((d, i) => ({
          subset: d.subset,
          weight: d.weight,
          configuredShare: Math.round((1000 * d.weight) / total) / 10,
          actualShare: counter.actualShare(i),
          fallbacks: counter.fallbacks(i),
        })),
      };
    });
  }
}
