import { experimental } from '@grpc/grpc-js';
import { takeRoutingHint, type ReceivedHint } from '../call/routing-hint.js';
import type { EndpointController } from './endpoint-controller.js';
import { SmoothWeightedScheduler } from './scheduler.js';

export interface PickerTier {
  readonly priority: number;
  readonly scheduler: SmoothWeightedScheduler<EndpointController>;
}

/**
 * The picker snapshot: tiers by priority, each with a smooth weighted scheduler over its
 * usable endpoints, and a scheduler that spreads calls over the tiers by their load. A
 * probing endpoint gets exactly one call first. A client layer's routing hint is taken out of
 * the metadata: the endpoints it names are skipped while another one is usable, and the pick
 * is reported back to it.
 */
export class WeightedPriorityPicker implements experimental.Picker {
  readonly #tiers: SmoothWeightedScheduler<PickerTier>;
  readonly #byPriority: readonly PickerTier[];
  readonly #probing: readonly EndpointController[];

  constructor(tiers: ReadonlyArray<{ tier: PickerTier; load: number }>, probing: readonly EndpointController[]) {
    this.#tiers = new SmoothWeightedScheduler(tiers.map(({ tier, load }) => ({ item: tier, weight: load })));
    this.#byPriority = tiers.map(({ tier }) => tier);
    this.#probing = probing;
  }

  pick(args: experimental.PickArgs): experimental.PickResult {
    const hint = takeRoutingHint(args.metadata);
    const chosen = this.#choose(hint);
    if (!chosen) {
      // Only probing endpoints are left and their probe is out: wait for the next picker.
      return { pickResultType: experimental.PickResultType.QUEUE, subchannel: null, status: null, onCallStarted: null, onCallEnded: null };
    }
    hint?.report(chosen.endpoint.address);
    return chosen.endpoint.pick(args, chosen.probe);
  }

  #choose(hint: ReceivedHint | undefined): { endpoint: EndpointController; probe: boolean } | undefined {
    for (const endpoint of this.#probing) {
      if (!hint?.avoids(endpoint.address) && endpoint.ejection.claimProbe()) return { endpoint, probe: true };
    }
    const skip = hint && ((endpoint: EndpointController) => hint.avoids(endpoint.address));
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
  credits(): Map<EndpointController, number> {
    const credits = new Map<EndpointController, number>();
    for (const tier of this.#byPriority) for (const [endpoint, credit] of tier.scheduler.credits()) credits.set(endpoint, credit);
    return credits;
  }
}
