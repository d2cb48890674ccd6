import type { Interceptor as GrpcInterceptor } from '@grpc/grpc-js';
import type { Logger } from '../observability/logger.js';
import { toGrpcInterceptor } from './adapter.js';
import { circuitBreakerInterceptor, type CircuitBreakerInterceptor, type CircuitBreakerOptions } from './circuit-breaker.js';
import { composeInterceptors } from './compose.js';
import { deadlineInterceptor, type DeadlineOptions } from './deadline.js';
import { loggingInterceptor, type LoggingOptions } from './logging.js';
import { retryInterceptor, type RetryInterceptor, type RetryOptions } from './retry.js';
import type { Interceptor } from './types.js';

/**
 * The documented order of the client layers, outermost first:
 * - logging sees the call as the caller does (final status, all attempts, total latency);
 * - deadline fixes the whole-call budget before anything else spends it;
 * - the circuit breaker judges whole calls (retries included) and refuses before any attempt;
 * - retry/hedge runs the attempts, each with its own deadline and avoid-hint.
 */
export const LAYER_ORDER = ['logging', 'deadline', 'circuit-breaker', 'retry'] as const;
export type LayerName = (typeof LAYER_ORDER)[number];

export interface ClientStackOptions {
  /** Shared by the logging and breaker layers. Default: no logs. */
  logger?: Logger;
  /** false leaves the layer out. */
  logging?: Omit<LoggingOptions, 'logger'> | false;
  deadline?: DeadlineOptions | false;
  breaker?: Omit<CircuitBreakerOptions, 'logger'> | false;
  retry?: RetryOptions | false;
}

export interface ClientLayer {
  readonly name: LayerName;
  readonly interceptor: Interceptor;
}

/** The enabled layers in LAYER_ORDER, each built from its options. */
export function meshLayers(options: ClientStackOptions = {}): ClientLayer[] {
  const { logger } = options;
  const layers: ClientLayer[] = [];
  if (options.logging !== false) layers.push({ name: 'logging', interceptor: loggingInterceptor({ logger, ...options.logging }) });
  if (options.deadline !== false) layers.push({ name: 'deadline', interceptor: deadlineInterceptor(options.deadline) });
  if (options.breaker !== false) {
    layers.push({ name: 'circuit-breaker', interceptor: circuitBreakerInterceptor({ logger, ...options.breaker }) });
  }
  if (options.retry !== false) layers.push({ name: 'retry', interceptor: retryInterceptor(options.retry) });
  return layers;
}

export interface ClientStack {
  /** Pass as `interceptors` in the grpc-js client options (call-level interceptors would replace it). */
  readonly interceptors: GrpcInterceptor[];
  readonly layers: readonly ClientLayer[];
  /** The retry layer, for its events and budget; undefined when left out. */
  readonly retry: RetryInterceptor | undefined;
  /** The breaker layer, for its events and states; undefined when left out. */
  readonly breaker: CircuitBreakerInterceptor | undefined;
  /** Stops the breakers' timers. */
  close(): void;
}

/**
 * The whole client side of the mesh as grpc-js interceptors, for any client on any target.
 *
 * @example
 *   const stack = createClientStack({
 *     logger,
 *     deadline: { timeoutMs: 1000 },
 *     retry: { maxAttempts: 3, perAttemptTimeoutMs: 250 },
 *     breaker: { resetTimeoutMs: 5000 },
 *   });
 *   const client = new OrderClient(target, credentials, { interceptors: stack.interceptors });
 */
export function createClientStack(options: ClientStackOptions = {}): ClientStack {
  const layers = meshLayers(options);
  const find = <T>(name: LayerName) => layers.find((layer) => layer.name === name)?.interceptor as T | undefined;
  const breaker = find<CircuitBreakerInterceptor>('circuit-breaker');
  return {
    interceptors: [toGrpcInterceptor(composeInterceptors(...layers.map((layer) => layer.interceptor)))],
    layers,
    retry: find<RetryInterceptor>('retry'),
    breaker,
    close: () => breaker?.close(),
  };
}
