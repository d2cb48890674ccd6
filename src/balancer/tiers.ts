// What the picker is built from, as pure functions of the endpoints' state: the tiers with
// their loads and choosers, the endpoints that serve although ejected, the per-method rules.
import type { ServiceConfig } from '../config/mesh-config.js';
import type { EndpointController } from './endpoint-controller.js';
import type { MethodRule, PickerTier } from './picker.js';
import { tierLoads } from './priority.js';
import { WeightedScheduler, type EndpointChooser } from './scheduler.js';

export interface TierPlan {
  /** The tiers that take traffic, each with its chooser and share. */
  readonly tiers: Array<{ tier: PickerTier; load: number }>;
  /** Every configured tier's share (0–100, one decimal) and whether it is in panic mode, for the snapshot. */
  readonly loads: ReadonlyArray<{ priority: number; load: number; panic: boolean }>;
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
 * the configured tiers cannot take yet.
 */
export function planTiers(
  all: readonly EndpointController[],
  settings: ServiceConfig['balancer'],
  now: number,
  choose: (entries: Array<{ item: EndpointController; weight: number }>) => EndpointChooser<EndpointController>,
  leaving: readonly EndpointController[] = [],
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
    tiers.push({ tier: { priority, scheduler: choose(entries) }, load });
  }
  return {
    tiers,
    loads: loads
      .filter(({ priority }) => priority !== LEAVING_PRIORITY)
      .map(({ priority, load, healthPercent }) => ({
        priority,
        load: Math.round(load * 10) / 10,
        panic: load > 0 && panicThresholdPercent > 0 && healthPercent < panicThresholdPercent,
      })),
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
