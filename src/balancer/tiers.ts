// What the picker is built from, as pure functions of the endpoints' state: the tiers with
// their loads and choosers, the endpoints that serve although ejected, the per-method rules.
import { connectivityState as ConnectivityState } from '@grpc/grpc-js';
import type { ServiceConfig } from '../config/mesh-config.js';
import type { EndpointController } from './endpoint-controller.js';
import type { MethodRule, PickerTier } from './picker.js';
import { tierLoads } from './priority.js';
import type { TierSnapshot } from './snapshot.js';
import { WeightedScheduler, type EndpointChooser } from './scheduler.js';
import { splitByZone } from './zones.js';

export interface TierPlan {
  /** The tiers that take traffic, each with its chooser and share. */
  readonly tiers: Array<{ tier: PickerTier; load: number }>;
  /**
   * Every configured tier's share (0–100, one decimal) and whether it is in panic mode, for the
   * snapshot; with zone-aware routing in force in a tier, the share of its calls kept in the zone.
   */
  readonly loads: readonly TierSnapshot[];
  /** The share the leaving endpoints take (0–100): what the configured tiers cannot take yet. */
  readonly leavingLoad: number;
  /**
   * Configured tiers that take no traffic but have usable endpoints (connected and checked
   * already: every endpoint is kept connected), by priority: where a retry goes once it has
   * tried every endpoint of the tiers that do — both backends of a tier killed at once, say.
   */
  readonly standby: PickerTier[];
}

/** The priority of the tier the leaving endpoints form: below every configured one. */
export const LEAVING_PRIORITY = Infinity;

/**
 * Envoy's priority levels: each tier's share from its usable endpoints (overprovisioning), panic
 * mode when too few are usable, and a chooser over the tier's candidates made by `choose`.
 * Endpoints an update removed (`leaving`) form one more tier below all others: they take what
 * the configured tiers cannot take yet. With the client's `zone`, each configured tier keeps
 * calls in that zone as far as its capacity there allows (zones.ts); not in panic mode, where
 * every connected endpoint shares the calls, as in Envoy.
 */
export function planTiers(
  all: readonly EndpointController[],
  settings: ServiceConfig['balancer'],
  now: number,
  choose: (entries: Array<{ item: EndpointController; weight: number }>) => EndpointChooser<EndpointController>,
  leaving: readonly EndpointController[] = [],
  zone?: string,
): TierPlan {
  const { overprovisioningFactor, panicThresholdPercent } = settings;
  const priorities = [...new Set(all.map((e) => e.config.priority))].sort((a, b) => a - b);
  if (leaving.length > 0) priorities.push(LEAVING_PRIORITY);
  const membersOf = (priority: number) => (priority === LEAVING_PRIORITY ? leaving : all.filter((e) => e.config.priority === priority));
  const counts = priorities.map((priority) => {
    const members = membersOf(priority).filter((e) => e.config.weight > 0);
    return { priority, usable: members.filter((e) => e.usable).length, total: members.length };
  });
  let loads = tierLoads(counts, overprovisioningFactor);
  if (panicThresholdPercent > 0 && loads.every((t) => t.load === 0)) {
    // Nothing healthy anywhere: in panic mode the first tier with a connection takes it all.
    const fallback = priorities.find((p) => all.some((e) => e.config.priority === p && e.connected && e.config.weight > 0));
    loads = loads.map((t) => (t.priority === fallback ? { ...t, load: 100 } : t));
  }
  const tiers: Array<{ tier: PickerTier; load: number }> = [];
  const standby: PickerTier[] = [];
  const localZone = new Map<number, number>();
  for (const { priority, load, healthPercent } of loads) {
    if (load <= 0) {
      const usable = priority === LEAVING_PRIORITY ? [] : membersOf(priority).filter((e) => e.usable);
      if (usable.length > 0)
        standby.push({ priority, scheduler: choose(usable.map((e) => ({ item: e, weight: e.effectiveWeight(now) }))) });
      continue;
    }
    const members = membersOf(priority);
    // Envoy's panic mode: when too few endpoints are usable, spread over every connected one.
    const panic = panicThresholdPercent > 0 && healthPercent < panicThresholdPercent;
    const candidates = members.filter((e) => (panic ? e.connected && e.config.weight > 0 : e.usable));
    const entries = candidates.map((e) => ({ item: e, weight: e.usable ? e.effectiveWeight(now) : e.config.weight }));
    const split =
      zone === undefined || panic || priority === LEAVING_PRIORITY
        ? undefined
        : splitByZone(members, entries, zone, overprovisioningFactor);
    tiers.push({ tier: { priority, scheduler: choose(split?.entries ?? entries) }, load });
    if (split) localZone.set(priority, split.localLoad);
    if (split && split.outside.length > 0) standby.push({ priority, scheduler: choose(split.outside) });
  }
  return {
    tiers,
    loads: loads
      .filter(({ priority }) => priority !== LEAVING_PRIORITY)
      .map(({ priority, load, healthPercent }) => {
        const local = localZone.get(priority);
        return {
          priority,
          load: Math.round(load * 10) / 10,
          panic: load > 0 && panicThresholdPercent > 0 && healthPercent < panicThresholdPercent,
          ...(local !== undefined && { localZone: Math.round(local * 10) / 10 }),
        };
      }),
    leavingLoad: loads.find(({ priority }) => priority === LEAVING_PRIORITY)?.load ?? 0,
    standby,
  };
}

/** The endpoints that serve although ejected when nothing else is usable: one tier of them, or none. */
export function overrideEjections(
  endpoints: readonly EndpointController[],
  credits: ReadonlyMap<EndpointController, number> | undefined,
): { tier: PickerTier; load: number } | undefined {
  const serving = endpoints.filter((e) => e.serving && e.config.weight > 0 && !e.ejection.admitted);
  if (serving.length === 0) return undefined;
  const priority = Math.min(...serving.map((e) => e.config.priority));
  const entries = serving.filter((e) => e.config.priority === priority).map((e) => ({ item: e, weight: e.config.weight }));
  return { tier: { priority, scheduler: new WeightedScheduler(entries, credits) }, load: 100 };
}

/** Per method, the endpoints it is ejected from and those waiting for its probe. */
export function methodRules(endpoints: readonly EndpointController[]): Map<string, MethodRule> {
  const rules = new Map<string, { excluded: Set<EndpointController>; probing: EndpointController[] }>();
  for (const endpoint of endpoints) {
    for (const [method, state] of endpoint.methods.notAdmitted()) {
      let rule = rules.get(method);
      if (!rule) rules.set(method, (rule = { excluded: new Set(), probing: [] }));
      rule.excluded.add(endpoint);
      if (state.kind === 'probing' && endpoint.usable) rule.probing.push(endpoint);
    }
  }
  return rules;
}

/** Why each of `endpoints` takes no call, most telling reason first: "ServiceA (127.0.0.1:50051) unhealthy: …; …". */
export function whyUnusable(endpoints: readonly EndpointController[]): string {
  return endpoints
    .map((e) => {
      const state = e.ejection.state;
      const why =
        e.config.weight === 0
          ? 'weight 0 (drained)'
          : e.connectivity !== ConnectivityState.READY
            ? `not connected (${ConnectivityState[e.connectivity]}${e.lastError ? `: ${e.lastError}` : ''})`
            : state.kind !== 'admitted'
              ? `ejected: ${state.reason}`
              : `unhealthy: ${e.health.detail}`;
      return `${e.config.name} (${e.address}) ${why}`;
    })
    .join('; ');
}
