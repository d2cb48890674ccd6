import { Metadata, status as Status } from '@grpc/grpc-js';
import * as z from 'zod/mini';
import { PUSHBACK_HEADER } from '../call/wire.js';
import { resolveWith } from '../schema/validate.js';
import { MINUTE, count, methodTable, serviceName } from '../schema/bounds.js';
import { FixedLimit, VegasLimit, type ConcurrencyLimit, type Permit } from './concurrency-limit.js';
import type { ServerLayer } from './types.js';

export interface LoadSheddingOptions {
  /** Calls the server runs at once; more are refused with RESOURCE_EXHAUSTED. Default 256. */
  maxConcurrent?: number;
  /** Tighter limits for single methods or services, e.g. { "orders.v1.OrderService/CreateOrder": 32 }. */
  methods?: Readonly<Record<string, number>>;
  /**
   * Make the server-wide limit adaptive (Vegas): it starts at `maxConcurrent` and moves
   * between `minLimit` and `maxLimit` with observed latency. Default off (fixed limit).
   */
  adaptive?: { minLimit?: number; maxLimit?: number };
  /** The `grpc-retry-pushback-ms` sent with a refusal, so clients wait instead of piling on. Default 50. */
  pushbackMs?: number;
  /** Services never shed (their calls are long-lived or must always answer). Default grpc.health.v1.Health. */
  exempt?: readonly string[];
  /** Name used in refusal messages, e.g. "ServiceA". */
  serverName?: string;
}

export const LOAD_SHEDDING_DEFAULTS = Object.freeze({
  maxConcurrent: 256,
  /** Used when `adaptive` is on. */
  adaptive: Object.freeze({ minLimit: 8 }),
  pushbackMs: 50,
  exempt: Object.freeze(['grpc.health.v1.Health']),
  serverName: 'server',
});

const limit = count(1, 1_000_000);
const sheddingSchema = z
  .strictObject({
    maxConcurrent: z._default(limit, LOAD_SHEDDING_DEFAULTS.maxConcurrent),
    methods: z._default(methodTable(limit, { wildcard: false }), {}),
    adaptive: z.optional(
      z.strictObject({ minLimit: z._default(limit, LOAD_SHEDDING_DEFAULTS.adaptive.minLimit), maxLimit: z.optional(limit) }),
    ),
    pushbackMs: z._default(count(0, MINUTE), LOAD_SHEDDING_DEFAULTS.pushbackMs),
    exempt: z._default(z.array(serviceName()), [...LOAD_SHEDDING_DEFAULTS.exempt]),
    serverName: z._default(z.string(), LOAD_SHEDDING_DEFAULTS.serverName),
  })
  .check(
    z.refine((o) => !o.adaptive || o.adaptive.minLimit <= (o.adaptive.maxLimit ?? Infinity), {
      message: 'adaptive.minLimit must not exceed adaptive.maxLimit',
      path: ['adaptive', 'minLimit'],
    }),
  );

export function resolveLoadSheddingOptions(options: LoadSheddingOptions = {}) {
  return resolveWith(sheddingSchema, options, 'load shedding options');
}

export type LoadSheddingLayer = ServerLayer & {
  /** The server-wide limit and what runs under it now. */
  readonly limit: ConcurrencyLimit;
  /** Calls refused so far. */
  readonly shed: () => number;
};

/**
 * Load shedding: a concurrency limit per server (fixed, or adaptive à la TCP Vegas) plus
 * optional tighter limits per method. Over a limit a call is refused at once with
 * RESOURCE_EXHAUSTED and a `grpc-retry-pushback-ms` hint, so clients back off instead of
 * piling on; the handler never runs.
 *
 * @example
 *   loadSheddingLayer({ maxConcurrent: 64, methods: { 'orders.v1.OrderService/CreateOrder': 16 } })
 */
export function loadSheddingLayer(options: LoadSheddingOptions = {}): LoadSheddingLayer {
  const resolved = resolveLoadSheddingOptions(options);
  const server: ConcurrencyLimit = resolved.adaptive
    ? new VegasLimit({
        initialLimit: resolved.maxConcurrent,
        minLimit: resolved.adaptive.minLimit,
        maxLimit: resolved.adaptive.maxLimit ?? resolved.maxConcurrent * 4,
      })
    : new FixedLimit(resolved.maxConcurrent);
  const perMethod = new Map(Object.entries(resolved.methods).map(([key, max]) => [key, new FixedLimit(max)]));
  const exempt = new Set(resolved.exempt);
  let shed = 0;

  const refuse = (what: string, held: ConcurrencyLimit) => {
    shed++;
    const trailers = new Metadata();
    trailers.set(PUSHBACK_HEADER, String(resolved.pushbackMs));
    return Promise.resolve({
      status: {
        code: Status.RESOURCE_EXHAUSTED,
        details: `${resolved.serverName} is over its ${what} concurrency limit (${held.inFlight} in flight, limit ${held.limit}); retry after ${resolved.pushbackMs} ms`,
        metadata: trailers,
      },
    });
  };

  const layer: ServerLayer = (next) => async (call) => {
    if (exempt.has(call.method.service)) return next(call);
    const methodLimit = perMethod.get(`${call.method.service}/${call.method.name}`) ?? perMethod.get(call.method.service);
    const permits: Permit[] = [];
    const serverPermit = server.acquire();
    if (!serverPermit) return refuse('server', server);
    permits.push(serverPermit);
    if (methodLimit) {
      const methodPermit = methodLimit.acquire();
      if (!methodPermit) {
        serverPermit.release(0);
        return refuse(`${call.method.name}`, methodLimit);
      }
      permits.push(methodPermit);
    }
    const started = performance.now();
    try {
      const result = await next(call);
      const dropped = result.status.code === Status.RESOURCE_EXHAUSTED;
      for (const permit of permits) permit.release(performance.now() - started, dropped);
      return result;
    } catch (error) {
      for (const permit of permits) permit.release(performance.now() - started, true);
      throw error;
    }
  };
  return Object.assign(layer, { limit: server, shed: () => shed });
}
