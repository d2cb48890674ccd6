// The public API of grpc-meshlite. Everything not exported here is internal.

export { HealthState, WHOLE_SERVER } from './health/health-state.js';
export type { ServingStatus, WatchedStatus, HealthChange } from './health/health-state.js';
export { HealthService } from './health/health-service.js';
export {
  HEALTH_PROTO_PATH,
  HEALTH_SERVICE_NAME,
  HealthClient,
  healthServiceDefinition,
} from './health/health-proto.js';
export type { HealthCheckRequest, HealthCheckResponse, HealthListResponse } from './health/health-proto.js';

export { drainServer, resolveDrainOptions, DRAIN_DEFAULTS } from './server/drain.js';
export type { DrainOptions, DrainResult, DrainPhase, DrainTarget } from './server/drain.js';

export { createLogger, loggableMetadata, isSecretMetadataKey, silentLogger, REDACTED } from './observability/logger.js';
export type { Logger, LoggerSettings } from './observability/logger.js';
export { Signal } from './observability/signal.js';
export type { Disposer } from './observability/signal.js';

export { MeshError, ConfigError, isMeshError, isConfigError } from './errors.js';
export type { MeshErrorReason } from './errors.js';
export { systemClock } from './clock.js';
export type { Clock } from './clock.js';

export { toGrpcInterceptor, describeMethod, AVOID_HEADER } from './interceptors/adapter.js';
export { composeInterceptors } from './interceptors/compose.js';
export { deriveRequest } from './interceptors/request.js';
export { Cancellation } from './interceptors/cancellation.js';
export type { CancelSignal } from './interceptors/cancellation.js';
export { createClientStack, meshLayers, LAYER_ORDER } from './interceptors/client-stack.js';
export type { ClientStack, ClientStackOptions, ClientLayer, LayerName } from './interceptors/client-stack.js';
export { deadlineInterceptor, propagateDeadline, resolveDeadlineOptions } from './interceptors/deadline.js';
export type { DeadlineOptions, PropagationOptions } from './interceptors/deadline.js';
export { retryInterceptor } from './interceptors/retry.js';
export type { RetryOptions, RetryEvent, RetryInterceptor } from './interceptors/retry.js';
export { RETRY_POLICY_DEFAULTS, resolveRetryPolicy } from './interceptors/retry-policy.js';
export type { RetryPolicy, ResolvedRetryPolicy } from './interceptors/retry-policy.js';
export { BACKOFF_DEFAULTS, fullJitterDelay } from './interceptors/backoff.js';
export type { BackoffOptions } from './interceptors/backoff.js';
export { RetryBudget, RETRY_BUDGET_DEFAULTS } from './interceptors/retry-budget.js';
export type { RetryBudgetOptions, RetryBudgetSnapshot, TaperOptions } from './interceptors/retry-budget.js';
export { circuitBreakerInterceptor, CIRCUIT_BREAKER_DEFAULTS } from './interceptors/circuit-breaker.js';
export type {
  CircuitBreakerOptions,
  CircuitBreakerInterceptor,
  BreakerState,
  BreakerStateChange,
  BreakerSnapshot,
} from './interceptors/circuit-breaker.js';
export { loggingInterceptor } from './interceptors/logging.js';
export type { LoggingOptions } from './interceptors/logging.js';
export type {
  Interceptor,
  Next,
  MeshRequest,
  MeshResponse,
  MethodInfo,
  MethodKind,
  AttemptRecord,
  AttemptHandle,
  ResponseSink,
} from './interceptors/types.js';
export { statusName } from './status.js';
export type { StatusName } from './status.js';

export { Mesh, createMesh, setupMesh } from './mesh.js';
export type { MeshOptions } from './mesh.js';
export { parseMeshConfig, HEALTH_CHECK_DEFAULTS, EJECTION_DEFAULTS, SLOW_START_DEFAULTS, BALANCER_DEFAULTS } from './config/mesh-config.js';
export type { MeshConfig, MeshConfigInput, ServiceConfig, EndpointConfig, HealthCheckConfig, BalancerConfig } from './config/mesh-config.js';
export { MESH_OPTION } from './resolver/directory.js';
export { MESH_SCHEME, MeshResolver } from './resolver/mesh-resolver.js';
export { FileConfigSource, StaticConfigSource } from './resolver/config-source.js';
export type { ConfigSource } from './resolver/config-source.js';
export { BALANCER_NAME, MeshBalancerConfig } from './balancer/balancer-config.js';
export { WeightedPriorityBalancer, registerBalancer } from './balancer/balancer.js';
export { SmoothWeightedScheduler } from './balancer/scheduler.js';
export { tierLoads } from './balancer/priority.js';
export type { TierCounts, TierLoad } from './balancer/priority.js';
export { EjectionTracker } from './balancer/ejection.js';
export type { EjectionState, EjectionChange, EjectionSettings } from './balancer/ejection.js';
export { slowStartFactor } from './balancer/slow-start.js';
export type { BalancerSnapshot, EndpointSnapshot } from './balancer/snapshot.js';
export { isHealthy } from './health/health-checker.js';
export type { HealthStatus, EndpointHealth, HealthCheckSettings } from './health/health-checker.js';
export { MeshEvents } from './observability/events.js';
export type { EndpointEvent, EndpointEventKind, FailoverEvent, ConfigEvent } from './observability/events.js';

export { createServerStack, serverLayers, composeServerLayers, SERVER_LAYER_ORDER } from './server/server-stack.js';
export type { ServerStack, ServerStackOptions, NamedServerLayer, ServerLayerName } from './server/server-stack.js';
export { toServerInterceptor } from './server/adapter.js';
export { serverLoggingLayer } from './server/logging.js';
export type { ServerLoggingOptions } from './server/logging.js';
export { serverDeadlineLayer, remainingBudget } from './server/deadline.js';
export { loadSheddingLayer, resolveLoadSheddingOptions } from './server/load-shedding.js';
export type { LoadSheddingOptions, LoadSheddingLayer } from './server/load-shedding.js';
export { FixedLimit, VegasLimit } from './server/concurrency-limit.js';
export type { ConcurrencyLimit, Permit, VegasOptions } from './server/concurrency-limit.js';
export { idempotencyLayer, resolveIdempotencyOptions, REPLAYED_HEADER } from './server/idempotency.js';
export type { IdempotencyOptions, IdempotencyLayer } from './server/idempotency.js';
export { serveWhenReady } from './server/readiness.js';
export type { ServerCall, ServerResult, ServerNext, ServerLayer, ServerStatus } from './server/types.js';
