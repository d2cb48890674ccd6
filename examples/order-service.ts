// orders.v1.OrderService as ServiceA and ServiceB implement it, with fault injection for demos.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'grpc-meshlite';
import type { CreateOrderRequest, GetOrderRequest, ListOrdersRequest, Order } from './orders.js';
import type { OrderStore, StoredOrder } from './order-store.js';

/** Longest idempotency key accepted; longer ones are refused with INVALID_ARGUMENT. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;

export interface Faults {
  /** Share of calls that fail with UNAVAILABLE, 0..1. */
  failRate: number;
  /** Extra latency added to every call before it is handled, in ms. */
  latencyMs: number;
  /**
   * Delay between doing the work and answering, in ms: the order exists but the reply is
   * late (a GC pause, a slow network). What makes a client retry a call that succeeded.
   */
  replyDelayMs: number;
  /** Methods ("GetOrder") that never answer (until the client gives up) while the others work. */
  silentMethods: string[];
  /**
   * A metadata key: calls that do not carry it fail with UNAVAILABLE, the others are served.
   * The canary demo's mirror phase sets `x-canary` on v2: the only calls it gets without one
   * are the copies a mirror sends. Default: none.
   */
  failWithoutHeader: string | undefined;
}

export interface OrderBackendOptions {
  /** Name reported in every response, e.g. "ServiceA". */
  readonly name: string;
  readonly store: OrderStore;
  readonly faults: Faults;
  readonly logger: Logger;
  readonly random?: () => number;
}

/**
 * The handlers of one backend. `faults` is read on every call, so a runner can change it
 * while the backend serves.
 */
export function createOrderService(options: OrderBackendOptions): grpc.UntypedServiceImplementation {
  const { name, store, faults, logger, random = Math.random } = options;

  const toOrder = (stored: StoredOrder): Order => ({
    id: stored.id,
    item: stored.item,
    quantity: stored.quantity,
    idempotency_key: stored.idempotencyKey,
    created_by: stored.createdBy,
    created_at_ms: String(stored.createdAtMs),
    served_by: name,
  });

  /** Applies injected latency and failures; false when the call was already answered. */
  async function injectFaults(call: AnyCall, fail: (error: grpc.ServiceError) => void) {
    const method = call.getPath().slice(call.getPath().lastIndexOf('/') + 1);
    if (faults.silentMethods.includes(method)) {
      await new Promise<void>((resolve) => call.once('cancelled', () => resolve()));
      return false;
    }
    if (faults.latencyMs > 0) {
      await delay(call, faults.latencyMs);
      if (call.cancelled) return false;
    }
    const required = faults.failWithoutHeader;
    if (required !== undefined && call.metadata.get(required).length === 0) {
      fail(serviceError(grpc.status.UNAVAILABLE, `${name}: injected failure of a call without ${required}`));
      return false;
    }
    if (faults.failRate > 0 && random() < faults.failRate) {
      fail(serviceError(grpc.status.UNAVAILABLE, `${name}: injected failure`));
      return false;
    }
    return true;
  }

  return {
    async GetOrder(call: grpc.ServerUnaryCall<GetOrderRequest, Order>, callback: grpc.sendUnaryData<Order>): Promise<void> {
      if (!(await injectFaults(call, callback))) return;
      const stored = store.get(call.request.id);
      if (!stored) {
        callback(serviceError(grpc.status.NOT_FOUND, `${name}: no order "${call.request.id}"`));
        return;
      }
      callback(null, toOrder(stored));
    },

    async CreateOrder(call: grpc.ServerUnaryCall<CreateOrderRequest, Order>, callback: grpc.sendUnaryData<Order>): Promise<void> {
      const { idempotency_key: key, item, quantity } = call.request;
      if (key === '' || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
        const why = key === '' ? 'is required' : `is longer than ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`;
        callback(serviceError(grpc.status.INVALID_ARGUMENT, `${name}: idempotency_key ${why}`));
        return;
      }
      if (!(await injectFaults(call, callback))) return;
      const { order, created } = store.create({ idempotencyKey: key, item, quantity, createdBy: name });
      if (created) logger.debug({ orderId: order.id, key }, 'order created');
      if (faults.replyDelayMs > 0) {
        await delay(call, faults.replyDelayMs);
        if (call.cancelled) return;
      }
      callback(null, toOrder(order));
    },

    async ListOrders(call: grpc.ServerWritableStream<ListOrdersRequest, Order>): Promise<void> {
      if (!(await injectFaults(call, (error) => call.destroy(error)))) return;
      for (const stored of store.list(call.request.limit)) {
        if (call.cancelled) return;
        call.write(toOrder(stored));
      }
      call.end();
    },
  };
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

/** Waits `ms`, or less when the client gives up on the call first. */
function delay(call: AnyCall, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    call.once('cancelled', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function serviceError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}
