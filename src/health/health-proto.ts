import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

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

/**
 * grpc.health.v1 as a protobuf.js descriptor (what `protobuf.loadSync('protos/health.proto')
 * .toJSON()` gives; a test keeps it equal to the shipped protos/health.proto). Embedded, so no
 * file is read at run time: bundlers and single-file builds keep working.
 */
export const HEALTH_DESCRIPTOR = {
  nested: {
    grpc: {
      nested: {
        health: {
          nested: {
            v1: {
              nested: {
                HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } },
                HealthCheckResponse: {
                  fields: { status: { type: 'ServingStatus', id: 1 } },
                  nested: { ServingStatus: { values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } } },
                },
                HealthListRequest: { fields: {} },
                HealthListResponse: { fields: { statuses: { keyType: 'string', type: 'HealthCheckResponse', id: 1 } } },
                Health: {
                  methods: {
                    Check: { requestType: 'HealthCheckRequest', responseType: 'HealthCheckResponse' },
                    List: { requestType: 'HealthListRequest', responseType: 'HealthListResponse' },
                    Watch: { requestType: 'HealthCheckRequest', responseType: 'HealthCheckResponse', responseStream: true },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

// protobuf.js's INamespace typing lacks map fields (keyType) and wants a comment on methods.
const packageDefinition = protoLoader.fromJSON(HEALTH_DESCRIPTOR as Parameters<typeof protoLoader.fromJSON>[0], {
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
export const HealthClient = grpc.makeClientConstructor(healthServiceDefinition, HEALTH_SERVICE_NAME) as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => HealthClient;
