import { experimental } from '@grpc/grpc-js';
import { takeRoutingHint, type ReceivedHint } from '../call/routing-hint.js';
import type { EndpointController, ProbeKind } from './endpoint-controller.js';
import { WeightedScheduler, type EndpointChooser } from './scheduler.js';

/** One method ejected from some endpoints: they are skipped for it, and one call probes each. */
export interface MethodRule {
  readonly excluded: ReadonlySet<EndpointController>;
  readonly probing: readonly EndpointController[];
}

/** The pick info key under which the mesh resolver's config selector names a call's method. */
export const METHOD_PICK_INFO = 'method';

export interface PickerTier {
  readonly priority: number;
  readonly scheduler: EndpointChooser<EndpointController>;
}

/**
 * The picker snapshot: tiers by priority, each with a smooth weighted scheduler over its
 * usable endpoints, and a scheduler that spreads calls over the tiers by their load. A
 * probing endpoint gets exactly one call first. A client layer's routing hint is taken out of
 * the metadata: the endpoints it names are skipped while another one is usable, and the pick
 * is reported back to it.
 */
export class WeightedPriorityPicker implements experimental.Picker {
  readonly #tiers: WeightedScheduler<PickerTier>;
  readonly #byPriority: readonly PickerTier[];
  readonly #standby: readonly PickerTier[];
  readonly #probing: readonly EndpointController[];
  readonly #methodRules: ReadonlyMap<string, MethodRule>;

  constructor(
    tiers: ReadonlyArray<{ tier: PickerTier; load: number }>,
    probing: readonly EndpointController[],
    methodRules: ReadonlyMap<string, MethodRule>,
    standby: readonly PickerTier[] = [],
  ) {
    this.#tiers = new WeightedScheduler(tiers.map(({ tier, load }) => ({ item: tier, weight: load })));
    this.#byPriority = tiers.map(({ tier }) => tier);
    this.#standby = standby;
    this.#probing = probing;
    this.#methodRules = methodRules;
  }

  pick(args: experimental.PickArgs): experimental.PickResult {
    return this.pickWith(args, takeRoutingHint(args.metadata));
  }

  /** A pick whose routing hint was taken already (the routing picker takes it once, then picks in a subset). */
  /** `mirror`: a mirror's copy, which claims no probe and whose outcome ejects nothing. */
  pickWith(args: experimental.PickArgs, hint: ReceivedHint | undefined, mirror = false): experimental.PickResult {
    const method: string | undefined = args.extraPickInfo[METHOD_PICK_INFO];
    const endpoint = this.#choose(
      hint,
      method === undefined || this.#methodRules.size === 0 ? undefined : this.#methodRules.get(method),
      method,
      mirror,
    );
    if (!endpoint) {
      // Only probing endpoints are left and their probe is out: wait for the next picker.
      return { pickResultType: experimental.PickResultType.QUEUE, subchannel: null, status: null, onCallStarted: null, onCallEnded: null };
    }
    hint?.report(endpoint.address);
    return endpoint.pick(args, this.#chosenProbe, method, mirror);
  }

  /** The probe the endpoint #choose returned claimed, if it did (a field: no object per pick). */
  #chosenProbe: ProbeKind = undefined;

  #choose(
    hint: ReceivedHint | undefined,
    rule: MethodRule | undefined,
    method: string | undefined,
    mirror: boolean,
  ): EndpointController | undefined {
    this.#chosenProbe = undefined;
    // A probe re-admits an endpoint on its answer: a mirror's copy must not be that call.
    if (!mirror) {
      for (const endpoint of this.#probing) {
        if (!hint?.avoids(endpoint.address) && endpoint.ejection.claimProbe()) {
          this.#chosenProbe = 'endpoint';
          return endpoint;
        }
      }
      if (rule) {
        for (const endpoint of rule.probing) {
          if (!hint?.avoids(endpoint.address) && endpoint.methods.claimProbe(method!)) {
            this.#chosenProbe = 'method';
            return endpoint;
          }
        }
      }
    }
    // A hint that avoids nothing (a first attempt's) skips nothing: no closure for it.
    const skip =
      hint?.avoidsAny || rule
        ? (endpoint: EndpointController) => (hint?.avoids(endpoint.address) ?? false) || (rule?.excluded.has(endpoint) ?? false)
        : undefined;
    const tier = this.#tiers.pick();
    let endpoint = tier?.scheduler.pick(skip);
    if (!endpoint && skip) {
      // Every endpoint of the chosen tier is to be avoided: try the other tiers, then those
      // that take no traffic yet (a retry after the whole active tier failed), then give in.
      for (const other of [...this.#byPriority, ...this.#standby]) {
        endpoint = other.scheduler.pick(skip);
        if (endpoint) break;
      }
      endpoint ??= tier?.scheduler.pick();
    }
    return endpoint;
  }

  /** Scheduler credit per endpoint, carried into the next picker so the sequence continues. */
  credits(): Map<EndpointController, number> {
    const credits = new Map<EndpointController, number>();
    for (const tier of this.#byPriority) for (const [endpoint, credit] of tier.scheduler.credits()) credits.set(endpoint, credit);
    return credits;
  }
}
