import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Path of the grpc.health.v1 definition shipped with the package. */
export const HEALTH_PROTO_PATH = fileURLToPath(new URL('../../protos/health.proto', import.meta.url));

export const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';

export interface HealthCheckRequest {
  service: string;
}

export interface HealthCheckResponse {
  status: 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
}

export interface HealthListResponse {
  statuses: Record<string, HealthCheckResponse>;
}

const packageDefinition = protoLoader.loadSync(HEALTH_PROTO_PATH, {
  keepCase: true,
  enums: String,
  defaults: true,
  oneofs: true,
});

/** The grpc-js service definition of grpc.health.v1.Health. */
export const healthServiceDefinition = packageDefinition[HEALTH_SERVICE_NAME] as grpc.ServiceDefinition;

export type HealthClient = grpc.Client & {
  check(
    request: HealthCheckRequest,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: HealthCheckResponse) => void,
  ): grpc.ClientUnaryCall;
  watch(request: HealthCheckRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<HealthCheckResponse>;
  list(
    request: Record<string, never>,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: HealthListResponse) => void,
  ): grpc.ClientUnaryCall;
};

/** A client constructor for grpc.health.v1.Health. */
export const HealthClient = grpc.makeClientConstructor(
  healthServiceDefinition,
  HEALTH_SERVICE_NAME,
) as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => HealthClient;
