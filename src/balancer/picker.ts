import { experimental } from '@grpc/grpc-js';
import { AVOID_HEADER } from '../interceptors/adapter.js';
import { ATTEMPT_HEADER, reportPick } from '../interceptors/attempt-picks.js';
import type { EndpointState } from './endpoint-state.js';
import { SmoothWeightedScheduler } from './scheduler.js';

export interface PickerTier {
  readonly priority: number;
  readonly scheduler: SmoothWeightedScheduler<EndpointState>;
}

/**
 * The picker snapshot: tiers by priority, each with a smooth weighted scheduler over its
 * usable endpoints, and a scheduler that spreads calls over the tiers by their load. A
 * probing endpoint gets exactly one call first. The retry layer's avoid-hint is read and
 * stripped from the metadata, and the endpoints it names are skipped while another one is
 * usable.
 */
export class WeightedPriorityPicker implements experimental.Picker {
  readonly #tiers: SmoothWeightedScheduler<PickerTier>;
  readonly #byPriority: readonly PickerTier[];
  readonly #probing: readonly EndpointState[];

  constructor(tiers: ReadonlyArray<{ tier: PickerTier; load: number }>, probing: readonly EndpointState[]) {
    this.#tiers = new SmoothWeightedScheduler(tiers.map(({ tier, load }) => ({ item: tier, weight: load })));
    this.#byPriority = tiers.map(({ tier }) => tier);
    this.#probing = probing;
  }

  pick(args: experimental.PickArgs): experimental.PickResult {
    const avoid = readHeader(args, AVOID_HEADER);
    const attempt = readHeader(args, ATTEMPT_HEADER);
    const chosen = this.#choose(avoid ? new Set(avoid.split(',')) : undefined);
    if (!chosen) {
      // Only probing endpoints are left and their probe is out: wait for the next picker.
      return { pickResultType: experimental.PickResultType.QUEUE, subchannel: null, status: null, onCallStarted: null, onCallEnded: null };
    }
    if (attempt !== undefined) reportPick(attempt, chosen.endpoint.address);
    return chosen.endpoint.pick(args, chosen.probe);
  }

  #choose(avoid: Set<string> | undefined): { endpoint: EndpointState; probe: boolean } | undefined {
    for (const endpoint of this.#probing) {
      if (!avoid?.has(endpoint.address) && endpoint.ejection.claimProbe()) return { endpoint, probe: true };
    }
    const skip = avoid && ((endpoint: EndpointState) => avoid.has(endpoint.address));
    const tier = this.#tiers.pick();
    let endpoint = tier?.scheduler.pick(skip);
    if (!endpoint && skip) {
      // Every endpoint of the chosen tier is to be avoided: try the others, then give in.
      for (const other of this.#byPriority) {
        endpoint = other.scheduler.pick(skip);
        if (endpoint) break;
      }
      endpoint ??= tier?.scheduler.pick();
    }
    return endpoint && { endpoint, probe: false };
  }

  /** Scheduler credit per endpoint, carried into the next picker so the sequence continues. */
  credits(): Map<EndpointState, number> {
    const credits = new Map<EndpointState, number>();
    for (const tier of this.#byPriority) for (const [endpoint, credit] of tier.scheduler.credits()) credits.set(endpoint, credit);
    return credits;
  }
}

/** Reads one of our private headers and removes it, so it never goes on the wire. */
function readHeader(args: experimental.PickArgs, key: string): string | undefined {
  const values = args.metadata.get(key);
  if (values.length === 0) return undefined;
  args.metadata.remove(key);
  return values.map(String).join(',');
}
