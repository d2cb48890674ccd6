import type { Interceptor as GrpcInterceptor } from '@grpc/grpc-js';
import type { Clock } from '../clock.js';
import { parseServiceConfig } from '../call/grpc-service-config.js';
import type { Logger } from '../observability/logger.js';
import { toGrpcInterceptor } from './adapter.js';
import { circuitBreakerLayer, type CircuitBreakerLayer, type CircuitBreakerOptions } from './breaker/circuit-breaker.js';
import { composeLayers } from '../call/compose.js';
import { deadlineLayer, type DeadlineOptions } from './deadline.js';
import { loggingLayer, type LoggingOptions } from './logging.js';
import { metricsLayer, type MetricsOptions } from './metrics.js';
import { retryLayer, type RetryLayer, type RetryOptions } from './retry/retry.js';
import type { ClientLayer } from './types.js';

/**
 * The documented order of the client layers, outermost first:
 * - metrics (when recording) time the whole call and count its attempts;
 * - logging sees the call as the caller does (final status, all attempts, total latency);
 * - deadline fixes the whole-call budget before anything else spends it;
 * - the circuit breaker judges whole calls (retries included) and refuses before any attempt;
 * - retry/hedge runs the attempts, each with its own timeout and routing hint.
 */
export const CLIENT_LAYER_ORDER = ['metrics', 'logging', 'deadline', 'circuit-breaker', 'retry'] as const;
export type ClientLayerName = (typeof CLIENT_LAYER_ORDER)[number];

export interface ClientStackOptions {
  /** Shared by the logging and breaker layers. Default: no logs. */
  logger?: Logger;
  /** Shared by the layers that keep time (deadline, breaker, retry). Default: the system clock. */
  clock?: Clock;
  /**
   * gRPC's standard metrics (A66/A96) through OpenTelemetry; on whenever a meter provider is
   * registered (or given here), and out of the stack otherwise. false leaves it out.
   */
  metrics?: MetricsOptions | false;
  /** false leaves the layer out. */
  logging?: Omit<LoggingOptions, 'logger'> | false;
  deadline?: DeadlineOptions | false;
  breaker?: Omit<CircuitBreakerOptions, 'logger'> | false;
  retry?: RetryOptions | false;
  /**
   * The client's grpc-js service config (its `grpc.service_config` channel option, as JSON
   * text or object). grpc-js applies it per attempt; the stack honours it for the whole call:
   * a method's `timeout` bounds the call (explicit `deadline.methods` win), a method with
   * `waitForReady` waits for a ready endpoint (and an open breaker lets it through). A
   * `retryPolicy`, `hedgingPolicy` or `retryThrottling` is refused with a ConfigError: the
   * retry layer does that work, and attempts would multiply. Default: none.
   */
  serviceConfig?: string | object;
}

export interface NamedClientLayer {
  readonly name: ClientLayerName;
  readonly layer: ClientLayer;
}

/** The enabled layers in CLIENT_LAYER_ORDER, each built from its options. */
export function clientLayers(options: ClientStackOptions = {}): NamedClientLayer[] {
  const { logger, clock } = options;
  const layers: NamedClientLayer[] = [];
  const metrics = options.metrics === false ? undefined : metricsLayer(options.metrics);
  if (metrics) layers.push({ name: 'metrics', layer: metrics });
  if (options.logging !== false) layers.push({ name: 'logging', layer: loggingLayer({ logger, ...options.logging }) });
  if (options.deadline !== false) layers.push({ name: 'deadline', layer: deadlineLayer({ clock, ...options.deadline }) });
  if (options.breaker !== false)
    layers.push({ name: 'circuit-breaker', layer: circuitBreakerLayer({ logger, clock, ...options.breaker }) });
  if (options.retry !== false) layers.push({ name: 'retry', layer: retryLayer({ clock, ...options.retry }) });
  return layers;
}

export interface ClientStack {
  /** Pass as `interceptors` in the grpc-js client options (call-level interceptors would replace it). */
  readonly interceptors: GrpcInterceptor[];
  /** The layers composed into one, for another transport (the nice-grpc middleware). */
  readonly layer: ClientLayer;
  readonly layers: readonly NamedClientLayer[];
  /** The retry layer, for its events and budget; undefined when left out. */
  readonly retry: RetryLayer | undefined;
  /** The breaker layer, for its events and states; undefined when left out. */
  readonly breaker: CircuitBreakerLayer | undefined;
  /** Stops the breakers' timers and subscriptions. */
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
  const { timeoutsMs, waitForReady } = parseServiceConfig(options.serviceConfig, { mesh: false, where: 'serviceConfig' });
  const deadline = options.deadline === false ? false : { ...options.deadline, methods: { ...timeoutsMs, ...options.deadline?.methods } };
  const layers = clientLayers({ ...options, deadline });
  const find = <T>(name: ClientLayerName) => layers.find((entry) => entry.name === name)?.layer as T | undefined;
  const breaker = find<CircuitBreakerLayer>('circuit-breaker');
  const layer = composeLayers(...layers.map((entry) => entry.layer));
  return {
    // With no layer and nothing to add to calls, the stack stays out of grpc-js's way entirely.
    interceptors: layers.length === 0 && Object.keys(waitForReady ?? {}).length === 0 ? [] : [toGrpcInterceptor(layer, { waitForReady })],
    layer,
    layers,
    retry: find<RetryLayer>('retry'),
    breaker,
    close: () => breaker?.close(),
  };
}
