// One order backend (ServiceA or ServiceB) as a server: orders + grpc.health.v1 + drain.
import * as grpc from '@grpc/grpc-js';
import {
  HealthService,
  HealthState,
  createServerStack,
  drainServer,
  registerInEtcd,
  serverTls,
  type EtcdRegistration,
  serveWhenReady,
  type DrainOptions,
  type DrainResult,
  type Logger,
  type ServerStack,
} from 'grpc-meshlite';
import { toGrpcServerInterceptor } from 'grpc-meshlite/layers';
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
  /** Calls run at once before load shedding refuses more. Default 256. */
  readonly maxConcurrent?: number;
  /** Time the backend takes to get ready; it reports NOT_SERVING until then. Default 0. */
  readonly warmupMs?: number;
  /** Decides which calls `faults.failRate` fails. Default Math.random (tests pass a seeded one). */
  readonly random?: () => number;
  /**
   * Serve over mutual TLS from these files (watched), letting in only callers whose
   * certificates carry one of `allow` (SPIFFE/URI or DNS names); health stays open.
   */
  readonly tls?: { readonly caFile: string; readonly certFile: string; readonly keyFile: string; readonly allow: readonly string[] };
  /**
   * Closes each connection after this long (±10 % jitter, grpc-js's `grpc.max_connection_age_ms`):
   * a GOAWAY, then `graceMs` (default: no limit) for the calls still running before the
   * connection is cut, as grpc-go's MaxConnectionAge/MaxConnectionAgeGrace. Default: connections live on.
   */
  readonly maxConnectionAge?: { readonly ms: number; readonly graceMs?: number };
  /** Registers itself in etcd once ready (and deregisters first when it drains). */
  readonly etcd?: { readonly endpoints: string[]; readonly prefix: string; readonly weight?: number; readonly ttlSeconds?: number };
}

export interface Backend {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  readonly server: grpc.Server;
  readonly health: HealthState;
  readonly stack: ServerStack;
  /** Calls that reached this backend, per method (health checks not counted). */
  readonly received: Record<string, number>;
  /** Resolves when the backend reports SERVING (and, with `etcd`, has tried to register). */
  readonly ready: Promise<unknown>;
  /** Its etcd registration, once made. */
  registration(): EtcdRegistration | undefined;
  /** Live fault settings: change them and the next call sees it. */
  readonly faults: Faults;
  /** SERVING <-> NOT_SERVING for every service, as `kill -USR2` does. Returns the new status. */
  toggleHealth(): 'SERVING' | 'NOT_SERVING';
  /** Graceful drain: NOT_SERVING, grace period, shutdown, forced after the hard limit. */
  drain(): Promise<DrainResult>;
  /** Immediate stop, for tests. */
  forceStop(): void;
  /**
   * Stops accepting connections (open ones stay) or listens again on the same port: a
   * backend that is not up yet, as a client starting before it sees it.
   */
  listen(listening: boolean): Promise<void>;
}

/** A port conflict or any other reason the backend could not listen, as one clear sentence. */
export class ListenError extends Error {
  override name = 'ListenError';
}

export async function startBackend(options: BackendOptions): Promise<Backend> {
  const { name, logger } = options;
  const faults: Faults = { failRate: 0, latencyMs: 0, replyDelayMs: 0, silentMethods: [], failWithoutHeader: undefined, ...options.faults };
  // NOT_SERVING until ready: health-checking clients send nothing before that.
  const health = new HealthState({ '': 'NOT_SERVING', [ORDER_SERVICE_NAME]: 'NOT_SERVING' });
  const healthService = new HealthService(health);
  // The inbound side of the mesh: logging → deadline → idempotency → load shedding.
  const stack = createServerStack({
    logger,
    logging: { successLevel: 'debug' },
    idempotency: { methods: [`${ORDER_SERVICE_NAME}/CreateOrder`], ttlMs: 120_000 },
    loadShedding: { maxConcurrent: options.maxConcurrent ?? 256, serverName: name },
    ...(options.tls && { authorization: { allow: { [ORDER_SERVICE_NAME]: [...options.tls.allow] } } }),
  });
  const tls =
    options.tls && serverTls({ caFile: options.tls.caFile, certFile: options.tls.certFile, keyFile: options.tls.keyFile }, { logger });
  const credentials = tls?.credentials ?? grpc.ServerCredentials.createInsecure();
  // Counts every call that reaches the backend (benchmarks derive retry amplification from it).
  const received: Record<string, number> = {};
  const counting = toGrpcServerInterceptor((next) => (call) => {
    if (call.method.service === ORDER_SERVICE_NAME) received[call.method.name] = (received[call.method.name] ?? 0) + 1;
    return next(call);
  });
  const server = new grpc.Server({
    interceptors: [counting, ...stack.interceptors],
    // Clients of the mesh may send keepalive pings to notice a hung backend quickly.
    'grpc.keepalive_permit_without_calls': 1,
    ...(options.maxConnectionAge && { 'grpc.max_connection_age_ms': options.maxConnectionAge.ms }),
    ...(options.maxConnectionAge?.graceMs !== undefined && { 'grpc.max_connection_age_grace_ms': options.maxConnectionAge.graceMs }),
  });
  server.addService(orderServiceDefinition, createOrderService({ name, store: options.store, faults, logger, random: options.random }));
  healthService.addTo(server);
  health.onChange(({ service, status }) => logger.info({ service: service || '(server)', status }, 'health changed'));

  const address = `127.0.0.1:${options.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, credentials, (error, boundPort) => {
      if (error) reject(new ListenError(`${name}: cannot listen on ${address}: ${explainBindError(error)}`));
      else resolve(boundPort);
    });
  });
  logger.info({ port, pid: process.pid }, 'listening');
  const warmupMs = options.warmupMs ?? 0;
  let registration: EtcdRegistration | undefined;
  const ready = serveWhenReady(health, () => new Promise((resolve) => setTimeout(resolve, warmupMs)), { logger }).then(async (value) => {
    // In the rotation only once it can serve: register after getting ready.
    if (options.etcd) {
      const { endpoints, prefix, weight, ttlSeconds } = options.etcd;
      registration = await registerInEtcd({
        etcd: { endpoints },
        prefix,
        address: `127.0.0.1:${port}`,
        name,
        id: name,
        weight,
        ttlSeconds,
        logger,
      });
    }
    return value;
  });

  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    server,
    health,
    stack,
    received,
    ready,
    registration: () => registration,
    faults,
    toggleHealth() {
      const next = health.get('') === 'SERVING' ? 'NOT_SERVING' : 'SERVING';
      health.setAll(next);
      return next;
    },
    drain: () =>
      drainServer({ server, health, healthService, registration, stack }, options.drain, (phase) => logger.info({ phase }, 'drain')),
    forceStop: () => {
      void registration?.deregister();
      tls?.provider.close();
      healthService.closeWatches();
      server.forceShutdown();
    },
    listen: async (listening) => {
      const where = `127.0.0.1:${port}`;
      if (!listening) return server.unbind(where);
      await new Promise<void>((resolve, reject) => server.bindAsync(where, credentials, (error) => (error ? reject(error) : resolve())));
    },
  };
}

function explainBindError(error: Error): string {
  const text = error.message;
  if (/EADDRINUSE|address already in use/i.test(text)) return 'the port is already in use';
  if (/EACCES/i.test(text)) return 'permission denied';
  return text;
}
