import type { Interceptor as GrpcInterceptor } from '@grpc/grpc-js';
import type { Clock } from '../clock.js';
import { parseServiceConfig } from '../call/grpc-service-config.js';
import type { Logger } from '../observability/logger.js';
import { toGrpcInterceptor } from './adapter.js';
import { circuitBreakerLayer, type CircuitBreakerLayer, type CircuitBreakerOptions } from './breaker/circuit-breaker.js';
import { callStatsLayer, type CallRecorder } from './call-stats.js';
import { configuredTimeouts, deadlineLayer, type DeadlineOptions } from './deadline.js';
import { loggingLayer, type LoggingOptions } from './logging.js';
import { metricsLayer, type MetricsOptions } from './metrics.js';
import { tracingLayer, type TracingOptions } from './tracing.js';
import { retryLayer, type RetryLayer, type RetryOptions } from './retry/retry.js';
import { composeClientLayers } from './send.js';
import { destinationLayer } from './route/destination.js';
import { routeLayer, streamDestination, type RouteLayer } from './route/route.js';
import type { ClientLayer, RouteMatcher } from './types.js';

/**
 * The documented order of the client layers, outermost first:
 * - call stats (with a recorder, from the mesh) count each call as its caller saw it end, for
 *   the status page's caller-level line;
 * - metrics (when recording) time the whole call and count its attempts;
 * - tracing (when recording) spans the whole call; the transport starts a child span per
 *   attempt, and the logging layer below writes the call's trace id;
 * - logging sees the call as the caller does (final status, all attempts, total latency);
 * - route (with routes, from the mesh) matches the call to its route once, so that the layers
 *   below apply the route's timeout and retry, and mirrors a share of the calls;
 * - deadline fixes the whole-call budget before anything else spends it;
 * - the circuit breaker judges whole calls (retries included) and refuses before any attempt;
 * - retry/hedge runs the attempts, each with its own timeout and routing hint;
 * - destination (with routes) sends each attempt to its route's subset and applies its fault.
 */
export const CLIENT_LAYER_ORDER = [
  'call-stats',
  'metrics',
  'tracing',
  'logging',
  'route',
  'deadline',
  'circuit-breaker',
  'retry',
  'destination',
] as const;
export type ClientLayerName = (typeof CLIENT_LAYER_ORDER)[number];

export interface ClientStackOptions {
  /** Shared by the logging and breaker layers. Default: no logs. */
  logger?: Logger;
  /** Shared by the layers that keep time (deadline, breaker, retry, a fault's delay). Default: the system clock. */
  clock?: Clock;
  /**
   * Random numbers in [0, 1) for the layers that draw them: the retry's jitter (unless
   * `retry.random` says otherwise) and a route's fault percentages. Default Math.random; tests
   * seed it.
   */
  random?: () => number;
  /**
   * The routes in force, read on every call; with them the stack gains its route and
   * destination layers. `mesh.clientStack()` passes its service's routes from the mesh config
   * (a reload reaches existing clients at once); a stack made without a mesh has none.
   * Default: none.
   */
  routes?: () => RouteMatcher | undefined;
  /**
   * gRPC's standard metrics (A66/A96) through OpenTelemetry; on whenever a meter provider is
   * registered (or given here), and out of the stack otherwise. false leaves it out.
   */
  metrics?: MetricsOptions | false;
  /**
   * Where each call's outcome goes for a status page, asked per call (undefined: nowhere, and
   * the layer steps aside). `mesh.clientStack()` passes its admin server's while one runs;
   * without it the stack has no call-stats layer. Default: none.
   */
  callStats?: () => CallRecorder | undefined;
  /**
   * OpenTelemetry spans per call and per attempt (gRPC A72), whose context each attempt sends
   * as W3C `traceparent` (or through the app's propagator); on whenever a tracer provider is
   * registered (or given here), and out of the stack otherwise. false leaves it out.
   */
  tracing?: TracingOptions | false;
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
  const { logger, clock, random, routes } = options;
  const layers: NamedClientLayer[] = [];
  if (options.callStats) layers.push({ name: 'call-stats', layer: callStatsLayer(options.callStats) });
  const metrics = options.metrics === false ? undefined : metricsLayer(options.metrics);
  if (metrics) layers.push({ name: 'metrics', layer: metrics });
  const tracing = options.tracing === false ? undefined : tracingLayer(options.tracing);
  if (tracing) layers.push({ name: 'tracing', layer: tracing });
  if (options.logging !== false) layers.push({ name: 'logging', layer: loggingLayer({ logger, clock, ...options.logging }) });
  // Made before the route layer, which asks it whether a call may be mirrored.
  // The retry layer tells the metrics layer of each attempt as it starts (A66's attempt.started).
  const onAttempt = metrics?.attemptStarted;
  const retry = options.retry === false ? undefined : retryLayer({ clock, random, ...options.retry, ...(onAttempt && { onAttempt }) });
  if (routes) {
    const timeoutFor = options.deadline === false ? undefined : configuredTimeouts(options.deadline);
    layers.push({ name: 'route', layer: routeLayer({ routes, clock, timeoutFor, safeToRepeat: retry?.safeToRepeat }) });
  }
  if (options.deadline !== false) layers.push({ name: 'deadline', layer: deadlineLayer({ clock, ...options.deadline }) });
  if (options.breaker !== false)
    layers.push({ name: 'circuit-breaker', layer: circuitBreakerLayer({ logger, clock, ...options.breaker }) });
  if (retry) layers.push({ name: 'retry', layer: retry });
  if (routes) layers.push({ name: 'destination', layer: destinationLayer({ clock, random }) });
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
  /** The route layer, for its mirrors' counts; undefined without routes. */
  readonly route: RouteLayer | undefined;
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
  const layer = composeClientLayers(...layers.map((entry) => entry.layer));
  return {
    // With no layer and nothing to add to calls, the stack stays out of grpc-js's way entirely.
    interceptors:
      layers.length === 0 && Object.keys(waitForReady ?? {}).length === 0
        ? []
        : [toGrpcInterceptor(layer, { waitForReady, ...(options.routes && { streamDestination: streamDestination(options.routes) }) })],
    layer,
    layers,
    retry: find<RetryLayer>('retry'),
    breaker,
    route: find<RouteLayer>('route'),
    close: () => breaker?.close(),
  };
}
