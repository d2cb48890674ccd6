// The example client: a plain grpc-js OrderClient with the whole client stack of grpc-meshlite.
import * as grpc from '@grpc/grpc-js';
import { createClientStack, type ClientStack, type Logger } from 'grpc-meshlite';
import { OrderClient } from './orders.js';

export interface OrdersClient {
  readonly client: OrderClient;
  readonly stack: ClientStack;
  close(): void;
}

/**
 * logging → deadline → circuit breaker → retry/hedge, configured for orders.v1.OrderService:
 * GetOrder is a read (idempotent, hedged), CreateOrder is made safe to retry by its
 * idempotency key, which the caller sends as `idempotency-key` metadata.
 */
export function createOrdersClient(target: string, logger: Logger, options: grpc.ClientOptions = {}): OrdersClient {
  const stack = createClientStack({
    logger,
    logging: { successLevel: 'debug' },
    deadline: { timeoutMs: 2000, methods: { 'orders.v1.OrderService/GetOrder': 1000 } },
    breaker: { volumeThreshold: 20, errorThresholdPercentage: 50, resetTimeoutMs: 2000 },
    retry: {
      maxAttempts: 3,
      perAttemptTimeoutMs: 150,
      retryableCodes: ['UNAVAILABLE', 'RESOURCE_EXHAUSTED'],
      methods: {
        'orders.v1.OrderService/GetOrder': { idempotent: true, hedging: { delayMs: 60, maxAttempts: 2 } },
        'orders.v1.OrderService/ListOrders': { idempotent: true },
      },
    },
  });
  const client = new OrderClient(target, grpc.credentials.createInsecure(), {
    ...options,
    interceptors: stack.interceptors,
  });
  return {
    client,
    stack,
    close: () => {
      client.close();
      stack.close();
    },
  };
}
