// Zone-aware routing inside one priority tier. The client's zone is treated as a tier above the
// rest of its priority, with Envoy's overprovisioning rule for priorities: the zone keeps
//   local load = min(100, 100 × usable weight in the zone / weight in the zone × overprovisioningFactor)
// percent of the tier's calls, and the tier's other zones take the rest. With the default
// factor 1.4, a zone that has lost up to 28 % of its weight keeps every call; one that lost half
// keeps 70 % and overflows 30 %. Envoy's own zone-aware routing also weighs where the clients
// are (the share of the source cluster in each zone); a client here knows only its own zone,
// so the zone's usable capacity decides alone.
import type { EndpointController } from './endpoint-controller.js';

type Entry = { item: EndpointController; weight: number };

export interface ZoneSplit {
  /** The tier's entries re-weighted: those in the zone share `localLoad` of the tier's calls, the others the rest. */
  readonly entries: Entry[];
  /**
   * Usable endpoints of other zones that take no calls while the zone keeps them all: where a
   * retry goes that must avoid every endpoint of the zone (a standby tier of the same priority).
   */
  readonly outside: Entry[];
  /** The share of the tier's calls that stays in the zone, 0–100. */
  readonly localLoad: number;
}

/**
 * How the calls of a tier whose usable endpoints are `entries` (its endpoints: `members`) split
 * between the client's `zone` and the rest. Undefined — the tier as without zones — when the
 * tier has no endpoint in the zone, or nothing outside it to overflow to.
 */
export function splitByZone(
  members: readonly EndpointController[],
  entries: readonly Entry[],
  zone: string,
  factor: number,
): ZoneSplit | undefined {
  let weight = 0;
  let usableWeight = 0;
  for (const endpoint of members) {
    if (endpoint.config.labels?.zone !== zone || !(endpoint.config.weight > 0)) continue;
    weight += endpoint.config.weight;
    if (endpoint.usable) usableWeight += endpoint.config.weight;
  }
  if (weight === 0) return undefined;
  const local = entries.filter((entry) => entry.item.config.labels?.zone === zone);
  const other = entries.filter((entry) => entry.item.config.labels?.zone !== zone);
  if (other.length === 0) return undefined;
  // Rounded, so 50 % usable × 1.4 is 70 and a split of whole weights stays exact per round.
  const localLoad = local.length === 0 ? 0 : Math.min(100, Math.round(100_000 * (usableWeight / weight) * factor) / 1000);
  if (localLoad === 0) return { entries: other, outside: [], localLoad };
  if (localLoad === 100) return { entries: local, outside: other, localLoad };
  return { entries: [...scaled(local, localLoad), ...scaled(other, 100 - localLoad)], outside: [], localLoad };
}

/** `entries` with their weights scaled to sum to `total`, each keeping its share of them. */
function scaled(entries: readonly Entry[], total: number): Entry[] {
  const sum = entries.reduce((s, entry) => s + entry.weight, 0);
  return entries.map(({ item, weight }) => ({ item, weight: (weight * total) / sum }));
}
