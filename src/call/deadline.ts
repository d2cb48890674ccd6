// Deadline arithmetic shared by the client layers, the server layers and handlers that call
// further: a call's deadline is an absolute time (epoch ms), Infinity when there is none.
import * as z from 'zod/mini';
import { systemClock, type Clock } from '../clock.js';
import { resolveWith } from '../schema/validate.js';

/** The deadline of grpc-js call options or of an incoming call, as epoch ms (Infinity = none). */
export function deadlineMs(deadline: Date | number | undefined): number {
  if (deadline === undefined) return Infinity;
  return deadline instanceof Date ? deadline.getTime() : deadline;
}

export interface PropagationOptions {
  /** Time kept back for the caller to receive and handle the answer, in ms. Default 5. */
  marginMs?: number;
}

export const PROPAGATION_DEFAULTS = Object.freeze({ marginMs: 5 });

const propagationSchema = z.strictObject({
  marginMs: z._default(z.number().check(z.minimum(0), z.maximum(60_000)), PROPAGATION_DEFAULTS.marginMs),
});

export function resolvePropagationOptions(options: PropagationOptions = {}) {
  return resolveWith(propagationSchema, options, 'propagation options');
}

/**
 * The deadline for an outgoing call made while handling `incoming`: its remaining time minus
 * a safety margin, so ServiceA → ServiceB never outlives the call that caused it. Pass it as
 * the outgoing call's `deadline`; if the budget is already spent, the deadline layer fails
 * the call at once without sending it.
 *
 * @example
 *   handler(call, callback) {
 *     backendB.GetOrder(req, { deadline: propagateDeadline(call) }, callback);
 *   }
 */
export function propagateDeadline(incoming: { getDeadline(): Date | number }, options: PropagationOptions = {}): number {
  const { marginMs } = resolvePropagationOptions(options);
  // A spent budget yields a deadline in the past, which the deadline layer fails at once.
  return deadlineMs(incoming.getDeadline()) - marginMs;
}

/**
 * Time left before the incoming call's deadline, in ms (Infinity without one, 0 once spent).
 * Pass `propagateDeadline(call)` on outgoing calls so they end with it.
 *
 * @example
 *   if (remainingBudget(call) < 50) return callback({ code: status.DEADLINE_EXCEEDED, details: 'no time left' });
 */
export function remainingBudget(call: { getDeadline(): Date | number }, clock: Clock = systemClock): number {
  return Math.max(0, deadlineMs(call.getDeadline()) - clock.now());
}
