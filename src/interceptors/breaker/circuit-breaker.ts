import { status as Status } from '@grpc/grpc-js';
import * as z from 'zod/mini';
import type { MethodInfo } from '../../call/method.js';
import { makeStatus, statusCodeSchema, type StatusName } from '../../call/status.js';
import { systemClock, type Clock } from '../../clock.js';
import { resolveWith } from '../../schema/validate.js';
import { HOUR, count, durationMs, percent } from '../../schema/bounds.js';
import { logBreakerChanges } from '../../observability/event-log.js';
import { silentLogger, type Logger } from '../../observability/logger.js';
import { Signal, type Disposer } from '../../observability/signal.js';
import { BREAKER_OPEN, withCallInfo } from '../call-info.js';
import { failedResult, layerFailure } from '../call.js';
import { toNext, withGuard, withSend } from '../send.js';
import type { ClientCall, ClientLayer, ClientNext, ClientResult } from '../types.js';
import { Breaker, type BreakerSettings, type BreakerState } from './breaker.js';

export type { BreakerState } from './breaker.js';

export interface CircuitBreakerOptions {
  /** Which calls share a breaker. Default: one per service+method, keyed "orders.v1.OrderService/GetOrder". */
  key?: (method: MethodInfo) => string;
  /**
   * Codes that mean "the dependency is unhealthy" and count as failures. Anything else
   * (NOT_FOUND, INVALID_ARGUMENT, ...) counts as a success. Default UNAVAILABLE,
   * DEADLINE_EXCEEDED, INTERNAL, UNKNOWN, RESOURCE_EXHAUSTED.
   */
  failureCodes?: Array<StatusName | number>;
  /** Calls the window must hold before the breaker may open. Default 10. */
  volumeThreshold?: number;
  /** Failure percentage above which it opens. Default 50 (opossum). */
  errorThresholdPercentage?: number;
  /** Length of the rolling window, in ms. Default 10000. */
  rollingWindowMs?: number;
  /** Buckets the window is divided into. Default 10. */
  rollingBuckets?: number;
  /** Time open before one probe call is let through (half-open), in ms. Default 30000 (opossum). */
  resetTimeoutMs?: number;
  /** Answer for calls refused while open; without one they fail UNAVAILABLE. */
  fallback?: (call: ClientCall) => ClientResult | Promise<ClientResult>;
  /**
   * Subscribes the breaker to news that the dependency is back, from something that knows
   * before the breaker's reset timer does (the mesh passes "an endpoint of this service came
   * back into rotation"). Every open or half-open breaker closes when `recovered` is called.
   * The breaker calls the returned disposer when it is closed itself. Default: none.
   */
  recoveredWhen?: (recovered: (reason: string) => void) => Disposer;
  logger?: Logger;
  clock?: Clock;
}

export const CIRCUIT_BREAKER_DEFAULTS = Object.freeze({
  failureCodes: ['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'INTERNAL', 'UNKNOWN', 'RESOURCE_EXHAUSTED'] as StatusName[],
  volumeThreshold: 10,
  errorThresholdPercentage: 50,
  rollingWindowMs: 10_000,
  rollingBuckets: 10,
  resetTimeoutMs: 30_000,
});

const breakerFields = {
  failureCodes: z._default(
    z.array(statusCodeSchema),
    CIRCUIT_BREAKER_DEFAULTS.failureCodes.map((n) => Status[n]),
  ),
  volumeThreshold: z._default(count(0, 1_000_000), CIRCUIT_BREAKER_DEFAULTS.volumeThreshold),
  errorThresholdPercentage: z._default(percent(), CIRCUIT_BREAKER_DEFAULTS.errorThresholdPercentage),
  rollingWindowMs: z._default(count(100, HOUR), CIRCUIT_BREAKER_DEFAULTS.rollingWindowMs),
  rollingBuckets: z._default(count(1, 1000), CIRCUIT_BREAKER_DEFAULTS.rollingBuckets),
  resetTimeoutMs: z._default(durationMs(10, HOUR), CIRCUIT_BREAKER_DEFAULTS.resetTimeoutMs),
};

const windowInBuckets = (o: { rollingWindowMs: number; rollingBuckets: number }) => o.rollingWindowMs % o.rollingBuckets === 0;
const windowInBucketsIssue = { message: 'rollingWindowMs must be a multiple of rollingBuckets', path: ['rollingWindowMs'] };

/** The breaker section as a config file writes it: every option that is not a function. */
export const breakerConfigSchema = z.strictObject(breakerFields).check(z.refine(windowInBuckets, windowInBucketsIssue));

const breakerSchema = z
  .strictObject({
    ...breakerFields,
    key: z.optional(z.custom<(method: MethodInfo) => string>((v) => typeof v === 'function')),
    fallback: z.optional(z.custom<CircuitBreakerOptions['fallback']>((v) => typeof v === 'function')),
    recoveredWhen: z.optional(z.custom<CircuitBreakerOptions['recoveredWhen']>((v) => typeof v === 'function')),
    logger: z.optional(z.custom<Logger>()),
    clock: z.optional(z.custom<Clock>()),
  })
  .check(z.refine(windowInBuckets, windowInBucketsIssue));

export function resolveCircuitBreakerOptions(options: CircuitBreakerOptions = {}) {
  return resolveWith(breakerSchema, options, 'circuit breaker options');
}

export interface BreakerStateChange {
  readonly key: string;
  readonly state: BreakerState;
  readonly previous: BreakerState;
}

export interface BreakerSnapshot {
  readonly state: BreakerState;
  /** Calls it judged, failures among them and calls it refused while open: over its rolling window (`windowMs`). */
  readonly calls: number;
  readonly failures: number;
  /** Calls refused in the rolling window (opossum's count). */
  readonly rejected: number;
  /** The rolling window `calls`, `failures` and `rejected` count over (rollingWindowMs), ms. */
  readonly windowMs: number;
  /** Times it opened since it was made (a total, not over the window). */
  readonly opened: number;
  /** Calls refused since it was made (what `meshlite.client.breaker.refused` counts). */
  readonly refused: number;
}

export type CircuitBreakerLayer = ClientLayer & {
  onStateChange(listener: (change: BreakerStateChange) => void): Disposer;
  /** State of the breaker for `key` ("closed" when it has never been used). */
  state(key: string): BreakerState;
  snapshot(): Readonly<Record<string, BreakerSnapshot>>;
  /**
   * Closes every open or half-open breaker at once, without waiting for `resetTimeoutMs`:
   * for when something outside the breaker knows the dependency is back. A dependency still
   * failing opens it again after `volumeThreshold` calls. Returns the keys it closed.
   */
  reset(reason: string): string[];
  /** Stops the breakers' window timers and the `recoveredWhen` subscription. */
  close(): void;
};

/**
 * A circuit breaker per service+method, built on opossum. Only failures that mean the
 * dependency is unhealthy count. While open, calls fail at once with UNAVAILABLE (or get
 * the fallback) without touching the network; after `resetTimeoutMs` one probe goes through
 * and its result closes or re-opens the circuit. A call with `waitForReady` is never refused:
 * it asked to wait for the dependency rather than fail fast.
 *
 * @example
 *   const breaker = circuitBreakerLayer({ volumeThreshold: 20, resetTimeoutMs: 5000 });
 *   breaker.onStateChange(({ key, state }) => console.log(key, state));
 */
export function circuitBreakerLayer(options: CircuitBreakerOptions = {}): CircuitBreakerLayer {
  const resolved = resolveCircuitBreakerOptions(options);
  const keyOf = resolved.key ?? ((method: MethodInfo) => `${method.service}/${method.name}`);
  const failureCodes = new Set(resolved.failureCodes);
  const logger = resolved.logger ?? silentLogger;
  const clock = resolved.clock ?? systemClock;
  const changed = new Signal<BreakerStateChange>();
  const breakers = new Map<string, Breaker<[ClientCall, ClientNext], ClientResult>>();

  logBreakerChanges({ onStateChange: (listener) => changed.subscribe(listener) }, logger);

  const breakerFor = (key: string) => {
    let breaker = breakers.get(key);
    if (!breaker) {
      const action = {
        run: (call: ClientCall, next: ClientNext) => next(call),
        isFailure: (result: ClientResult) => failureCodes.has(result.status.code),
        refused: (call: ClientCall) => (resolved.fallback ? resolved.fallback(call) : refusal(key, breaker!, resolved, clock)),
      };
      breaker = new Breaker(key, resolved, action, clock, (state, previous) => changed.emit({ key, state, previous }));
      breakers.set(key, breaker);
    }
    return breaker;
  };

  const reset = (reason: string): string[] => {
    const closed: string[] = [];
    for (const [key, breaker] of breakers) {
      if (breaker.state === 'closed') continue;
      logger.info({ breaker: key, reason }, 'circuit breaker reset');
      breaker.close();
      closed.push(key);
    }
    return closed;
  };
  const stopListening = resolved.recoveredWhen?.((reason) => reset(reason));

  // MethodInfo objects live as long as the client, so the key is worked out once per method.
  const keys = new WeakMap<MethodInfo, string>();
  const breakerOf = (call: ClientCall) => {
    let key = keys.get(call.method);
    if (key === undefined) keys.set(call.method, (key = keyOf(call.method)));
    return breakerFor(key);
  };
  // A call that waits for ready asked not to fail fast: while the breaker refuses, it goes
  // through uncounted, and waits for an endpoint like it would without the breaker.
  const waits = (breaker: Breaker<[ClientCall, ClientNext], ClientResult>, call: ClientCall) =>
    breaker.state !== 'closed' && call.metadata.getOptions().waitForReady === true;

  const layer: ClientLayer = withSend(
    (next) => (call) => {
      const breaker = breakerOf(call);
      return waits(breaker, call) ? next(call) : breaker.fire(call, next);
    },
    (next) => {
      // The promise form of `next`, for the calls that go through opossum's fire (not closed).
      const nextPromise = toNext(next);
      return (call, done) => {
        const breaker = breakerOf(call);
        if (waits(breaker, call)) return next(call, done);
        if (breaker.sendClosed(COUNTED_ONLY, next, call, done, layerFailure)) return;
        const settle = done;
        breaker.fire(call, nextPromise).then(settle, (error: unknown) => settle(layerFailure(error)));
      };
    },
  );

  // The grpc-js adapter runs the closed breaker itself, keeping the breaker on its call object
  // instead of a continuation per call; any other state goes through the callback form above.
  const guarded = withGuard(layer, {
    admit: (call) => {
      const breaker = breakerOf(call);
      return breaker.admitClosed(COUNTED_ONLY) ? breaker : undefined;
    },
    ended: (breaker, result) => breaker.countClosed(COUNTED_ONLY, result, layerFailure),
    thrown: (breaker, error) => breaker.thrownClosed(error),
  });

  return Object.assign(guarded, {
    onStateChange: (listener: (change: BreakerStateChange) => void) => changed.subscribe(listener),
    state: (key: string) => breakers.get(key)?.state ?? 'closed',
    snapshot: () =>
      Object.fromEntries(
        [...breakers].map(([key, breaker]) => {
          const { successes, failures, rejects } = breaker.stats;
          return [
            key,
            {
              state: breaker.state,
              calls: successes + failures,
              failures,
              rejected: rejects,
              windowMs: resolved.rollingWindowMs,
              opened: breaker.opened,
              refused: breaker.refused,
            },
          ];
        }),
      ),
    reset,
    close: () => {
      stopListening?.();
      for (const breaker of breakers.values()) breaker.shutdown();
      breakers.clear();
    },
  });
}

/** The status of a call the open breaker refused, saying why and when it will probe. */
/**
 * The arguments a closed breaker's events carry on the callback path: opossum's listeners only
 * count the events (its Status), and no listener of ours reads them, so no array per call.
 */
const COUNTED_ONLY = Object.freeze([]) as unknown as [ClientCall, ClientNext];

function refusal(
  key: string,
  breaker: Pick<Breaker<[ClientCall, ClientNext], ClientResult>, 'stats' | 'openedAt' | 'state'>,
  settings: BreakerSettings,
  clock: Clock,
): ClientResult {
  const { failures, successes } = breaker.stats;
  const probeIn = Math.max(0, breaker.openedAt + settings.resetTimeoutMs - clock.now());
  const why =
    breaker.state === 'half-open'
      ? 'a probe call is in flight'
      : `${failures} of ${failures + successes} calls failed in the last ${settings.rollingWindowMs / 1000} s; next probe in ${Math.ceil(probeIn)} ms`;
  // Readable by a program (meshCallInfo), not only in the details: no attempt, and why.
  return failedResult(withCallInfo(makeStatus(Status.UNAVAILABLE, `${BREAKER_OPEN} for ${key}: ${why}; not sent`), [], BREAKER_OPEN));
}
