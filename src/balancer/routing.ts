// A balancer's routing state: the service's route table and its pick counters, each subset's
// plan, the episodes in which a route's subset had no usable endpoint, and the subsets that
// select nothing. The balancer asks it for the picker to install and tells it when to speak.
import type { experimental } from '@grpc/grpc-js';
import type { ServiceConfig } from '../config/mesh-config.js';
import type { RoutingEvent } from '../observability/events.js';
import type { EndpointController } from './endpoint-controller.js';
import type { WeightedPriorityPicker } from './picker.js';
import type { RoutePickCounter } from './endpoint-metrics.js';
import { RouteStats } from './route-stats.js';
import { RouteTable } from './routes.js';
import { RoutingPicker } from './routing-picker.js';
import type { EndpointChooser } from './scheduler.js';
import type { RouteSnapshot, SubsetSnapshot } from './snapshot.js';
import { describeSelector, planSubset, selects, type SubsetPlan } from './subsets.js';

type Choose = (entries: Array<{ item: EndpointController; weight: number }>) => EndpointChooser<EndpointController>;

/**
 * One balancer's routing: it plans the subsets at each rebuild (planSubset), hands the balancer
 * the picker to install, and says when a route's subset loses or regains its usable endpoints.
 *
 * @example
 *   routing.update(settings, endpoints, warn); // with each resolution
 *   routing.plan(settings, all, leaving, now, zone, chooser); // with each rebuild
 *   helper.updateState(READY, routing.picker(whole), null);
 */
export class ServiceRouting {
  #table: RouteTable | undefined;
  #stats: RouteStats | undefined;
  #plans: ReadonlyMap<string, SubsetPlan> = new Map();
  /** Route and subset pairs without a usable endpoint, by `route\0subset`, with what was said. */
  readonly #down = new Map<string, RoutingEvent>();
  /** Subsets said to select no endpoint, by name, until they select one. */
  readonly #empty = new Set<string>();

  /**
   * A config or discovery update arrived: takes the service's route table, and warns once
   * about each subset that selects none of `all` (a valid config: its endpoints may come later),
   * again only after it selected one.
   */
  update(
    settings: ServiceConfig,
    all: Iterable<EndpointController>,
    warn: (fields: Record<string, unknown>, message: string) => void,
    metric?: (route: string, subsets: readonly string[]) => RoutePickCounter,
  ): void {
    const table = RouteTable.of(settings);
    if (table !== this.#table) {
      this.#table = table;
      this.#stats = table && new RouteStats(table, metric);
    }
    const subsets = settings.subsets ?? {};
    const endpoints = [...all];
    for (const name of this.#empty) if (!Object.hasOwn(subsets, name)) this.#empty.delete(name);
    // A service without any endpoint is said as such (calls fail naming why); not once per subset.
    if (endpoints.length === 0) return;
    for (const [name, selector] of Object.entries(subsets)) {
      if (endpoints.some((e) => selects(selector, e.config.labels))) {
        this.#empty.delete(name);
      } else if (!this.#empty.has(name)) {
        this.#empty.add(name);
        warn(
          { subset: name, selector },
          `subset "${name}" selects no endpoint (${describeSelector(selector)}): routes to it fall back until an update brings one`,
        );
      }
    }
  }

  /** Plans every subset of `settings`; `chooser` makes a tier's chooser, carrying the previous picker's sequence. */
  plan(
    settings: ServiceConfig,
    all: readonly EndpointController[],
    leaving: readonly EndpointController[],
    now: number,
    zone: string | undefined,
    chooser: (credits: ReadonlyMap<EndpointController, number> | undefined) => Choose,
  ): void {
    const plans = new Map<string, SubsetPlan>();
    for (const [name, selector] of Object.entries(settings.subsets ?? {})) {
      const credits = this.#plans.get(name)?.picker?.credits();
      plans.set(name, planSubset(name, selector, all, leaving, settings.balancer, now, chooser(credits), zone));
    }
    this.#plans = plans;
  }

  /** The largest share the leaving endpoints take in a subset: they stay while one needs them. */
  get leavingLoad(): number {
    let load = 0;
    for (const plan of this.#plans.values()) load = Math.max(load, plan.leavingLoad);
    return load;
  }

  /** Endpoints of subsets whose calls wait for them: when they stop counting as on their way, the picker is rebuilt. */
  awaited(): Set<EndpointController> | undefined {
    let awaited: Set<EndpointController> | undefined;
    for (const plan of this.#plans.values()) if (plan.waiting) for (const e of plan.members) (awaited ??= new Set()).add(e);
    return awaited;
  }

  /** The picker to install: the whole service's own when there are neither routes nor subsets (no cost per pick), else one that routes. */
  picker(whole: WeightedPriorityPicker): experimental.Picker {
    if (this.#table === undefined && this.#plans.size === 0) return whole;
    return new RoutingPicker(whole, this.#plans, this.#table, this.#stats);
  }

  /**
   * Says, once per episode, each route whose subset has no usable endpoint (its calls go to the
   * whole service, or fail), and each that has one again. Called when the picker serves calls.
   */
  noteEpisodes(service: string, emit: (event: RoutingEvent) => void): void {
    const seen = new Set<string>();
    for (const route of this.#table?.routes ?? []) {
      for (const { subset, weight } of route.config.destinations ?? []) {
        const key = `${route.name}\0${subset}`;
        if (weight === 0 || seen.has(key)) continue;
        seen.add(key);
        const plan = this.#plans.get(subset);
        const said = this.#down.get(key);
        if (plan?.picker !== undefined) {
          if (said) emit({ service, route: route.name, subset, kind: 'recovered', reason: 'an endpoint of the subset is usable again' });
          this.#down.delete(key);
        } else if (!plan?.waiting) {
          const kind = route.config.fallback === 'any' ? 'fallback' : 'unavailable';
          if (said?.kind === kind) continue;
          const then = kind === 'fallback' ? 'the whole service takes its calls' : 'its calls fail with UNAVAILABLE';
          const event = {
            service,
            route: route.name,
            subset,
            kind,
            reason: `subset "${subset}" has no usable endpoint (${plan?.why ?? 'no such subset'}): ${then}`,
          } as const;
          this.#down.set(key, event);
          emit(event);
        }
      }
    }
    for (const [key, { route, subset }] of this.#down) {
      if (seen.has(key)) continue;
      this.#down.delete(key);
      emit({ service, route, subset, kind: 'recovered', reason: 'the config no longer routes calls there' });
    }
  }

  snapshot(): { subsets: SubsetSnapshot[]; routes: RouteSnapshot[] } {
    return {
      subsets: [...this.#plans.values()].map((plan) => ({
        name: plan.name,
        selector: plan.selector,
        endpoints: plan.members.map((e) => e.config.name),
        state: plan.picker ? 'serving' : plan.waiting ? 'waiting' : 'unusable',
        tiers: plan.loads,
      })),
      routes: this.#stats?.snapshot() ?? [],
    };
  }
}
