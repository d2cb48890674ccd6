// The example client: a plain grpc-js OrderClient pointed at mesh:///orders, with the mesh
// config of examples/mesh.json (weights, health checking, ejection, and the client stack:
// logging → deadline → circuit breaker → retry/hedge).
import { readFileSync } from 'node:fs';
import type { MeterProvider } from '@opentelemetry/api';
import { createMesh, type Logger, type Mesh, type MeshConfigInput } from 'grpc-meshlite';
import { OrderClient } from './orders.js';

export const EXAMPLE_CONFIG_PATH = new URL('./mesh.json', import.meta.url);

/** examples/mesh.json with each backend's address replaced by where it really listens. */
export function exampleConfig(addresses: Readonly<Record<string, string>>): MeshConfigInput {
  const config = JSON.parse(readFileSync(EXAMPLE_CONFIG_PATH, 'utf8')) as MeshConfigInput;
  for (const endpoint of config.services['orders']!.endpoints ?? []) {
    endpoint.address = addresses[endpoint.name] ?? endpoint.address;
  }
  return config;
}

/** The etcd prefix the example backends register under with `--etcd`. */
export const EXAMPLE_ETCD_PREFIX = 'services/orders';

/**
 * examples/mesh.json with its endpoints found in etcd instead of listed: the backends
 * register themselves (`--etcd`), each with its own weight.
 */
export function exampleEtcdConfig(etcdEndpoint: string): MeshConfigInput {
  const config = JSON.parse(readFileSync(EXAMPLE_CONFIG_PATH, 'utf8')) as MeshConfigInput;
  const orders = config.services['orders']!;
  orders.endpoints = [];
  orders.discovery = { etcd: { endpoints: [etcdEndpoint], prefix: EXAMPLE_ETCD_PREFIX } };
  return config;
}

export interface OrdersClient {
  readonly mesh: Mesh;
  readonly client: OrderClient & { readonly stack: import('grpc-meshlite').ClientStack };
  close(): void;
}

/** A mesh client of the orders service; `meterProvider` takes its metrics (none without). */
export function createOrdersClient(config: MeshConfigInput, logger: Logger, meterProvider?: MeterProvider): OrdersClient {
  const mesh = createMesh({ config, logger, ...(meterProvider && { meterProvider }) });
  const client = mesh.client(OrderClient, 'orders', { stack: { logging: { successLevel: 'debug' } } });
  return {
    mesh,
    client,
    close: () => {
      client.close();
      mesh.close();
    },
  };
}
