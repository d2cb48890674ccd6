import type { ServerInterceptor } from '@grpc/grpc-js';
import type { Clock } from '../clock.js';
import type { Logger } from '../observability/logger.js';
import { toGrpcServerInterceptor } from './adapter.js';
import { authorizationLayer, type AuthorizationOptions } from './authorization.js';
import { serverDeadlineLayer } from './deadline.js';
import { idempotencyLayer, type IdempotencyLayer, type IdempotencyOptions } from './idempotency.js';
import { loadSheddingLayer, type LoadSheddingLayer, type LoadSheddingOptions } from './load-shedding.js';
import { serverLoggingLayer, type ServerLoggingOptions } from './logging.js';
import type { DrainPhase } from './drain.js';
import { observeServerState, serverMetricsLayer, type ServerMetricsOptions } from './metrics.js';
import { serverTracingLayer, type ServerTracingOptions } from './tracing.js';
import { composeLayers } from '../call/compose.js';
import type { ServerLayer } from './types.js';

/**
 * The documented order of the server layers, outermost first:
 * - metrics (when recording) count and time every call;
 * - tracing (when recording) spans every call, as the child of the client's attempt, and runs
 *   the handler in its context; logging writes its trace id;
 * - logging sees every call, refused ones included, and sets the request id first;
 * - authorization refuses a caller without a verified identity, or not on the list, before
 *   anything else is spent on it;
 * - deadline refuses a call nobody waits for any more before it costs anything;
 * - idempotency replays a remembered answer before it takes a concurrency slot;
 * - load shedding guards the handler itself.
 */
export const SERVER_LAYER_ORDER = ['metrics', 'tracing', 'logging', 'authorization', 'deadline', 'idempotency', 'load-shedding'] as const;
export type ServerLayerName = (typeof SERVER_LAYER_ORDER)[number];

export interface ServerStackOptions {
  /** Shared by the layers that log. Default: no logs. */
  logger?: Logger;
  /** Shared by the layers that keep time. Default: the system clock. */
  clock?: Clock;
  /** gRPC's standard server metrics (A66); on whenever a meter provider is registered (or given). false leaves it out. */
  metrics?: ServerMetricsOptions | false;
  /** A span per handled call (gRPC A72); on whenever a tracer provider is registered (or given). false leaves it out. */
  tracing?: ServerTracingOptions | false;
  /** false leaves a layer out. */
  logging?: Omit<ServerLoggingOptions, 'logger'> | false;
  /** Who may call what (mutual TLS identities). Default: no authorization layer. */
  authorization?: Omit<AuthorizationOptions, 'logger'>;
  deadline?: false;
  idempotency?: Omit<IdempotencyOptions, 'clock'> | false;
  loadShedding?: LoadSheddingOptions | false;
}

export interface NamedServerLayer {
  readonly name: ServerLayerName;
  readonly layer: ServerLayer;
}

/** The enabled layers in SERVER_LAYER_ORDER, each built from its options. */
export function serverLayers(options: ServerStackOptions = {}): NamedServerLayer[] {
  const { logger, clock } = options;
  const layers: NamedServerLayer[] = [];
  const metrics = options.metrics === false ? undefined : serverMetricsLayer(options.metrics);
  if (metrics) layers.push({ name: 'metrics', layer: metrics });
  const tracing = options.tracing === false ? undefined : serverTracingLayer(options.tracing);
  if (tracing) layers.push({ name: 'tracing', layer: tracing });
  if (options.logging !== false) layers.push({ name: 'logging', layer: serverLoggingLayer({ logger, ...options.logging }) });
  if (options.authorization) layers.push({ name: 'authorization', layer: authorizationLayer({ logger, ...options.authorization }) });
  if (options.deadline !== false) layers.push({ name: 'deadline', layer: serverDeadlineLayer({ clock }) });
  if (options.idempotency !== false) layers.push({ name: 'idempotency', layer: idempotencyLayer({ clock, ...options.idempotency }) });
  if (options.loadShedding !== false) layers.push({ name: 'load-shedding', layer: loadSheddingLayer(options.loadShedding) });
  return layers;
}

export interface ServerStack {
  /** Pass as `interceptors` in the grpc-js Server options. */
  readonly interceptors: ServerInterceptor[];
  readonly layers: readonly NamedServerLayer[];
  readonly idempotency: IdempotencyLayer | undefined;
  readonly loadShedding: LoadSheddingLayer | undefined;
  /** `drainServer({ stack })` reports each phase here: the `meshlite.server.drain.phase` gauge reads it. */
  reportDrain(phase: DrainPhase): void;
  /** The drain phase reported last ('serving' before any). */
  readonly drainPhase: DrainPhase | 'serving';
  /** Stops reading the server's state into metrics. */
  close(): void;
}

/**
 * The inbound side of the mesh as grpc-js server interceptors.
 *
 * @example
 *   const stack = createServerStack({ logger, loadShedding: { maxConcurrent: 64 } });
 *   const server = new grpc.Server({ interceptors: stack.interceptors });
 */
export function createServerStack(options: ServerStackOptions = {}): ServerStack {
  const layers = serverLayers(options);
  const find = <T>(name: ServerLayerName) => layers.find((entry) => entry.name === name)?.layer as T | undefined;
  const idempotency = find<IdempotencyLayer>('idempotency');
  const loadShedding = find<LoadSheddingLayer>('load-shedding');
  let drainPhase: DrainPhase | 'serving' = 'serving';
  const stopObserving =
    options.metrics === false
      ? undefined
      : observeServerState(options.metrics ?? {}, {
          ...(loadShedding && { shed: loadShedding.shed, limit: loadShedding.limit }),
          ...(idempotency && { replays: idempotency.replays }),
          drainPhase: () => drainPhase,
        });
  return {
    interceptors: [toGrpcServerInterceptor(composeLayers(...layers.map((entry) => entry.layer)))],
    layers,
    idempotency,
    loadShedding,
    reportDrain: (phase) => {
      drainPhase = phase;
    },
    get drainPhase() {
      return drainPhase;
    },
    close: () => stopObserving?.(),
  };
}
