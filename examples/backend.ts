// One order backend (ServiceA or ServiceB) as a server: orders + grpc.health.v1 + drain.
import * as grpc from '@grpc/grpc-js';
import { HealthService, HealthState, drainServer, type DrainOptions, type DrainResult, type Logger } from 'grpc-meshlite';
import { createOrderService, type Faults } from './order-service.js';
import { ORDER_SERVICE_NAME, orderServiceDefinition } from './orders.js';
import type { OrderStore } from './order-store.js';

export interface BackendOptions {
  readonly name: string;
  /** 0 picks a free port. Always bound on 127.0.0.1. */
  readonly port: number;
  readonly store: OrderStore;
  readonly logger: Logger;
  readonly faults?: Partial<Faults>;
  readonly drain?: DrainOptions;
}

export interface Backend {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  readonly server: grpc.Server;
  readonly health: HealthState;
  /** Live fault settings: change them and the next call sees it. */
  readonly faults: Faults;
  /** SERVING <-> NOT_SERVING for every service, as `kill -USR2` does. Returns the new status. */
  toggleHealth(): 'SERVING' | 'NOT_SERVING';
  /** Graceful drain: NOT_SERVING, grace period, shutdown, forced after the hard limit. */
  drain(): Promise<DrainResult>;
  /** Immediate stop, for tests. */
  forceStop(): void;
}

/** A port conflict or any other reason the backend could not listen, as one clear sentence. */
export class ListenError extends Error {
  override name = 'ListenError';
}

export async function startBackend(options: BackendOptions): Promise<Backend> {
  const { name, logger } = options;
  const faults: Faults = { failRate: 0, latencyMs: 0, ...options.faults };
  const health = new HealthState({ '': 'SERVING', [ORDER_SERVICE_NAME]: 'SERVING' });
  const healthService = new HealthService(health);
  const server = new grpc.Server({
    // Clients of the mesh send keepalive pings to notice a hung backend quickly.
    'grpc.keepalive_permit_without_calls': 1,
  });
  server.addService(orderServiceDefinition, createOrderService({ name, store: options.store, faults, logger }));
  healthService.addTo(server);
  health.onChange(({ service, status }) => logger.info({ service: service || '(server)', status }, 'health changed'));

  const address = `127.0.0.1:${options.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, boundPort) => {
      if (error) reject(new ListenError(`${name}: cannot listen on ${address}: ${explainBindError(error)}`));
      else resolve(boundPort);
    });
  });
  logger.info({ port, pid: process.pid }, 'listening');

  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    server,
    health,
    faults,
    toggleHealth() {
      const next = health.get('') === 'SERVING' ? 'NOT_SERVING' : 'SERVING';
      health.setAll(next);
      return next;
    },
    drain: () => drainServer({ server, health, healthService }, options.drain, (phase) => logger.info({ phase }, 'drain')),
    forceStop: () => {
      healthService.closeWatches();
      server.forceShutdown();
    },
  };
}

function explainBindError(error: Error): string {
  const text = error.message;
  if (/EADDRINUSE|address already in use/i.test(text)) return 'the port is already in use';
  if (/EACCES/i.test(text)) return 'permission denied';
  return text;
}
