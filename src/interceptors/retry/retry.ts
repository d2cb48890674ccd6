import * as z from 'zod/mini';
import { IDEMPOTENCY_KEY_HEADER } from '../../call/wire.js';
import { systemClock, timerQueue, type Clock } from '../../clock.js';
import { resolveWith } from '../../schema/validate.js';
import { methodTable } from '../../schema/bounds.js';
import { Signal, type Disposer } from '../../observability/signal.js';
import type { ClientCall, ClientLayer, MethodInfo } from '../types.js';
import { safeToRepeat } from './outcome.js';
import { RETRY_BUDGET_DEFAULTS, RetryBudget, retryBudgetConfigSchema, type RetryBudgetOptions } from './budget.js';
import type { RetryContext, RetryEvent } from './context.js';
import { RETRY_POLICY_DEFAULTS, retryPolicyFields, retryPolicyLookup, retryPolicySchema, type RetryPolicy } from './policy.js';
import { RetryingCall } from './retrying-call.js';
import { HEDGE_LIMIT_DEFAULTS, HedgeLimit, hedgeLimitConfigSchema, type HedgeLimitOptions } from './hedge-limit.js';
import { withSend } from '../send.js';

export type { RetryEvent } from './context.js';

export interface RetryOptions extends RetryPolicy {
  /** Per service or method overrides, e.g. { "orders.v1.OrderService/GetOrder": { idempotent: true } }. */
  methods?: Readonly<Record<string, RetryPolicy>>;
  /** A call carrying this metadata key is safe to repeat. Default "idempotency-key". */
  idempotencyKeyHeader?: string;
  /**
   * Retry budget shared by every call through this layer (one per client). Pass options, a
   * RetryBudget to share one wider, or false to turn budgeting off. Default on with
   * RETRY_BUDGET_DEFAULTS.
   */
  budget?: RetryBudget | RetryBudgetOptions | false;
  /**
   * How many hedges may be in flight at once, as Envoy's retry budget bounds retries: at most
   * `percent` % of the calls in flight through this layer, and never fewer than `min`. A hedge
   * held back goes a hedge delay later if the call still waits. False: no bound but the
   * budget's. Default { percent: 10, min: 3 }.
   */
  hedgeLimit?: HedgeLimitOptions | false;
  /** Source of the backoff jitter. Default Math.random. */
  random?: () => number;
  clock?: Clock;
  /**
   * The channel's picker is the mesh's: attempts carry routing hints (endpoints to avoid;
   * where an attempt went), and an attempt still waiting for an endpoint is neither hedged nor
   * cut. `mesh.client()` turns it on; elsewhere no private header is ever sent. Default false.
   */
  routingHints?: boolean;
  /** Called as each attempt starts, retries and hedges included (the stack's metrics layer counts them). Default: none. */
  onAttempt?: (method: MethodInfo) => void;
}

export const RETRY_DEFAULTS = Object.freeze({
  ...RETRY_POLICY_DEFAULTS,
  idempotencyKeyHeader: IDEMPOTENCY_KEY_HEADER,
  budget: RETRY_BUDGET_DEFAULTS,
  hedgeLimit: HEDGE_LIMIT_DEFAULTS,
});

/** The retry section as a config file writes it: everything but the budget object, random and clock. */
export const retryConfigSchema = z.strictObject({
  ...retryPolicyFields,
  methods: z.optional(methodTable(retryPolicySchema)),
  idempotencyKeyHeader: z.optional(z.string().check(z.minLength(1))),
  budget: z.optional(z.union([z.literal(false), retryBudgetConfigSchema])),
  hedgeLimit: z.optional(z.union([z.literal(false), hedgeLimitConfigSchema])),
});

const retryOptionsSchema = z.strictObject({
  ...retryConfigSchema.shape,
  budget: z.optional(
    z.union([z.literal(false), z.instanceof(RetryBudget), z.custom<RetryBudgetOptions>((v) => typeof v === 'object' && v !== null)]),
  ),
  random: z.optional(z.custom<() => number>((v) => typeof v === 'function')),
  clock: z.optional(z.custom<Clock>()),
  routingHints: z._default(z.boolean(), false),
  onAttempt: z.optional(z.custom<(method: MethodInfo) => void>((v) => typeof v === 'function')),
});

/**
 * Validates retry options and fills in the defaults: a per-method policy lookup, the shared
 * budget (undefined when off), the jitter source and the clock. Throws a ConfigError naming
 * the field and the value.
 */
export function resolveRetryOptions(options: RetryOptions = {}) {
  const { methods, idempotencyKeyHeader, budget, hedgeLimit, random, clock, routingHints, onAttempt, ...base } = resolveWith(
    retryOptionsSchema,
    options,
    'retry options',
  );
  const resolvedClock = clock ?? systemClock;
  return Object.freeze({
    policyFor: retryPolicyLookup(base, methods, 'retry options'),
    idempotencyKeyHeader: idempotencyKeyHeader ?? RETRY_DEFAULTS.idempotencyKeyHeader,
    budget: budget === false ? undefined : budget instanceof RetryBudget ? budget : new RetryBudget({ clock: resolvedClock, ...budget }),
    hedgeLimit: hedgeLimit === false ? undefined : new HedgeLimit({ ...HEDGE_LIMIT_DEFAULTS, ...hedgeLimit }),
    random: random ?? Math.random,
    clock: resolvedClock,
    routingHints,
    onAttempt,
  });
}

export type RetryLayer = ClientLayer & {
  /**
   * Fires as each retry or hedge is decided: a hedge, or a retry that goes at once, just
   * before it is sent; a retry that waits (backoff, the server's pushback) as its wait begins,
   * `delayMs` saying how long. A retry that waits is not sent if the call ends meanwhile (the
   * caller cancels, a hedge answers). One event per retry or hedge, even when several failures
   * led to it.
   */
  onRetry(listener: (event: RetryEvent) => void): Disposer;
  readonly budget: RetryBudget | undefined;
  /** The hedges in flight against their bound (RetryOptions.hedgeLimit); undefined when off. */
  readonly hedgeLimit: HedgeLimit | undefined;
  /**
   * Whether `call` may be sent again after it may have reached a server: its method (or its
   * route's retry) is idempotent, or it carries an idempotency key.
   */
  readonly safeToRepeat: (call: ClientCall) => boolean;
};

/**
 * Retries failed attempts with full-jitter backoff, within a per-client budget, and only
 * when a repeat is safe; hedges the methods configured for it. Each attempt gets its own
 * timeout (perAttemptTimeoutMs) and a routing hint with the endpoints already tried, so the
 * mesh picker sends it elsewhere.
 *
 * @example
 *   retryLayer({ maxAttempts: 3, perAttemptTimeoutMs: 200,
 *     methods: { 'orders.v1.OrderService/GetOrder': { idempotent: true, hedging: { delayMs: 50 } } } })
 */
export function retryLayer(options: RetryOptions = {}): RetryLayer {
  const { policyFor, idempotencyKeyHeader, budget, hedgeLimit, random, clock, routingHints, onAttempt } = resolveRetryOptions(options);
  const retried = new Signal<RetryEvent>();

  // Everything in a call's context but its policy is the layer's: one context per policy.
  const contexts = new WeakMap<object, RetryContext>();
  const timers = timerQueue(clock);
  const contextFor = (policy: RetryContext['policy']): RetryContext => {
    let context = contexts.get(policy);
    if (context === undefined)
      contexts.set(
        policy,
        (context = {
          policy,
          budget,
          hedgeLimit,
          idempotencyKeyHeader,
          random,
          clock,
          timers,
          retried,
          routingHints,
          onAttempt,
          hedgeDelays: new Map(),
        }),
      );
    return context;
  };

  // A routed call's policy is its route's retry merged over the method's (route.ts).
  const policyOf = (call: ClientCall) => policyFor(call.method, call.route?.route.config.retry);

  const layer: ClientLayer = withSend(
    (next) => (call) => {
      const context = contextFor(policyOf(call));
      budget?.recordRequest();
      return RetryingCall.start(next, call, context, context.clock.now());
    },
    (next) => (call, done) => {
      const context = contextFor(policyOf(call));
      budget?.recordRequest();
      // One read of the clock for the call's start: its hedge delay, its first attempt and timer.
      RetryingCall.send(next, call, context, done, context.clock.now());
    },
  );
  return Object.assign(layer, {
    onRetry: (listener: (event: RetryEvent) => void) => retried.subscribe(listener),
    budget,
    hedgeLimit,
    safeToRepeat: (call: ClientCall) => safeToRepeat(call, policyOf(call), idempotencyKeyHeader),
  });
}
