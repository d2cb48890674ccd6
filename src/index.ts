// The public API of grpc-meshlite: what the README teaches an application — run its clients
// through the mesh, watch what the mesh does, and serve health, drain and registration on the
// server side. The parts the stacks are made of (each layer, the layer contract, health and
// etcd wire plumbing) are in 'grpc-meshlite/layers', for those who build their own stacks.
// test/architecture.test.ts holds this file to 60 names.

// --- the mesh: a config, clients through it -------------------------------------------------
export { Mesh, createMesh } from './mesh/mesh.js';
export type { MeshOptions, MeshClient } from './mesh/mesh.js';
export { parseMeshConfig } from './config/mesh-config.js';
export type { MeshConfig, MeshConfigInput, ServiceConfig, EndpointConfig } from './config/mesh-config.js';

// --- what the mesh shows and says: snapshots, events, the admin page --------------------------
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
  RoutingEvent,
} from './observability/events.js';
export type { AdminOptions, AdminServer } from './admin/admin-server.js';

// --- the client stack a mesh client runs through ----------------------------------------------
export { createClientStack } from './interceptors/client-stack.js';
export type { ClientStack, ClientStackOptions } from './interceptors/client-stack.js';
export { meshCallInfo } from './interceptors/call-info.js';
export type { MeshCallInfo, MeshAttempt } from './interceptors/call-info.js';
export type { RetryEvent } from './interceptors/retry/retry.js';
export { RetryBudget } from './interceptors/retry/budget.js';
export type { BreakerStateChange } from './interceptors/breaker/circuit-breaker.js';

// --- errors, time, logs -----------------------------------------------------------------------
export { MeshError, ConfigError, isMeshError, isConfigError } from './errors.js';
export type { MeshErrorReason } from './errors.js';
export type { Clock } from './clock.js';
export { createLogger } from './observability/logger.js';
export type { Logger } from './observability/logger.js';
export type { Disposer } from './observability/signal.js';

// --- the server side: its stack, health, drain, registration, TLS -----------------------------
export { createServerStack } from './server/server-stack.js';
export type { ServerStack, ServerStackOptions } from './server/server-stack.js';
export { HealthState } from './health/health-state.js';
export type { ServingStatus } from './health/health-state.js';
export { HealthService } from './health/health-service.js';
export { serveWhenReady } from './server/readiness.js';
export { drainServer } from './server/drain.js';
export type { DrainOptions, DrainResult, DrainPhase } from './server/drain.js';
export { registerInEtcd, EtcdRegistration } from './discovery/registration.js';
export type { EtcdRegistrationOptions, RegistrationEvent } from './discovery/registration.js';
export { serverTls } from './security/tls-files.js';
export type { TlsFiles } from './security/tls-files.js';
