import { status as Status } from '@grpc/grpc-js';
import CircuitBreaker from 'opossum';
import { z } from 'zod';
import { systemClock, type Clock } from '../clock.js';
import { resolveWith } from '../config/validate.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { Signal, type Disposer } from '../observability/signal.js';
import { makeStatus, statusCodeSchema, type StatusName } from '../status.js';
import { failedResponse } from './adapter.js';
import type { Interceptor, MeshRequest, MeshResponse, MethodInfo, Next } from './types.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

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
  fallback?: (request: MeshRequest) => MeshResponse | Promise<MeshResponse>;
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

const breakerSchema = z
  .strictObject({
    key: z.custom<(method: MethodInfo) => string>((v) => typeof v === 'function').optional(),
    failureCodes: z.array(statusCodeSchema).default(CIRCUIT_BREAKER_DEFAULTS.failureCodes.map((n) => Status[n])),
    volumeThreshold: z.number().int().min(0).default(CIRCUIT_BREAKER_DEFAULTS.volumeThreshold),
    errorThresholdPercentage: z.number().finite().min(0).max(100).default(CIRCUIT_BREAKER_DEFAULTS.errorThresholdPercentage),
    rollingWindowMs: z.number().int().positive().default(CIRCUIT_BREAKER_DEFAULTS.rollingWindowMs),
    rollingBuckets: z.number().int().positive().default(CIRCUIT_BREAKER_DEFAULTS.rollingBuckets),
    resetTimeoutMs: z.number().finite().positive().default(CIRCUIT_BREAKER_DEFAULTS.resetTimeoutMs),
    fallback: z.custom<CircuitBreakerOptions['fallback']>((v) => typeof v === 'function').optional(),
    logger: z.custom<Logger>().optional(),
    clock: z.custom<Clock>().optional(),
  })
  .refine((o) => o.rollingWindowMs % o.rollingBuckets === 0, {
    message: 'rollingWindowMs must be a multiple of rollingBuckets',
    path: ['rollingWindowMs'],
  });

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
  readonly calls: number;
  readonly failures: number;
  readonly rejected: number;
}

export type CircuitBreakerInterceptor = Interceptor & {
  onStateChange(listener: (change: BreakerStateChange) => void): Disposer;
  /** State of the breaker for `key` ("closed" when it has never been used). */
  state(key: string): BreakerState;
  snapshot(): Readonly<Record<string, BreakerSnapshot>>;
  /**
   * Closes every open or half-open breaker at once, without waiting for `resetTimeoutMs`:
   * for when something outside the breaker knows the dependency is back (the mesh calls it
   * when an endpoint turns healthy). A dependency still failing opens it again after
   * `volumeThreshold` calls. Returns the keys it closed.
   */
  reset(reason: string): string[];
  /** Stops the breakers' window timers. */
  close(): void;
};

/** A failed call travels through opossum as this rejection and comes out as a status again. */
class CallFailed extends Error {
  constructor(readonly response: MeshResponse) {
    super(response.status.details);
  }
}

function failUnlessOk(response: MeshResponse): MeshResponse {
  if (response.status.code !== Status.OK) throw new CallFailed(response);
  return response;
}

interface Entry {
  readonly breaker: CircuitBreaker<[MeshRequest, Next], MeshResponse>;
  state: BreakerState;
  openedAt: number;
}

/**
 * A circuit breaker per service+method, built on opossum. Only failures that mean the
 * dependency is unhealthy count. While open, calls fail at once with UNAVAILABLE (or get
 * the fallback) without touching the network; after `resetTimeoutMs` one probe goes through
 * and its result closes or re-opens the circuit. opossum's own timeout is off: the gRPC
 * deadline is the only clock on a call.
 *
 * @example
 *   const breaker = circuitBreakerInterceptor({ volumeThreshold: 20, resetTimeoutMs: 5000 });
 *   breaker.onStateChange(({ key, state }) => console.log(key, state));
 */
export function circuitBreakerInterceptor(options: CircuitBreakerOptions = {}): CircuitBreakerInterceptor {
  const resolved = resolveCircuitBreakerOptions(options);
  const keyOf = resolved.key ?? ((method: MethodInfo) => `${method.service}/${method.name}`);
  const failureCodes = new Set(resolved.failureCodes);
  const logger = resolved.logger ?? silentLogger;
  const clock = resolved.clock ?? systemClock;
  const changed = new Signal<BreakerStateChange>();
  const entries = new Map<string, Entry>();

  changed.subscribe(({ key, state, previous }) => {
    const line = { breaker: key, state, previous };
    if (state === 'open') logger.warn(line, 'circuit breaker opened');
    else logger.info(line, state === 'closed' ? 'circuit breaker closed' : 'circuit breaker half-open: probing');
  });

  const entryFor = (key: string): Entry => {
    let entry = entries.get(key);
    if (entry) return entry;
    const breaker = new CircuitBreaker<[MeshRequest, Next], MeshResponse>(
      (request, next) => next(request).then(failUnlessOk),
      {
        name: key,
        timeout: false,
        volumeThreshold: resolved.volumeThreshold,
        errorThresholdPercentage: resolved.errorThresholdPercentage,
        rollingCountTimeout: resolved.rollingWindowMs,
        rollingCountBuckets: resolved.rollingBuckets,
        resetTimeout: resolved.resetTimeoutMs,
        // Latency percentiles would keep every call's latency in the window and sort them on
        // each failure; nothing here reads them.
        rollingPercentilesEnabled: false,
        // A filtered error counts as a success: only "dependency unhealthy" codes open it.
        errorFilter: (error: unknown) => !(error instanceof CallFailed && failureCodes.has(error.response.status.code)),
      },
    );
    const created: Entry = { breaker, state: 'closed', openedAt: 0 };
    const move = (state: BreakerState) => {
      const previous = created.state;
      created.state = state;
      if (state === 'open') created.openedAt = clock.now();
      if (previous !== state) changed.emit({ key, state, previous });
    };
    breaker.on('open', () => move('open'));
    breaker.on('halfOpen', () => move('half-open'));
    breaker.on('close', () => move('closed'));
    entries.set(key, created);
    return created;
  };

  const refuse = (request: MeshRequest, key: string, entry: Entry): Promise<MeshResponse> => {
    if (resolved.fallback) return Promise.resolve(resolved.fallback(request));
    const { failures, successes } = entry.breaker.stats;
    const probeIn = Math.max(0, entry.openedAt + resolved.resetTimeoutMs - clock.now());
    const why =
      entry.state === 'half-open'
        ? 'a probe call is in flight'
        : `${failures} of ${failures + successes} calls failed in the last ${resolved.rollingWindowMs / 1000} s; next probe in ${Math.ceil(probeIn)} ms`;
    return Promise.resolve(
      failedResponse(makeStatus(Status.UNAVAILABLE, `circuit breaker open for ${key}: ${why}; not sent`)),
    );
  };

  // MethodInfo objects live as long as the client, so the key is worked out once per method.
  const keys = new WeakMap<MethodInfo, string>();
  const interceptor: Interceptor = (next) => (request) => {
    let key = keys.get(request.method);
    if (key === undefined) keys.set(request.method, (key = keyOf(request.method)));
    const entry = entryFor(key);
    return entry.breaker.fire(request, next).catch((error: unknown) => {
      if (error instanceof CallFailed) return error.response;
      // opossum refused the call (open, or half-open with its probe already out).
      if (error instanceof Error && CircuitBreaker.isOurError(error)) return refuse(request, key, entry);
      // An inner layer broke its contract and threw: that is not the breaker's doing.
      throw error;
    });
  };

  return Object.assign(interceptor, {
    onStateChange: (listener: (change: BreakerStateChange) => void) => changed.subscribe(listener),
    state: (key: string) => entries.get(key)?.state ?? 'closed',
    snapshot: () =>
      Object.fromEntries(
        [...entries].map(([key, { breaker, state }]) => [
          key,
          {
            state,
            calls: breaker.stats.successes + breaker.stats.failures,
            failures: breaker.stats.failures,
            rejected: breaker.stats.rejects,
          },
        ]),
      ),
    reset: (reason: string) => {
      const closed: string[] = [];
      for (const [key, entry] of entries) {
        if (entry.state === 'closed') continue;
        logger.info({ breaker: key, reason }, 'circuit breaker reset');
        entry.breaker.close();
        closed.push(key);
      }
      return closed;
    },
    close: () => {
      for (const { breaker } of entries.values()) breaker.shutdown();
      entries.clear();
    },
  });
}
