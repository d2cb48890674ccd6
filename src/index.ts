// The public API of grpc-meshlite: what an application needs to run a client through the mesh,
// to build or extend the client and server stacks, and to serve health. Everything not
// exported here (schedulers, trackers, the resolver and balancer plug-ins) is internal.

// --- the mesh -------------------------------------------------------------------------------
export { Mesh, createMesh } from './mesh/mesh.js';
export type { MeshOptions, MeshClient } from './mesh/mesh.js';
export { parseMeshConfig, HEALTH_CHECK_DEFAULTS, EJECTION_DEFAULTS, SLOW_START_DEFAULTS, BALANCER_DEFAULTS } from './config/mesh-config.js';
export type {
  MeshConfig,
  MeshConfigInput,
  ServiceConfig,
  EndpointConfig,
  HealthCheckConfig,
  BalancerConfig,
  ClientConfig,
} from './config/mesh-config.js';
export type { BalancerSnapshot, EndpointSnapshot, EndpointStatus } from './balancer/snapshot.js';
export type { HealthStatus } from './health/health-checker.js';
export type {
  MeshEvents,
  EndpointEvent,
  EndpointEventKind,
  RecoveryEvent,
  FailoverEvent,
  ConfigEvent,
  DiscoveryEvent,
  BreakerEvent,
} from './observability/events.js';

// --- client layers ----------------------------------------------------------------------------
export { createClientStack, clientLayers, CLIENT_LAYER_ORDER } from './interceptors/client-stack.js';
export type { ClientStack, ClientStackOptions, NamedClientLayer, ClientLayerName } from './interceptors/client-stack.js';
export { toGrpcInterceptor } from './interceptors/adapter.js';
export { composeClientLayers } from './interceptors/compose.js';
export { deriveCall, failedResult } from './interceptors/call.js';
export type { ClientLayer, ClientNext, ClientCall, ClientResult, AttemptRecord, ResponseSink } from './interceptors/types.js';
export { meshCallInfo, MESH_CALL_INFO } from './interceptors/call-info.js';
export type { MeshCallInfo, MeshAttempt, StatusWithCallInfo } from './interceptors/call-info.js';
export { loggingLayer, resolveLoggingOptions, LOGGING_DEFAULTS } from './interceptors/logging.js';
export type { LoggingOptions } from './interceptors/logging.js';
export { deadlineLayer, resolveDeadlineOptions, DEADLINE_DEFAULTS } from './interceptors/deadline.js';
export type { DeadlineOptions } from './interceptors/deadline.js';
export { circuitBreakerLayer, resolveCircuitBreakerOptions, CIRCUIT_BREAKER_DEFAULTS } from './interceptors/breaker/circuit-breaker.js';
export type {
  CircuitBreakerOptions,
  CircuitBreakerLayer,
  BreakerState,
  BreakerStateChange,
  BreakerSnapshot,
} from './interceptors/breaker/circuit-breaker.js';
export { retryLayer, resolveRetryOptions, RETRY_DEFAULTS } from './interceptors/retry/retry.js';
export type { RetryOptions, RetryEvent, RetryLayer } from './interceptors/retry/retry.js';
export type { RetryPolicy } from './interceptors/retry/policy.js';
export type { BackoffOptions } from './interceptors/retry/backoff.js';
export { RetryBudget, RETRY_BUDGET_DEFAULTS } from './interceptors/retry/budget.js';
export type { RetryBudgetOptions, RetryBudgetSnapshot, TaperOptions } from './interceptors/retry/budget.js';

// --- what both sides share ------------------------------------------------------------------
export { describeMethod } from './call/method.js';
export type { MethodInfo, MethodKind } from './call/method.js';
export { propagateDeadline, remainingBudget } from './call/deadline.js';
export type { PropagationOptions } from './call/deadline.js';
export type { CancelSignal } from './call/cancellation.js';
export { statusName } from './call/status.js';
export type { StatusName } from './call/status.js';
export { MeshError, ConfigError, isMeshError, isConfigError } from './errors.js';
export type { MeshErrorReason } from './errors.js';
export { systemClock } from './clock.js';
export type { Clock } from './clock.js';
export { createLogger } from './observability/logger.js';
export type { Logger, LoggerSettings } from './observability/logger.js';
export type { Disposer } from './observability/signal.js';

// --- server layers ----------------------------------------------------------------------------
export { createServerStack, serverLayers, composeServerLayers, SERVER_LAYER_ORDER } from './server/server-stack.js';
export type { ServerStack, ServerStackOptions, NamedServerLayer, ServerLayerName } from './server/server-stack.js';
export { toGrpcServerInterceptor } from './server/adapter.js';
export type { ServerCall, ServerResult, ServerNext, ServerLayer, ServerStatus } from './server/types.js';
export { serverLoggingLayer, resolveServerLoggingOptions, SERVER_LOGGING_DEFAULTS } from './server/logging.js';
export type { ServerLoggingOptions } from './server/logging.js';
export { serverDeadlineLayer, resolveServerDeadlineOptions, SERVER_DEADLINE_DEFAULTS } from './server/deadline.js';
export type { ServerDeadlineOptions } from './server/deadline.js';
export { idempotencyLayer, resolveIdempotencyOptions, IDEMPOTENCY_DEFAULTS, REPLAYED_HEADER } from './server/idempotency.js';
export type { IdempotencyOptions, IdempotencyLayer } from './server/idempotency.js';
export { loadSheddingLayer, resolveLoadSheddingOptions, LOAD_SHEDDING_DEFAULTS } from './server/load-shedding.js';
export type { LoadSheddingOptions, LoadSheddingLayer } from './server/load-shedding.js';
export type { ConcurrencyLimit } from './server/concurrency-limit.js';
export { serveWhenReady } from './server/readiness.js';
export { drainServer, resolveDrainOptions, DRAIN_DEFAULTS } from './server/drain.js';
export type { DrainOptions, DrainResult, DrainPhase, DrainTarget } from './server/drain.js';

// --- health -----------------------------------------------------------------------------------
export { HealthState, WHOLE_SERVER } from './health/health-state.js';
export type { ServingStatus, WatchedStatus, HealthChange } from './health/health-state.js';
export { HealthService } from './health/health-service.js';
export { HEALTH_SERVICE_NAME, HealthClient, healthServiceDefinition } from './health/health-proto.js';
export type { HealthCheckRequest, HealthCheckResponse, HealthListResponse } from './health/health-proto.js';
export { registerInEtcd, EtcdRegistration, REGISTRATION_DEFAULTS } from './discovery/registration.js';
export type { EtcdRegistrationOptions, RegistrationEvent } from './discovery/registration.js';
export { parseEtcdEndpoint, encodeEtcdEndpoint } from './discovery/etcd-format.js';
export type { DiscoveredEndpoint } from './discovery/etcd-format.js';
export { authorizationLayer, resolveAuthorizationOptions, AUTHORIZATION_DEFAULTS } from './server/authorization.js';
export type { AuthorizationOptions } from './server/authorization.js';
export { identityOf, isAllowed } from './security/identity.js';
export type { PeerIdentity } from './security/identity.js';
export { TlsFilesProvider, serverTls } from './security/tls-files.js';
export type { TlsFiles, TlsFilesEvent } from './security/tls-files.js';
export { metricsLayer } from './interceptors/metrics.js';
export type { MetricsOptions } from './interceptors/metrics.js';
export { serverMetricsLayer, DRAIN_PHASE_VALUES } from './server/metrics.js';
export type { ServerMetricsOptions } from './server/metrics.js';
export { LATENCY_BUCKETS_S } from './observability/metrics.js';
export type { AdminOptions, AdminServer } from './admin/admin-server.js';
