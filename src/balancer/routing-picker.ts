import { experimental, Metadata, status as Status } from '@grpc/grpc-js';
import { takeRoutingHint, type Fallback } from '../call/routing-hint.js';
import { METHOD_PICK_INFO, type WeightedPriorityPicker } from './picker.js';
import type { RouteStats } from './route-stats.js';
import type { RouteTable } from './routes.js';
import type { SubsetTarget } from './subsets.js';

/**
 * The picker of a service with routes or subsets: it takes the call's routing hint (once: that
 * removes the hint header), finds where the call goes — the destination the client's route
 * layer wrote in the hint, else the first route the call's method and metadata match, and the
 * subset that route's split chooses — and picks in that subset's own picker, honouring the
 * hint's avoid-list. No route, or a route without destinations: the whole service, as without
 * routes. A subset with nothing usable: calls wait while an endpoint of it is on its way; else
 * fallback "any" sends them to the whole service, "none" fails them with UNAVAILABLE naming the
 * route, the subset and why. A plain grpc-js client of a `mesh:///` target is routed too (by
 * method, header and split); faults, mirrors and per-route timeouts and retries need the mesh's
 * client stack.
 *
 * An immutable snapshot like every picker; the only state it writes is the routes' split
 * sequence and pick counters, which outlive it.
 */
export class RoutingPicker implements experimental.Picker {
  readonly #whole: WeightedPriorityPicker;
  readonly #subsets: ReadonlyMap<string, SubsetTarget>;
  readonly #table: RouteTable | undefined;
  readonly #stats: RouteStats | undefined;

  constructor(
    whole: WeightedPriorityPicker,
    subsets: ReadonlyMap<string, SubsetTarget>,
    table: RouteTable | undefined,
    stats: RouteStats | undefined,
  ) {
    this.#whole = whole;
    this.#subsets = subsets;
    this.#table = table;
    this.#stats = stats;
  }

  pick(args: experimental.PickArgs): experimental.PickResult {
    const hint = takeRoutingHint(args.metadata);
    const destination = hint?.destination();
    let route: string;
    let subset: string | undefined;
    let fallback: Fallback;
    if (destination !== undefined) {
      ({ route, subset, fallback } = destination);
    } else {
      const path: string | undefined = args.extraPickInfo[METHOD_PICK_INFO];
      const matched = this.#table?.match(path ?? '', args.metadata);
      if (matched === undefined) return this.#whole.pickWith(args, hint);
      route = matched.name;
      subset = matched.chooseSubset();
      fallback = matched.config.fallback;
    }
    const mirror = destination?.mirror === true;
    const target = subset === undefined ? undefined : this.#subsets.get(subset);
    if (subset === undefined || target?.picker !== undefined) {
      // A mirror's copy is none of the route's picks: the shares are the real calls'.
      if (!mirror) this.#stats?.count(route, subset, false);
      return (target?.picker ?? this.#whole).pickWith(args, hint, mirror);
    }
    // The subset has no usable endpoint (or, the config having moved on, is no subset at all).
    if (target?.waiting) return QUEUE;
    if (!mirror) this.#stats?.count(route, subset, true);
    if (fallback === 'any') return this.#whole.pickWith(args, hint);
    const why = target?.why ?? 'the config in force has no such subset';
    return {
      pickResultType: experimental.PickResultType.TRANSIENT_FAILURE,
      subchannel: null,
      status: {
        code: Status.UNAVAILABLE,
        details: `route "${route}": subset "${subset}" has no usable endpoint (${why})`,
        metadata: new Metadata(),
      },
      onCallStarted: null,
      onCallEnded: null,
    };
  }
}

/** Wait for the next picker: grpc-js tries a queued pick again with each one. */
const QUEUE: experimental.PickResult = Object.freeze({
  pickResultType: experimental.PickResultType.QUEUE,
  subchannel: null,
  status: null,
  onCallStarted: null,
  onCallEnded: null,
});
