// The client stacks the benchmark compares, against the same backends.
import * as grpc from '@grpc/grpc-js';
import type { MeterProvider } from '@opentelemetry/api';
import { createLogger, createMesh, type MeshConfigInput } from 'grpc-meshlite';
import type { MirrorSnapshot } from 'grpc-meshlite/layers';
import { exampleConfig } from '../examples/client.js';
import { OrderClient } from '../examples/orders.js';

export type StackName =
  | 'grpc-meshlite'
  | 'grpc-meshlite mTLS'
  | 'grpc-meshlite + Prometheus'
  | 'grpc-meshlite weighted, no hedging'
  | 'grpc-meshlite p2c_ewma, no hedging'
  | 'plain grpc-js'
  | 'bare grpc-js'
  | 'bare grpc-js + an empty interceptor'
  | `layers: ${string}`
  | `traffic: ${string}`;

export interface Stack {
  readonly name: StackName;
  readonly client: OrderClient;
  /** What the stack's mirrors did, when it has routes. */
  mirrors?(): MirrorSnapshot | undefined;
  close(): void;
}

/** grpc-meshlite with the whole client stack, configured by examples/mesh.json. */
export function meshliteStack(
  addresses: Record<string, string>,
  options: {
    equalWeights?: boolean;
    tls?: NonNullable<MeshConfigInput['services'][string]['tls']>;
    meterProvider?: MeterProvider;
    /** The balancing policy inside a tier, with hedging and the per-attempt timeout off (the latency scenario). */
    policy?: 'weighted' | 'p2c_ewma';
    /** Endpoints examples/mesh.json does not list (its ServiceA and ServiceB), by name: a standby tier. */
    added?: Readonly<Record<string, { readonly weight: number; readonly priority: number }>>;
    /** The name in the results, when not derived from the options (a scenario over mTLS is still "grpc-meshlite"). */
    name?: StackName;
  } = {},
): Stack {
  // Logs at warn to nowhere: the cost of the logging layer stays in, the terminal stays readable.
  const logger = createLogger({ level: 'warn', destination: { write: () => {} } });
  const config = exampleConfig(addresses);
  if (options.equalWeights) {
    for (const endpoint of config.services['orders']!.endpoints ?? []) endpoint.weight = 50;
  }
  for (const [name, { weight, priority }] of Object.entries(options.added ?? {})) {
    config.services['orders']!.endpoints!.push({ name, address: addresses[name]!, weight, priority });
  }
  if (options.tls) config.services['orders']!.tls = options.tls;
  if (options.policy) {
    const orders = config.services['orders']!;
    orders.balancer = { ...orders.balancer, policy: options.policy };
    const retry = orders.client?.retry;
    if (retry && typeof retry === 'object') {
      const methods = { ...retry.methods };
      for (const [method, policy] of Object.entries(methods)) methods[method] = { ...policy, hedging: undefined };
      retry.methods = JSON.parse(JSON.stringify(methods)) as typeof methods;
      // No per-attempt timeout either: cutting slow attempts and retrying elsewhere would hide
      // what the balancer does by itself.
      delete retry.perAttemptTimeoutMs;
    }
  }
  const mesh = createMesh({ config, logger, ...(options.meterProvider && { meterProvider: options.meterProvider }) });
  const client = mesh.client(OrderClient, 'orders');
  return {
    name:
      options.name ??
      (options.tls
        ? 'grpc-meshlite mTLS'
        : options.meterProvider
          ? 'grpc-meshlite + Prometheus'
          : options.policy
            ? (`grpc-meshlite ${options.policy}, no hedging` as const)
            : 'grpc-meshlite'),
    client,
    close: () => {
      client.close();
      mesh.close();
    },
  };
}

const retryPolicy = {
  maxAttempts: 3,
  initialBackoff: '0.025s',
  maxBackoff: '0.25s',
  backoffMultiplier: 2,
  retryableStatusCodes: ['UNAVAILABLE'],
};

/**
 * Plain grpc-js as an expert would set it up: round_robin under outlier_detection tuned to a
 * 1 s interval (failure-percentage ejection, the only kind that works with two hosts; base
 * ejection 1 s instead of the default 30 s), the built-in retryPolicy, the same deadlines as
 * the mesh (1 s GetOrder, 2 s otherwise), keepalive to notice a hung backend, and the same
 * reconnect backoff the mesh uses. Durations are {seconds, nanos} objects: grpc-js silently
 * drops an outlier_detection entry whose durations are strings.
 */
export const EXPERT_SERVICE_CONFIG = {
  loadBalancingConfig: [
    {
      outlier_detection: {
        interval: { seconds: 1, nanos: 0 },
        base_ejection_time: { seconds: 1, nanos: 0 },
        max_ejection_time: { seconds: 10, nanos: 0 },
        max_ejection_percent: 50,
        failure_percentage_ejection: { threshold: 50, enforcement_percentage: 100, minimum_hosts: 2, request_volume: 10 },
        child_policy: [{ round_robin: {} }],
      },
    },
  ],
  methodConfig: [
    { name: [{ service: 'orders.v1.OrderService', method: 'GetOrder' }], timeout: '1s', retryPolicy },
    { name: [{ service: 'orders.v1.OrderService' }], timeout: '2s', retryPolicy },
  ],
};

export function plainStack(addresses: Record<string, string>, credentials = grpc.credentials.createInsecure()): Stack {
  const client = new OrderClient(`ipv4:${Object.values(addresses).join(',')}`, credentials, {
    'grpc.service_config': JSON.stringify(EXPERT_SERVICE_CONFIG),
    'grpc.keepalive_time_ms': 1000,
    'grpc.keepalive_timeout_ms': 500,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 300,
  });
  return { name: 'plain grpc-js', client, close: () => client.close() };
}

/**
 * Mutual TLS from files that rotate, the grpc-js way: its own file-watching certificate
 * provider (`experimental.FileWatcherCertificateProvider`, what its xDS support uses for
 * `file_watcher` certificates), re-reading the files every second as the mesh does. New
 * connections use the latest files; unlike the mesh's, it takes a new pair unchecked.
 */
export function plainTlsCredentials(files: {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}): grpc.ChannelCredentials {
  const provider = new grpc.experimental.FileWatcherCertificateProvider({
    caCertificateFile: files.caFile,
    certificateFile: files.certFile,
    privateKeyFile: files.keyFile,
    refreshIntervalMs: 1000,
  });
  return grpc.experimental.createCertificateProviderChannelCredentials(provider, provider);
}

/** grpc-js with nothing added (round_robin only): the floor for the overhead run. */
export function bareStack(addresses: Record<string, string>): Stack {
  const client = new OrderClient(`ipv4:${Object.values(addresses).join(',')}`, grpc.credentials.createInsecure(), {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  });
  return { name: 'bare grpc-js', client, close: () => client.close() };
}

/**
 * Bare grpc-js with one interceptor that does nothing, as grpc-js's interceptor guide writes
 * it (`new InterceptingCall(nextCall(options))`): what grpc-js's interceptor path costs by
 * itself, the floor under any interceptor-based stack.
 */
export function emptyInterceptorStack(addresses: Record<string, string>): Stack {
  const client = new OrderClient(`ipv4:${Object.values(addresses).join(',')}`, grpc.credentials.createInsecure(), {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    interceptors: [(options, nextCall) => new grpc.InterceptingCall(nextCall(options))],
  });
  return { name: 'bare grpc-js + an empty interceptor', client, close: () => client.close() };
}

/** The layers the layers run adds one at a time, in this order, over the mesh's balancer alone. */
export const LAYER_STEPS = [
  'balancer',
  '+ health checking',
  '+ deadline',
  '+ circuit breaker',
  '+ retry and hedging',
  '+ logging',
] as const;
export type LayerStep = (typeof LAYER_STEPS)[number];

/**
 * grpc-meshlite with the layers up to `step` (examples/mesh.json's settings, equal weights): the
 * balancer alone with no health checking, then health checking, deadline, breaker, retry and
 * hedging, logging — the last is the full client (metrics are left out: no SDK).
 */
export function layeredStack(addresses: Record<string, string>, step: LayerStep): Stack {
  const upTo = LAYER_STEPS.indexOf(step);
  const on = (layer: LayerStep) => LAYER_STEPS.indexOf(layer) <= upTo;
  const logger = createLogger({ level: 'warn', destination: { write: () => {} } });
  const config = exampleConfig(addresses);
  const orders = config.services['orders']!;
  for (const endpoint of orders.endpoints ?? []) endpoint.weight = 50;
  if (!on('+ health checking')) orders.healthCheck = { enabled: false };
  const mesh = createMesh({ config, logger });
  const client = mesh.client(OrderClient, 'orders', {
    stack: {
      metrics: false,
      ...(!on('+ deadline') && { deadline: false }),
      ...(!on('+ circuit breaker') && { breaker: false }),
      ...(!on('+ retry and hedging') && { retry: false }),
      ...(!on('+ logging') && { logging: false }),
    },
  });
  return {
    name: `layers: ${step}`,
    client,
    close: () => {
      client.close();
      mesh.close();
    },
  };
}
