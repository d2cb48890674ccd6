/**
 * How traffic splits across priority tiers, Envoy style: a tier's health is the share of
 * its endpoints that are usable, scaled by the overprovisioning factor (1.4 by default: a
 * tier with ≥ 72 % of its endpoints usable still takes all its traffic). Load the healthier
 * tiers cannot take spills to the next tier. When no tier is fully healthy the loads are
 * normalised so they sum to 100 %.
 */
export interface TierCounts {
  readonly priority: number;
  readonly usable: number;
  readonly total: number;
}

export interface TierLoad {
  readonly priority: number;
  /** Share of traffic, 0–100. */
  readonly load: number;
  /** Usable share of the tier's endpoints, 0–100 (before overprovisioning). */
  readonly healthPercent: number;
}

export function tierLoads(tiers: readonly TierCounts[], overprovisioningFactor: number): TierLoad[] {
  const sorted = [...tiers].sort((a, b) => a.priority - b.priority);
  const healthPercent = sorted.map((t) => (t.total === 0 ? 0 : (100 * t.usable) / t.total));
  const health = healthPercent.map((h) => Math.min(100, h * overprovisioningFactor));
  const totalHealth = health.reduce((sum, h) => sum + h, 0);
  if (totalHealth === 0) return sorted.map((t, i) => ({ priority: t.priority, load: 0, healthPercent: healthPercent[i]! }));
  const scale = totalHealth < 100 ? 100 / totalHealth : 1;
  let remaining = 100;
  return sorted.map((t, i) => {
    const load = Math.min(remaining, health[i]! * scale);
    remaining -= load;
    return { priority: t.priority, load, healthPercent: healthPercent[i]! };
  });
}
