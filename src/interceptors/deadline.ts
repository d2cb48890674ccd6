import { status as Status } from '@grpc/grpc-js';
import * as z from 'zod/mini';
import { makeStatus } from '../call/status.js';
import { systemClock, type Clock } from '../clock.js';
import { resolveWith } from '../schema/validate.js';
import { DAY, durationMs, methodTable } from '../schema/bounds.js';
import { failedResult, withDeadline } from './call.js';
import { methodLookup } from '../call/method-table.js';
import { soon, withPrelude, withSend } from './send.js';
import type { ClientCall, ClientLayer, ClientResult, MethodInfo } from './types.js';

export interface DeadlineOptions {
  /**
   * Timeout for calls that do not bring a tighter deadline, in ms, like the gRPC service
   * config's `timeout`: `T_max = T_now + T_timeout`. Default: none.
   */
  timeoutMs?: number;
  /** Per service or method, e.g. { "orders.v1.OrderService/GetOrder": 300 }. The most specific wins. Default: none. */
  methods?: Readonly<Record<string, number>>;
  clock?: Clock;
}

export const DEADLINE_DEFAULTS = Object.freeze({ methods: Object.freeze({}) as Readonly<Record<string, number>> });

/** 1 ms to a day. */
const timeout = durationMs(1, DAY);
const deadlineFields = {
  timeoutMs: z.optional(timeout),
  methods: z._default(methodTable(timeout), DEADLINE_DEFAULTS.methods),
};

/** The deadline section as a config file writes it. */
export const deadlineConfigSchema = z.strictObject(deadlineFields);

const deadlineSchema = z.strictObject({ ...deadlineFields, clock: z.optional(z.custom<Clock>()) });

export function resolveDeadlineOptions(options: DeadlineOptions = {}) {
  return resolveWith(deadlineSchema, options, 'deadline options');
}

/** The configured timeout of a method's calls (the most specific entry, else `timeoutMs`), in ms; undefined: none. */
export function configuredTimeouts(options: DeadlineOptions = {}): (method: MethodInfo) => number | undefined {
  const { methods, timeoutMs } = resolveDeadlineOptions(options);
  return methodLookup<number, number | undefined>(methods, timeoutMs, (fallback, specific) =>
    specific.length > 0 ? specific.at(-1) : fallback,
  );
}

/**
 * Gives every call a deadline: the caller's, or `now + timeout` from config when that is
 * sooner (for a call that took a route with a `timeoutMs`, the route's in place of the
 * client's). A caller's deadline is never extended. A call whose deadline has already passed
 * fails at once with DEADLINE_EXCEEDED and never touches the network.
 *
 * @example
 *   deadlineLayer({ timeoutMs: 1000, methods: { 'orders.v1.OrderService/GetOrder': 250 } })
 */
export function deadlineLayer(options: DeadlineOptions = {}): ClientLayer {
  const resolved = resolveDeadlineOptions(options);
  const clock = resolved.clock ?? systemClock;
  const timeoutFor = configuredTimeouts(resolved);
  // The deadline a call gets, or its failure when that has passed already.
  const bound = (call: ClientCall): number | ClientResult => {
    const now = clock.now();
    // A route's own timeout replaces the client's for the calls that take it.
    const configured = call.route?.route.config.timeoutMs ?? timeoutFor(call.method);
    const deadline = configured === undefined ? call.deadline : Math.min(call.deadline, now + configured);
    if (deadline > now) return deadline;
    const late = Math.round(now - deadline);
    return failedResult(
      makeStatus(Status.DEADLINE_EXCEEDED, `deadline exceeded before the call started (${late} ms past its deadline); not sent`),
    );
  };
  const layer = withSend(
    (next) => (call) => {
      const deadline = bound(call);
      if (typeof deadline !== 'number') return Promise.resolve(deadline);
      return deadline === call.deadline ? next(call) : next(withDeadline(call, deadline));
    },
    (next) => (call, done) => {
      const deadline = bound(call);
      if (typeof deadline !== 'number') return soon(() => done(deadline));
      next(deadline === call.deadline ? call : withDeadline(call, deadline), done);
    },
  );
  // The grpc-js adapter has the deadline set in the call it makes: no copy of the call.
  return withPrelude(layer, {
    sets: 'deadline',
    ready: (call) => {
      const deadline = bound(call);
      if (typeof deadline !== 'number') return deadline;
      call.deadline = deadline;
      return undefined;
    },
  });
}
