import { status as Status } from '@grpc/grpc-js';
import type { ServerSurfaceCall } from '@grpc/grpc-js/build/src/server-call.js';
import { z } from 'zod';
import { systemClock, type Clock } from '../clock.js';
import { resolveWith } from '../config/validate.js';
import { makeStatus } from '../status.js';
import { deadlineMs, failedResponse } from './adapter.js';
import { methodLookup } from './method-table.js';
import { deriveRequest } from './request.js';
import type { Interceptor } from './types.js';

export interface DeadlineOptions {
  /**
   * Timeout for calls that do not bring a tighter deadline, in ms, like the gRPC service
   * config's `timeout`: `T_max = T_now + T_timeout`. Default: none.
   */
  timeoutMs?: number;
  /** Per service or method, e.g. { "orders.v1.OrderService/GetOrder": 300 }. The most specific wins. */
  methods?: Readonly<Record<string, number>>;
  clock?: Clock;
}

const timeout = z.number().finite().positive();
const deadlineSchema = z.strictObject({
  timeoutMs: timeout.optional(),
  methods: z.record(z.string(), timeout).optional(),
  clock: z.custom<Clock>().optional(),
});

export function resolveDeadlineOptions(options: DeadlineOptions = {}) {
  return resolveWith(deadlineSchema, options, 'deadline options');
}

/**
 * Gives every call a deadline: the caller's, or `now + timeout` from config when that is
 * sooner. A caller's deadline is never extended. A call whose deadline has already passed
 * fails at once with DEADLINE_EXCEEDED and never touches the network.
 *
 * @example
 *   deadlineInterceptor({ timeoutMs: 1000, methods: { 'orders.v1.OrderService/GetOrder': 250 } })
 */
export function deadlineInterceptor(options: DeadlineOptions = {}): Interceptor {
  const resolved = resolveDeadlineOptions(options);
  const clock = resolved.clock ?? systemClock;
  const timeoutFor = methodLookup<number, number | undefined>(resolved.methods, resolved.timeoutMs, (fallback, specific) =>
    specific.length > 0 ? specific.at(-1) : fallback,
  );
  return (next) => (request) => {
    const now = clock.now();
    const configured = timeoutFor(request.method);
    const deadline = configured === undefined ? request.deadline : Math.min(request.deadline, now + configured);
    if (deadline <= now) {
      const late = Math.round(now - deadline);
      return Promise.resolve(
        failedResponse(
          makeStatus(
            Status.DEADLINE_EXCEEDED,
            `deadline exceeded before the call started (${late} ms past its deadline); not sent`,
          ),
        ),
      );
    }
    return deadline === request.deadline ? next(request) : next(deriveRequest(request, { deadline }));
  };
}

const propagationSchema = z.strictObject({ marginMs: z.number().finite().min(0).default(5) });

export interface PropagationOptions {
  /** Time kept back for the caller to receive and handle the answer, in ms. Default 5. */
  marginMs?: number;
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
export function propagateDeadline(incoming: Pick<ServerSurfaceCall, 'getDeadline'>, options: PropagationOptions = {}): number {
  const { marginMs } = resolveWith(propagationSchema, options, 'propagation options');
  // A spent budget yields a deadline in the past, which the deadline layer fails at once.
  return deadlineMs(incoming.getDeadline()) - marginMs;
}
