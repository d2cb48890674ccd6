// The route layer: which of its service's routes a call takes, matched once per call, and what
// the route changes for the layers below (deadline, retry, each attempt's destination and
// fault); a share of the calls is mirrored from here.
import * as z from 'zod/mini';
import { IDEMPOTENCY_KEY_HEADER } from '../../call/wire.js';
import { systemClock, type Clock } from '../../clock.js';
import { resolveWith } from '../../schema/validate.js';
import { deriveCall } from '../call.js';
import { withPrelude, withSend } from '../send.js';
import type { CallRoute, ClientCall, ClientLayer, MatchedRoute, MethodInfo, RouteMatcher } from '../types.js';
import { MIRROR_TIMEOUT_MS, Mirrors, type MirrorSnapshot } from './mirror.js';

export interface RouteOptions {
  /**
   * The routes in force, read on every call: `mesh.clientStack()` passes its service's current
   * route table, so a config reload changes the routes of clients made before it at once.
   * Undefined (or a service without routes): calls go on unrouted. Required.
   */
  routes: () => RouteMatcher | undefined;
  /**
   * Whether a call may be sent twice, which a mirror does: the retry layer's view (the
   * method's or route's `idempotent`, or an idempotency key). Default: only a call carrying an
   * `idempotency-key` header.
   */
  safeToRepeat?: (call: ClientCall) => boolean;
  /**
   * The client's configured timeout of a method's calls (the deadline layer's), in ms: a
   * mirror runs to the deadline its call runs to. Default: none.
   */
  timeoutFor?: (method: MethodInfo) => number | undefined;
  clock?: Clock;
}

const routeOptionsSchema = z.strictObject({
  routes: z.custom<() => RouteMatcher | undefined>((v) => typeof v === 'function', 'must be a function'),
  safeToRepeat: z.optional(z.custom<(call: ClientCall) => boolean>((v) => typeof v === 'function', 'must be a function')),
  timeoutFor: z.optional(z.custom<(method: MethodInfo) => number | undefined>((v) => typeof v === 'function', 'must be a function')),
  clock: z.optional(z.custom<Clock>()),
});

export function resolveRouteOptions(options: RouteOptions) {
  const resolved = resolveWith(routeOptionsSchema, options, 'route options');
  return Object.freeze({
    routes: resolved.routes,
    safeToRepeat: resolved.safeToRepeat ?? ((call: ClientCall) => call.metadata.get(IDEMPOTENCY_KEY_HEADER).length > 0),
    timeoutFor: resolved.timeoutFor ?? (() => undefined),
    clock: resolved.clock ?? systemClock,
  });
}

export type RouteLayer = ClientLayer & {
  /** What the stack's mirrors did: in flight, sent, dropped at the bound, not safe to send, failed. */
  mirrors(): MirrorSnapshot;
};

/**
 * Matches each call to its service's routes (first match wins) and carries the route on the
 * call (`call.route`) for the layers below: the deadline layer takes the route's `timeoutMs`
 * in place of the client's, the retry layer merges its `retry` over the method's policy, and
 * the destination layer sends each attempt to the route's split and injects its fault. A share
 * of the route's calls is mirrored, unawaited, to its mirror subset. A call no route matches
 * goes on as it came.
 *
 * @example
 *   // mesh.clientStack() builds it from the service's routes; by hand, any matcher will do:
 *   const canary = { name: 'canary', config: { fallback: 'none' }, chooseSubset: () => 'v2' } as const;
 *   routeLayer({ routes: () => ({ match: (_path, metadata) => (metadata.get('x-canary').length > 0 ? canary : undefined) }) })
 */
export function routeLayer(options: RouteOptions): RouteLayer {
  const { routes, safeToRepeat, timeoutFor, clock } = resolveRouteOptions(options);
  const mirrors = new Mirrors(safeToRepeat, (call, callerDeadline) => {
    const now = clock.now();
    const timeoutMs = call.route?.route.config.timeoutMs ?? timeoutFor(call.method);
    const bounded = timeoutMs === undefined ? callerDeadline : Math.min(callerDeadline, now + timeoutMs);
    const deadline = bounded === Infinity ? now + MIRROR_TIMEOUT_MS : bounded;
    return deadline > now ? deadline : undefined;
  });
  const layer: ClientLayer = withSend(
    (next) => (call) => {
      const matched = routes()?.match(call.method.path, call.metadata);
      if (matched === undefined) return next(call);
      const routed = deriveCall(call, { route: new RoutedCall(matched) });
      const result = next(routed);
      // After the call itself has gone on: the copy never goes ahead of the original.
      if (matched.config.mirror !== undefined) mirrors.maybeSend(routed, matched);
      return result;
    },
    (next) => (call, done) => {
      const matched = routes()?.match(call.method.path, call.metadata);
      if (matched === undefined) return next(call, done);
      const routed = deriveCall(call, { route: new RoutedCall(matched) });
      next(routed, done);
      if (matched.config.mirror !== undefined) mirrors.maybeSend(routed, matched);
    },
  );
  // The grpc-js adapter has the route set in the call it makes: no copy of the call. The
  // route keeps what the mirror needs of the call as this layer saw it (another route layer
  // under this one would set the call's route again: the adapter takes only the first).
  const prelude = withPrelude(layer, {
    sets: 'route',
    ready: (call) => {
      const matched = routes()?.match(call.method.path, call.metadata);
      if (matched !== undefined) call.route = new RoutedCall(matched, call.deadline);
      return undefined;
    },
    sent: (call) => {
      const routed = call.route;
      if (routed instanceof RoutedCall && routed.route.config.mirror !== undefined)
        mirrors.maybeSend(call, routed.route, routed.deadlineIn);
    },
  });
  return Object.assign(prelude, { mirrors: () => mirrors.snapshot() });
}

/**
 * One call's route: the split per attempt, and the subsets on which the route's fault failed
 * an earlier attempt. Those stand for broken subsets: the next attempts go to another
 * destination (the heaviest left) and meet no fault there, so a retry hides a fault the way
 * it hides a subset that fails while another serves. With one destination (or none: the whole
 * service) there is nowhere else, and every attempt meets the fault.
 */
class RoutedCall implements CallRoute {
  readonly route: MatchedRoute;
  /** The call's deadline as the route layer saw it (what bounds its mirror). */
  readonly deadlineIn: number | undefined;
  #faulted: string[] | undefined;

  constructor(route: MatchedRoute, deadlineIn?: number) {
    this.route = route;
    this.deadlineIn = deadlineIn;
  }

  nextSubset(): string | undefined {
    const chosen = this.route.chooseSubset();
    const faulted = this.#faulted;
    if (faulted === undefined || chosen === undefined || !faulted.includes(chosen)) return chosen;
    let other: { readonly subset: string; readonly weight: number } | undefined;
    for (const destination of this.route.config.destinations ?? []) {
      if (destination.weight > 0 && !faulted.includes(destination.subset) && destination.weight > (other?.weight ?? 0)) other = destination;
    }
    return other?.subset ?? chosen;
  }

  meetsFault(subset: string | undefined): boolean {
    const faulted = this.#faulted;
    return faulted === undefined || subset === undefined || faulted.includes(subset);
  }

  faulted(subset: string | undefined): void {
    if (subset !== undefined && !this.#faulted?.includes(subset)) (this.#faulted ??= []).push(subset);
  }
}

/**
 * Where a client- or bidi-streaming call of `path` goes under `routes` (such calls pass the
 * layers by, their requests cannot be replayed: they take a route's destination only, never
 * its timeout, retry, fault or mirror), for the adapter to put in the call's hint.
 */
export function streamDestination(routes: () => RouteMatcher | undefined) {
  return (path: string, metadata: ClientCall['metadata']) => {
    const route = routes()?.match(path, metadata);
    return route && { route: route.name, subset: route.chooseSubset(), fallback: route.config.fallback };
  };
}
