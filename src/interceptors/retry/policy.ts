import { status as Status } from '@grpc/grpc-js';
import * as z from 'zod/mini';
import type { MethodInfo } from '../../call/method.js';
import { statusCodeSchema, type StatusName } from '../../call/status.js';
import { resolveWith } from '../../schema/validate.js';
import { DAY, count, durationMs } from '../../schema/bounds.js';
import { methodLookup } from '../../call/method-table.js';
import { ADAPTIVE_HEDGING_DEFAULTS, type AdaptiveHedging } from './hedge-delay.js';
import { BACKOFF_DEFAULTS, backoffSchema, type BackoffOptions, type ResolvedBackoff } from './backoff.js';

/** How one method is retried. Every field has a default; config may set any of them per method. */
export interface RetryPolicy {
  /**
   * Attempts in all, the first one included: 3 means one call and up to two retries.
   * (grpc-js and nice-grpc count differently; this is the gRPC A6 meaning.) Default 3.
   */
  maxAttempts?: number;
  /** Full-jitter exponential backoff. Default base 25 ms, cap 250 ms, ×2. */
  backoff?: BackoffOptions;
  /** Status codes worth another attempt, by name or number. Default ["UNAVAILABLE"]. */
  retryableCodes?: Array<StatusName | number>;
  /**
   * Deadline of each attempt, in ms. Its expiry is retried while the whole call's deadline
   * still has time: this is what gets a call off a hung backend. Default: none.
   */
  perAttemptTimeoutMs?: number;
  /**
   * The method has no side effect a repeat could duplicate (reads, or writes keyed by an
   * idempotency key the server honours). Only idempotent calls are retried after they may
   * have reached the server. Default false.
   */
  idempotent?: boolean;
  /**
   * Hedging for idempotent unary methods: another attempt after `delayMs` if none has
   * answered; the first success wins, the rest are cancelled. `maxAttempts` bounds the
   * attempts in all, failed ones included; default the method's own `maxAttempts` (at least
   * 2). `adaptive` (on by default): when the method's answers over the last `windowMs` (10 s)
   * were slower than `delayMs` at their `percentile` (99), the hedge waits that long instead
   * (up to the per-attempt timeout), so a busy but healthy service is not hedged on every
   * slow-ish call; `false` keeps the delay fixed, as gRPC A6 has it. Off by default.
   */
  hedging?: { delayMs: number; maxAttempts?: number; adaptive?: false | { percentile?: number; windowMs?: number } };
}

export interface ResolvedRetryPolicy {
  readonly maxAttempts: number;
  readonly backoff: ResolvedBackoff;
  readonly retryableCodes: ReadonlySet<number>;
  readonly perAttemptTimeoutMs: number | undefined;
  readonly idempotent: boolean;
  readonly hedging: { readonly delayMs: number; readonly maxAttempts: number; readonly adaptive: AdaptiveHedging | undefined } | undefined;
}

export const RETRY_POLICY_DEFAULTS = Object.freeze({
  maxAttempts: 3,
  backoff: BACKOFF_DEFAULTS,
  retryableCodes: ['UNAVAILABLE'] as StatusName[],
  idempotent: false,
});

/** Field checks shared by the options and every per-method entry (no defaults here). */
export const retryPolicyFields = {
  maxAttempts: z.optional(count(1, 10)),
  backoff: z.optional(backoffSchema),
  retryableCodes: z.optional(z.array(statusCodeSchema)),
  perAttemptTimeoutMs: z.optional(durationMs(1, DAY)),
  idempotent: z.optional(z.boolean()),
  hedging: z.optional(
    z.strictObject({
      delayMs: durationMs(0, DAY),
      maxAttempts: z.optional(count(2, 10)),
      adaptive: z.optional(
        z.union([
          z.literal(false),
          z.strictObject({
            percentile: z.optional(z.number().check(z.minimum(50), z.maximum(99.9))),
            windowMs: z.optional(durationMs(1000, DAY)),
          }),
        ]),
      ),
    }),
  ),
};

export const retryPolicySchema = z.strictObject(retryPolicyFields);
type PolicyInput = z.output<typeof retryPolicySchema>;

export function resolveRetryPolicy(policy: RetryPolicy = {}): ResolvedRetryPolicy {
  return finish([resolveWith(retryPolicySchema, policy, 'retry policy')]);
}

/** Merges policy layers (least specific first) over the defaults. */
function finish(layers: readonly PolicyInput[]): ResolvedRetryPolicy {
  const merged: PolicyInput = Object.assign({}, ...layers.map(withoutUndefined));
  return Object.freeze({
    maxAttempts: merged.maxAttempts ?? RETRY_POLICY_DEFAULTS.maxAttempts,
    backoff: Object.freeze({ ...BACKOFF_DEFAULTS, ...merged.backoff }),
    retryableCodes: new Set(merged.retryableCodes ?? [Status.UNAVAILABLE]),
    perAttemptTimeoutMs: merged.perAttemptTimeoutMs,
    idempotent: merged.idempotent ?? RETRY_POLICY_DEFAULTS.idempotent,
    // One number for "attempts in all" unless hedging sets its own: a method written with
    // `maxAttempts: 3` and hedging gets three attempts, as its author expects.
    hedging: merged.hedging
      ? Object.freeze({
          delayMs: merged.hedging.delayMs,
          maxAttempts: merged.hedging.maxAttempts ?? Math.max(2, merged.maxAttempts ?? RETRY_POLICY_DEFAULTS.maxAttempts),
          adaptive:
            merged.hedging.adaptive === false
              ? undefined
              : Object.freeze({
                  percentile: merged.hedging.adaptive?.percentile ?? ADAPTIVE_HEDGING_DEFAULTS.percentile,
                  windowMs: merged.hedging.adaptive?.windowMs ?? ADAPTIVE_HEDGING_DEFAULTS.windowMs,
                }),
        })
      : undefined,
  });
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * A method's policy, and a route's policy merged over it: `over` is a route's `retry`
 * (validated once, then cached by the object it came in, which a config reload replaces).
 */
export type RetryPolicyLookup = (method: MethodInfo, over?: RetryPolicy) => ResolvedRetryPolicy;

/**
 * Validates a base policy plus per-method overrides and returns the per-call lookup
 * (cached by method path, and by route for a route's override).
 */
export function retryPolicyLookup(
  base: RetryPolicy,
  methods: Readonly<Record<string, RetryPolicy>> | undefined,
  what: string,
): RetryPolicyLookup {
  const resolvedBase = resolveWith(retryPolicySchema, base, what);
  const table = Object.fromEntries(
    Object.entries(methods ?? {}).map(([key, value]) => [key, resolveWith(retryPolicySchema, value, `${what}: methods["${key}"]`)]),
  );
  const policyFor = methodLookup<PolicyInput, ResolvedRetryPolicy>(table, finish([resolvedBase]), (_fallback, specific) =>
    finish([resolvedBase, ...specific]),
  );
  const layersFor = methodLookup<PolicyInput, readonly PolicyInput[]>(table, [resolvedBase], (_fallback, specific) => [
    resolvedBase,
    ...specific,
  ]);
  // Keyed by the route's own retry object: entries go with the config version they came from.
  const routed = new WeakMap<RetryPolicy, { readonly over: PolicyInput; readonly byPath: Map<string, ResolvedRetryPolicy> }>();
  return (method, over) => {
    if (over === undefined) return policyFor(method);
    let entry = routed.get(over);
    if (entry === undefined)
      routed.set(over, (entry = { over: resolveWith(retryPolicySchema, over, `${what}: a route's retry`), byPath: new Map() }));
    let policy = entry.byPath.get(method.path);
    if (policy === undefined) entry.byPath.set(method.path, (policy = finish([...layersFor(method), entry.over])));
    return policy;
  };
}
