import { status as Status } from '@grpc/grpc-js';
import { LRUCache } from 'lru-cache';
import * as z from 'zod/mini';
import { systemClock, type Clock } from '../clock.js';
import { resolveWith } from '../schema/validate.js';
import { DAY, count, durationMs, methodName } from '../schema/bounds.js';
import { statusCodeSchema, type StatusName } from '../call/status.js';
import { IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER } from '../call/wire.js';
import type { ServerCall, ServerLayer, ServerResult } from './types.js';

export interface IdempotencyOptions {
  /** Metadata key that carries the idempotency key. Default "idempotency-key". */
  header?: string;
  /**
   * How long a response is remembered, in ms. Keep it at least as long as the longest
   * client deadline (retries included), so no retry can outlive the memory. Default 60000.
   */
  ttlMs?: number;
  /** Most keys remembered at once (least recently used go first). Default 10000. */
  maxEntries?: number;
  /** Longest key accepted; longer (or empty) keys are refused with INVALID_ARGUMENT. Default 128. */
  maxKeyLength?: number;
  /** Unary methods (or services) it applies to. Default: every unary method. */
  methods?: readonly string[];
  /**
   * Outcomes remembered and replayed. Transient failures (UNAVAILABLE, DEADLINE_EXCEEDED,
   * RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNKNOWN, CANCELLED) are not: a retry must run again.
   * Default: OK, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED,
   * FAILED_PRECONDITION, OUT_OF_RANGE, UNIMPLEMENTED, UNAUTHENTICATED.
   */
  rememberCodes?: Array<StatusName | number>;
  clock?: Clock;
}

const DEFAULT_REMEMBERED: readonly StatusName[] = [
  'OK',
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'FAILED_PRECONDITION',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'UNAUTHENTICATED',
];

export const IDEMPOTENCY_DEFAULTS = Object.freeze({
  header: IDEMPOTENCY_KEY_HEADER,
  ttlMs: 60_000,
  maxEntries: 10_000,
  maxKeyLength: 128,
  rememberCodes: DEFAULT_REMEMBERED,
});

const idempotencySchema = z.strictObject({
  header: z._default(z.string().check(z.minLength(1)), IDEMPOTENCY_DEFAULTS.header),
  ttlMs: z._default(durationMs(1, DAY), IDEMPOTENCY_DEFAULTS.ttlMs),
  maxEntries: z._default(count(1, 10_000_000), IDEMPOTENCY_DEFAULTS.maxEntries),
  maxKeyLength: z._default(count(1, 4096), IDEMPOTENCY_DEFAULTS.maxKeyLength),
  methods: z.optional(z.array(methodName())),
  rememberCodes: z._default(
    z.array(statusCodeSchema),
    IDEMPOTENCY_DEFAULTS.rememberCodes.map((name) => Status[name]),
  ),
  clock: z.optional(z.custom<Clock>()),
});

export function resolveIdempotencyOptions(options: IdempotencyOptions = {}) {
  return resolveWith(idempotencySchema, options, 'idempotency options');
}

type Entry = { readonly running: Promise<ServerResult> } | { readonly result: ServerResult };

export type IdempotencyLayer = ServerLayer & {
  /** Keys remembered or running now. */
  readonly size: () => number;
  /** Calls answered with a remembered (or awaited) response so far. */
  readonly replays: () => number;
};

/**
 * Idempotency by key: the first call with a key runs; a repeat within the TTL gets the same
 * response replayed (with `idempotent-replayed: true` in its headers), and a duplicate that
 * arrives while the first still runs waits for the first's result instead of running twice.
 * Memory is bounded by an LRU with a TTL. This is what makes retries and hedges of
 * CreateOrder safe on one server — while the first caller waits: once it cancels, its key
 * is let go even if its handler runs on (an interceptor cannot tell a handler still working
 * from one that returned without answering), so a retry may run it again. A store shared by
 * replicas (a database constraint, in real life) carries the guarantee across servers and
 * across that.
 *
 * @example
 *   idempotencyLayer({ ttlMs: 120_000, methods: ['orders.v1.OrderService/CreateOrder'] })
 */
export function idempotencyLayer(options: IdempotencyOptions = {}): IdempotencyLayer {
  const resolved = resolveIdempotencyOptions(options);
  const clock = resolved.clock ?? systemClock;
  const remembered = new Set(resolved.rememberCodes);
  const methods = resolved.methods ? new Set(resolved.methods) : undefined;
  const cache = new LRUCache<string, Entry>({
    max: resolved.maxEntries,
    ttl: resolved.ttlMs,
    perf: { now: () => clock.now() },
    ttlResolution: 0,
  });

  const applies = (call: ServerCall) =>
    call.method.kind === 'unary' &&
    (!methods || methods.has(call.method.service) || methods.has(`${call.method.service}/${call.method.name}`));

  let replays = 0;
  const replay = (call: ServerCall, result: ServerResult): ServerResult => {
    replays++;
    call.responseHeaders.set(REPLAYED_HEADER, 'true');
    return result;
  };

  const layer: ServerLayer = (next) => async (call) => {
    if (!applies(call)) return next(call);
    const values = call.metadata.get(resolved.header);
    if (values.length === 0) return next(call);
    const key = values[0]!.toString();
    if (key.length === 0 || key.length > resolved.maxKeyLength) {
      return {
        status: {
          code: Status.INVALID_ARGUMENT,
          details: `${resolved.header} must be 1 to ${resolved.maxKeyLength} characters, got ${key.length}`,
        },
      };
    }
    const cacheKey = `${call.method.path}\u0000${key}`;
    const existing = cache.get(cacheKey);
    if (existing && 'result' in existing) return replay(call, existing.result);
    if (existing) {
      const result = await waitFor(existing.running, call.signal);
      return result
        ? replay(call, result)
        : { status: { code: Status.CANCELLED, details: 'cancelled while waiting for the first call with this key' } };
    }
    // Running entries never expire: a duplicate must find them however long the first takes.
    const running = next(call).then((result) => {
      if (remembered.has(result.status.code)) cache.set(cacheKey, { result });
      else cache.delete(cacheKey);
      return result;
    });
    cache.set(cacheKey, { running }, { ttl: 0 });
    return running;
  };
  return Object.assign(layer, { size: () => cache.size, replays: () => replays });
}

function waitFor(running: Promise<ServerResult>, signal: AbortSignal): Promise<ServerResult | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    void running.then((result) => {
      signal.removeEventListener('abort', onAbort);
      resolve(result);
    });
  });
}
