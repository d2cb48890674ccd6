// grpc-meshlite/layers: the parts the client and server stacks are made of, for those who
// build their own (README, "Building your own stack"). Each layer is `(next) => next'`;
// `composeLayers` puts them together outermost first and the two adapters turn the result into
// a grpc-js interceptor. An app that uses `mesh.client()` and `createServerStack()` needs none
// of this.

// --- the layer contract, both sides -----------------------------------------------------------
export { composeLayers } from '../call/compose.js';
export { describeMethod } from '../call/method.js';
export type { MethodInfo, MethodKind } from '../call/method.js';
export { propagateDeadline, remainingBudget } from '../call/deadline.js';
export type { PropagationOptions } from '../call/deadline.js';
export type { CancelSignal } from '../call/cancellation.js';
export { statusName } from '../call/status.js';
export type { StatusName } from '../call/status.js';
export { systemClock } from '../clock.js';

// --- client layers ----------------------------------------------------------------------------
export { clientLayers, CLIENT_LAYER_ORDER } from '../interceptors/client-stack.js';
export type { NamedClientLayer, ClientLayerName } from '../interceptors/client-stack.js';
export { toGrpcInterceptor } from '../interceptors/adapter.js';
export { deriveCall, failedResult } from '../interceptors/call.js';
export { withSend } from '../interceptors/send.js';
export type {
  ClientLayer,
  ClientNext,
  ClientSend,
  ClientDone,
  SendLayer,
  ClientCall,
  ClientResult,
  AttemptRecord,
  ResponseSink,
  AttemptInfo,
  AttemptKind,
  CallTrace,
  AttemptTrace,
} from '../interceptors/types.js';
export type { StatusWithCallInfo } from '../interceptors/call-info.js';
export { callStatsLayer, callFailure } from '../interceptors/call-stats.js';
export type { CallRecorder } from '../interceptors/call-stats.js';
export { metricsLayer } from '../interceptors/metrics.js';
export type { MetricsLayer, MetricsOptions } from '../interceptors/metrics.js';
export { tracingLayer } from '../interceptors/tracing.js';
export type { TracingOptions } from '../observability/tracing.js';
export { SPAN_ATTRIBUTES } from '../observability/tracing.js';
export { PREVIOUS_ATTEMPTS_HEADER } from '../call/wire.js';
export { loggingLayer } from '../interceptors/logging.js';
export type { LoggingOptions } from '../interceptors/logging.js';
export { deadlineLayer } from '../interceptors/deadline.js';
export type { DeadlineOptions } from '../interceptors/deadline.js';
export { circuitBreakerLayer } from '../interceptors/breaker/circuit-breaker.js';
export type { CircuitBreakerOptions, CircuitBreakerLayer, BreakerState, BreakerSnapshot } from '../interceptors/breaker/circuit-breaker.js';
export { retryLayer } from '../interceptors/retry/retry.js';
export type { RetryOptions, RetryLayer } from '../interceptors/retry/retry.js';
export type { RetryPolicy } from '../interceptors/retry/policy.js';
export type { BackoffOptions } from '../interceptors/retry/backoff.js';
export { routeLayer } from '../interceptors/route/route.js';
export type { RouteOptions, RouteLayer } from '../interceptors/route/route.js';
export { destinationLayer } from '../interceptors/route/destination.js';
export type { DestinationOptions } from '../interceptors/route/destination.js';
export type { MirrorSnapshot } from '../interceptors/route/mirror.js';
export type { RouteMatcher, MatchedRoute, RouteAction, CallRoute } from '../interceptors/types.js';
export type { RetryBudgetOptions, RetryBudgetSnapshot, TaperOptions } from '../interceptors/retry/budget.js';
export type { HedgeLimitOptions, HedgeLimitSnapshot } from '../interceptors/retry/hedge-limit.js';

// --- server layers ----------------------------------------------------------------------------
export { serverLayers, SERVER_LAYER_ORDER } from '../server/server-stack.js';
export type { NamedServerLayer, ServerLayerName } from '../server/server-stack.js';
export { toGrpcServerInterceptor } from '../server/adapter.js';
export type { ServerCall, ServerResult, ServerNext, ServerLayer, ServerStatus } from '../server/types.js';
export { serverMetricsLayer } from '../server/metrics.js';
export type { ServerMetricsOptions } from '../server/metrics.js';
export { serverTracingLayer } from '../server/tracing.js';
export type { ServerTracingOptions } from '../server/tracing.js';
export { serverLoggingLayer } from '../server/logging.js';
export type { ServerLoggingOptions } from '../server/logging.js';
export { serverDeadlineLayer } from '../server/deadline.js';
export type { ServerDeadlineOptions } from '../server/deadline.js';
export { authorizationLayer } from '../server/authorization.js';
export type { AuthorizationOptions } from '../server/authorization.js';
export { identityOf, isAllowed } from '../security/identity.js';
export type { PeerIdentity } from '../security/identity.js';
export { idempotencyLayer } from '../server/idempotency.js';
export { REPLAYED_HEADER } from '../call/wire.js';
export type { IdempotencyOptions, IdempotencyLayer } from '../server/idempotency.js';
export { loadSheddingLayer } from '../server/load-shedding.js';
export type { LoadSheddingOptions, LoadSheddingLayer } from '../server/load-shedding.js';
export type { ConcurrencyLimit } from '../server/concurrency-limit.js';
export type { DrainTarget } from '../server/drain.js';

// --- health, etcd and TLS plumbing ------------------------------------------------------------
export { HEALTH_SERVICE_NAME, HealthClient, healthServiceDefinition } from '../health/health-proto.js';
export type { HealthCheckRequest, HealthCheckResponse, HealthListResponse } from '../health/health-proto.js';
export { WHOLE_SERVER } from '../health/health-state.js';
export type { WatchedStatus, HealthChange } from '../health/health-state.js';
export { parseEtcdEndpoint, encodeEtcdEndpoint } from '../discovery/etcd-format.js';
export type { DiscoveredEndpoint } from '../discovery/etcd-format.js';
export { TlsFilesProvider } from '../security/tls-files.js';
export type { TlsFilesEvent } from '../security/tls-files.js';
