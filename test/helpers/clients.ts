import * as grpc from '@grpc/grpc-js';
import { OrderClient, callUnary, type Order } from '../../examples/orders.js';

/** Metadata from a plain object. */
export function md(headers: Record<string, string> = {}): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
  return metadata;
}

/**
 * An OrderClient over one or more addresses with round_robin, so consecutive picks
 * alternate between backends (and the channel's own retry stays off).
 */
export function orderClient(addresses: string[], interceptors: grpc.Interceptor[] = [], options: grpc.ClientOptions = {}) {
  return new OrderClient(`ipv4:${addresses.join(',')}`, grpc.credentials.createInsecure(), {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    interceptors,
    ...options,
  });
}

export function getOrder(client: OrderClient, headers: Record<string, string> = {}, options: grpc.CallOptions = {}): Promise<Order> {
  return callUnary(client.GetOrder, client, { id: 'o-1' }, md(headers), options);
}

export function createOrder(client: OrderClient, headers: Record<string, string> = {}, options: grpc.CallOptions = {}): Promise<Order> {
  return callUnary(client.CreateOrder, client, { idempotency_key: 'k', item: 'book', quantity: 1 }, md(headers), options);
}

/** A seeded pseudo-random source (mulberry32), so jittered delays repeat run after run. */
export function seededRandom(seed = 42): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
