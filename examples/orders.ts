// The example order service: its proto, message types and client constructor.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const ORDERS_PROTO_PATH = fileURLToPath(new URL('../protos/orders.proto', import.meta.url));
export const ORDER_SERVICE_NAME = 'orders.v1.OrderService';

export interface Order {
  id: string;
  item: string;
  quantity: number;
  idempotency_key: string;
  created_by: string;
  /** int64 on the wire, a decimal string here. */
  created_at_ms: string;
  served_by: string;
}

export interface GetOrderRequest {
  id: string;
}

export interface CreateOrderRequest {
  idempotency_key: string;
  item: string;
  quantity: number;
}

export interface ListOrdersRequest {
  limit: number;
}

const packageDefinition = protoLoader.loadSync(ORDERS_PROTO_PATH, {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

export const orderServiceDefinition = packageDefinition[ORDER_SERVICE_NAME] as grpc.ServiceDefinition;

type Unary<Req, Res> = {
  (request: Req, callback: grpc.requestCallback<Res>): grpc.ClientUnaryCall;
  (request: Req, metadata: grpc.Metadata, callback: grpc.requestCallback<Res>): grpc.ClientUnaryCall;
  (request: Req, options: grpc.CallOptions, callback: grpc.requestCallback<Res>): grpc.ClientUnaryCall;
  (request: Req, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<Res>): grpc.ClientUnaryCall;
};

export type OrderClient = grpc.Client & {
  GetOrder: Unary<GetOrderRequest, Order>;
  CreateOrder: Unary<CreateOrderRequest, Order>;
  ListOrders(request: ListOrdersRequest, metadata?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<Order>;
};

/** A plain grpc-js client class for orders.v1.OrderService, as proto-loader users write it. */
export const OrderClient = grpc.makeClientConstructor(orderServiceDefinition, ORDER_SERVICE_NAME) as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => OrderClient;

/** Calls a unary method of `client` and resolves with its response. */
export function callUnary<Req, Res>(
  method: Unary<Req, Res>,
  client: grpc.Client,
  request: Req,
  metadata: grpc.Metadata = new grpc.Metadata(),
  options: grpc.CallOptions = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, metadata, options, (error, response) => {
      if (error) reject(error);
      else resolve(response!);
    });
  });
}
