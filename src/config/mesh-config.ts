import { status as Status } from '@grpc/grpc-js';
import { z } from 'zod';
import { statusCodeSchema, type StatusName } from '../call/status.js';
import { breakerConfigSchema } from '../interceptors/breaker/circuit-breaker.js';
import { deadlineConfigSchema } from '../interceptors/deadline.js';
import { loggingConfigSchema } from '../interceptors/logging.js';
import { retryConfigSchema } from '../interceptors/retry/retry.js';
import { parseEndpointAddress } from './address.js';
import { checkTraffic, labelsSchema, routeSchema, subsetsSchema } from './traffic.js';
import { HOUR, MAX_WEIGHT, MINUTE, count, durationMs, percent } from '../schema/bounds.js';
import { plainConfigData } from '../schema/plain-data.js';
import { resolveWith } from '../schema/validate.js';

export const endpointSchema = z.strictObject({
  name: z.string().min(1).max(200),
  /** "host:port" (RFC 1123 host name or IPv4) or "[ipv6]:port", port 1-65535; normalised. */
  address: z.string().transform((text, context) => {
    const parsed = parseEndpointAddress(text);
    if (typeof parsed !== 'string') return parsed.normalized;
    context.addIssue({ code: 'custom', message: parsed, input: text });
    return z.NEVER;
  }),
  weight: z.number().finite().min(0).max(MAX_WEIGHT).default(1),
  priority: count(0, 100).default(0),
  /** With TLS: the name this endpoint's certificate must carry, when it is not the service's `tls.serverName` or the address's host. */
  serverName: z.string().min(1).max(253).optional(),
  /** `{ "version": "v2", "zone": "eu-1a" }`: what subsets select and zone-aware routing reads. */
  labels: labelsSchema.optional(),
});

export const HEALTH_CHECK_DEFAULTS = Object.freeze({
  enabled: true,
  serviceName: '',
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  idleProbeIntervalMs: 60_000,
});

export const healthCheckSchema = z.strictObject({
  enabled: z.boolean().default(HEALTH_CHECK_DEFAULTS.enabled),
  serviceName: z.string().default(HEALTH_CHECK_DEFAULTS.serviceName),
  /** 0 turns the Check probe off; else 100 ms to 1 h (faster would be load, not a check). */
  probeIntervalMs: durationMs(0, HOUR)
    .refine((ms) => ms === 0 || ms >= 100, 'must be 0 (no probe) or at least 100 ms')
    .default(HEALTH_CHECK_DEFAULTS.probeIntervalMs),
  probeTimeoutMs: durationMs(10, MINUTE).default(HEALTH_CHECK_DEFAULTS.probeTimeoutMs),
  /** With no call in flight: a probe after this long without a word from the endpoint; 0 = none. */
  idleProbeIntervalMs: durationMs(0, HOUR)
    .refine((ms) => ms === 0 || ms >= 1000, 'must be 0 (no idle probe) or at least 1000 ms')
    .default(HEALTH_CHECK_DEFAULTS.idleProbeIntervalMs),
});

export const EJECTION_DEFAULTS = Object.freeze({
  enabled: true,
  consecutiveFailures: 5,
  baseEjectionMs: 1000,
  maxEjectionMs: 10_000,
  failureCodes: ['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'INTERNAL', 'UNKNOWN', 'DATA_LOSS'] as StatusName[],
});

const ejectionSchema = z
  .strictObject({
    enabled: z.boolean().default(EJECTION_DEFAULTS.enabled),
    consecutiveFailures: count(1, 1000).default(EJECTION_DEFAULTS.consecutiveFailures),
    baseEjectionMs: durationMs(10, HOUR).default(EJECTION_DEFAULTS.baseEjectionMs),
    maxEjectionMs: durationMs(10, HOUR).default(EJECTION_DEFAULTS.maxEjectionMs),
    failureCodes: z.array(statusCodeSchema).default(EJECTION_DEFAULTS.failureCodes.map((name) => Status[name])),
  })
  .refine((e) => e.baseEjectionMs <= e.maxEjectionMs, {
    message: 'baseEjectionMs must not exceed maxEjectionMs',
    path: ['baseEjectionMs'],
  });

export const SLOW_START_DEFAULTS = Object.freeze({ windowMs: 1000, minWeightPercent: 10 });

const slowStartSchema = z.strictObject({
  /** 0 turns slow start off. */
  windowMs: durationMs(0, HOUR).default(SLOW_START_DEFAULTS.windowMs),
  minWeightPercent: z.number().finite().min(1).max(100).default(SLOW_START_DEFAULTS.minWeightPercent),
});

export const BALANCER_DEFAULTS = Object.freeze({
  overprovisioningFactor: 1.4,
  panicThresholdPercent: 0,
  policy: 'weighted',
  removalGraceMs: 10_000,
});

/** Linkerd's default RTT estimate for an endpoint not heard from (30 ms); a decay short enough to re-try a recovered endpoint within a second or two. */
export const EWMA_DEFAULTS = Object.freeze({ decayMs: 300, defaultRttMs: 30, penaltyMs: 1000, toleranceMs: 5 });

const ewmaSchema = z.strictObject({
  /** τ of the peak-EWMA: how fast a slow estimate fades when faster answers (or none) follow. */
  decayMs: durationMs(10, MINUTE).default(EWMA_DEFAULTS.decayMs),
  /** The estimate of an endpoint with no answer yet. */
  defaultRttMs: durationMs(0, MINUTE).default(EWMA_DEFAULTS.defaultRttMs),
  /** A RESOURCE_EXHAUSTED or pushback answer counts as at least this slow (Linkerd's load biaser). */
  penaltyMs: durationMs(0, MINUTE).default(EWMA_DEFAULTS.penaltyMs),
  /** Cost differences (ms × calls) below this are noise: the configured split decides. */
  toleranceMs: durationMs(0, MINUTE).default(EWMA_DEFAULTS.toleranceMs),
});

export const balancerSchema = z.strictObject({
  ejection: ejectionSchema.default(() => ejectionSchema.parse({})),
  slowStart: slowStartSchema.default(() => slowStartSchema.parse({})),
  overprovisioningFactor: z.number().finite().min(1).max(10).default(BALANCER_DEFAULTS.overprovisioningFactor),
  panicThresholdPercent: percent().default(BALANCER_DEFAULTS.panicThresholdPercent),
  /**
   * Inside a tier: "weighted" (EDF by weight, exact split) or "p2c_ewma" (power of two
   * choices by peak-EWMA latency × load, draws by weight: steers away from a slow endpoint).
   */
  policy: z.enum(['weighted', 'p2c_ewma']).default(BALANCER_DEFAULTS.policy),
  ewma: ewmaSchema.default(() => ewmaSchema.parse({})),
  /**
   * Make before break: endpoints an update removes keep serving, as a tier below every other,
   * the traffic the endpoints that stay cannot take yet (new ones still connecting or warming
   * up), for at most this long. 0 removes them at once.
   */
  removalGraceMs: durationMs(0, HOUR).default(BALANCER_DEFAULTS.removalGraceMs),
});

/**
 * Options of the client layers, as JSON: each layer's own config schema (its options without
 * the functions and objects only code can pass), so the config and the code API validate
 * alike and the config's types are the layers' own.
 */
const clientSchema = z.strictObject({
  logging: loggingConfigSchema.optional(),
  deadline: deadlineConfigSchema.optional(),
  retry: retryConfigSchema.optional(),
  breaker: breakerConfigSchema.optional(),
});

/** etcd as a service's endpoint source (see src/discovery). */
export const ETCD_DEFAULTS = Object.freeze({ dialTimeoutMs: 2000 });

const etcdSchema = z.strictObject({
  /** The cluster's client endpoints: "127.0.0.1:2379", "https://etcd-0.internal:2379". */
  endpoints: z
    .array(z.string().regex(/^(https?:\/\/)?[^\s/@]+:\d{1,5}$/, 'must be "host:port" or "http(s)://host:port" (credentials go in `auth`)'))
    .min(1, 'must list at least one etcd endpoint')
    .max(100),
  /** Keys `<prefix>/<id>` hold the endpoints, in etcd's gRPC naming format. */
  prefix: z
    .string()
    .min(1)
    .max(1024)
    .refine((prefix) => !prefix.endsWith('/'), 'must not end with "/" (keys are "<prefix>/<id>")'),
  tls: z
    .strictObject({ caFile: z.string().min(1), certFile: z.string().min(1).optional(), keyFile: z.string().min(1).optional() })
    .refine((tls) => (tls.certFile === undefined) === (tls.keyFile === undefined), 'certFile and keyFile go together')
    .optional(),
  auth: z.strictObject({ username: z.string().min(1), password: z.string().min(1) }).optional(),
  dialTimeoutMs: durationMs(100, MINUTE).default(ETCD_DEFAULTS.dialTimeoutMs),
});

export const DNS_DEFAULTS = Object.freeze({ refreshMs: 30_000 });

/** How endpoint host names are resolved (each becomes one endpoint per A/AAAA record). */
const dnsSchema = z.strictObject({
  refreshMs: durationMs(1000, HOUR).default(DNS_DEFAULTS.refreshMs),
  /** DNS servers to ask, "ip" or "ip:port"; default the system resolver (with /etc/hosts). */
  servers: z
    .array(z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[0-9.]+)(:\d{1,5})?$|^[0-9a-fA-F:]+$/, 'must be an IP address, optionally with ":port"'))
    .min(1)
    .max(10)
    .optional(),
});

const discoverySchema = z.strictObject({
  etcd: etcdSchema.optional(),
  dns: dnsSchema.optional(),
});

/** TLS to a service's endpoints; the files are re-read and a bad version refused. */
const tlsSchema = z
  .strictObject({
    caFile: z.string().min(1),
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** The name every endpoint's certificate must carry; default each endpoint's own host (its IP, or the name it was resolved from). */
    serverName: z.string().min(1).max(253).optional(),
    /**
     * Identities the servers' certificates must carry instead of a host name: SPIFFE/URI SANs
     * ("spiffe://mesh/ns/orders/sa/orders") or DNS SANs, as Linkerd and Istio issue them.
     */
    identities: z.array(z.string().min(1)).min(1).max(100).optional(),
    refreshMs: durationMs(100, HOUR).default(1000),
  })
  .refine((tls) => (tls.certFile === undefined) === (tls.keyFile === undefined), 'certFile and keyFile go together');

const serviceSchema = z
  .strictObject({
    /** Listed endpoints; with a discovery source, those found there come on top. */
    endpoints: z.array(endpointSchema).max(10_000).optional(),
    discovery: discoverySchema.optional(),
    tls: tlsSchema.optional(),
    healthCheck: healthCheckSchema.default(() => healthCheckSchema.parse({})),
    balancer: balancerSchema.default(() => balancerSchema.parse({})),
    client: clientSchema.optional(),
    /** Named label selectors: `{ "v1": { "version": "v1" } }`. Each balances on its own. */
    subsets: subsetsSchema.optional(),
    /** Ordered: the first route whose match a call meets takes it; no route matching, the whole service. */
    routes: z.array(routeSchema).max(100).optional(),
  })
  .superRefine((service, context) => {
    checkTraffic(service, context);
    const endpoints = service.endpoints ?? [];
    if (endpoints.length === 0 && service.discovery?.etcd === undefined) {
      // Left out shows as "got nothing", not as the empty list a default would have put there.
      context.addIssue({
        code: 'custom',
        path: ['endpoints'],
        message: 'must list at least one endpoint (or name a discovery source)',
        input: service.endpoints,
      });
    }
    if (endpoints.length > 0 && endpoints.every((endpoint) => endpoint.weight === 0) && service.discovery?.etcd === undefined) {
      // Weight 0 drains one endpoint; all of them would fail every call, like an empty list.
      const weights = endpoints.map((endpoint) => endpoint.weight);
      context.addIssue({
        code: 'custom',
        path: ['endpoints'],
        message: 'every endpoint has weight 0 (drained), so every call would fail: leave at least one with a weight',
        input: weights,
      });
    }
    const seen = new Map<string, number>();
    endpoints.forEach((endpoint, index) => {
      const first = seen.get(endpoint.address);
      if (first !== undefined) {
        context.addIssue({
          code: 'custom',
          path: ['endpoints', index, 'address'],
          message: `duplicate address (also endpoints[${first}])`,
          input: endpoint.address,
        });
      } else {
        seen.set(endpoint.address, index);
      }
    });
  })
  .transform((service) => ({ ...service, endpoints: service.endpoints ?? [] }));

export const meshConfigSchema = z.strictObject({
  services: z.record(z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be a plain service name'), serviceSchema),
});

export type MeshConfig = z.output<typeof meshConfigSchema>;
/** What a config file or object may contain: defaults fill everything left out. */
export type MeshConfigInput = z.input<typeof meshConfigSchema>;
export type ServiceConfig = MeshConfig['services'][string];
export type EndpointConfig = ServiceConfig['endpoints'][number];
export type HealthCheckConfig = ServiceConfig['healthCheck'];
export type BalancerConfig = ServiceConfig['balancer'];
export type ClientConfig = NonNullable<ServiceConfig['client']>;
export type TlsConfig = NonNullable<ServiceConfig['tls']>;
export type EtcdDiscoveryConfig = NonNullable<NonNullable<ServiceConfig['discovery']>['etcd']>;

/**
 * Validates a mesh config document and fills in defaults. Throws a ConfigError naming every
 * bad field and its value, e.g. `services.orders.endpoints[0].weight: too small: expected
 * number to be >=0, got -5`.
 */
export function parseMeshConfig(input: unknown, where = 'mesh config'): MeshConfig {
  return resolveWith(meshConfigSchema, plainConfigData(input, where), where) as MeshConfig;
}
