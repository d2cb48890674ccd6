// The per-attempt half of routing, under the retry engine: each attempt of a routed call goes
// to a subset of its route's split, written into the attempt's routing hint for the mesh's
// picker, and meets the route's fault.
import * as z from 'zod/mini';
import { RoutingHint } from '../../call/routing-hint.js';
import { systemClock, type Clock } from '../../clock.js';
import { resolveWith } from '../../schema/validate.js';
import { deriveCall } from '../call.js';
import { fromNext, toNext, withSend } from '../send.js';
import type { ClientCall, ClientDone, ClientLayer } from '../types.js';
import { withFault } from './fault.js';

export interface DestinationOptions {
  /** Source of the fault percentages, uniform in [0, 1). Default Math.random; tests seed it. */
  random?: () => number;
  /** The clock a fault's delay runs on. Default: the system clock. */
  clock?: Clock;
}

const destinationOptionsSchema = z.strictObject({
  random: z.optional(z.custom<() => number>((v) => typeof v === 'function', 'must be a function')),
  clock: z.optional(z.custom<Clock>()),
});

export function resolveDestinationOptions(options: DestinationOptions = {}) {
  const resolved = resolveWith(destinationOptionsSchema, options, 'destination options');
  return Object.freeze({ random: resolved.random ?? Math.random, clock: resolved.clock ?? systemClock });
}

/**
 * Sends each attempt of a routed call (`call.route`, set by the route layer) to the subset its
 * route's split chooses for it — another destination than one the route's fault failed an
 * earlier attempt on, while there is one, where the fault does not follow it — by way of the
 * attempt's routing hint, then applies the route's fault (fault.ts). The retry engine gives a routed attempt a hint; without one
 * (no retry layer) the attempt gets its own. An unrouted attempt goes on untouched.
 *
 * @example
 *   composeLayers(routeLayer({ routes }), retryLayer({ routingHints: true }), destinationLayer({ random }))
 */
export function destinationLayer(options: DestinationOptions = {}): ClientLayer {
  const { random, clock } = resolveDestinationOptions(options);
  // Where an attempt goes: undefined for an unrouted one (it goes on untouched), else the
  // attempt with its destination in its hint, and the hint the layer made for it (to free).
  const route = (call: ClientCall) => {
    const routed = call.route;
    if (routed === undefined) return undefined;
    const { name, config } = routed.route;
    const subset = routed.nextSubset();
    const own = call.hint === undefined ? RoutingHint.create() : undefined;
    const attempt = own === undefined ? call : deriveCall(call, { hint: own });
    attempt.hint!.routeTo({ route: name, subset, fallback: config.fallback });
    const { fault } = config;
    return { attempt, own, fault: fault === undefined || !routed.meetsFault(subset) ? undefined : { fault, subset } };
  };
  return withSend(
    (next) => (call) => {
      const routed = route(call);
      if (routed === undefined) return next(call);
      const { attempt, own, fault } = routed;
      const result = fault === undefined ? next(attempt) : withFault(next, attempt, fault.subset, fault.fault, random, clock);
      return own === undefined ? result : result.finally(() => own.release());
    },
    (next) => {
      // A fault's delay and abort run on the promise form (a route with a fault is a test's).
      const nextPromise = toNext(next);
      return (call, done) => {
        const routed = route(call);
        if (routed === undefined) return next(call, done);
        const { attempt, own, fault } = routed;
        const finish: ClientDone =
          own === undefined
            ? done
            : (result) => {
                own.release();
                done(result);
              };
        if (fault === undefined) return next(attempt, finish);
        fromNext((faulted: ClientCall) => withFault(nextPromise, faulted, fault.subset, fault.fault, random, clock))(attempt, finish);
      };
    },
  );
}
