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
