import { status as Status } from '@grpc/grpc-js';
import * as z from 'zod/mini';
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
  name: z.string().check(z.minLength(1), z.maxLength(200)),
  /** "host:port" (RFC 1123 host name or IPv4) or "[ipv6]:port", port 1-65535; normalised. */
  address: z.pipe(
    z.string(),
    z.transform((text, context) => {
      const parsed = parseEndpointAddress(text);
      if (typeof parsed !== 'string') return parsed.normalized;
      context.issues.push({ code: 'custom', message: parsed, input: text });
      return z.NEVER;
    }),
  ),
  weight: z._default(z.number().check(z.minimum(0), z.maximum(MAX_WEIGHT)), 1),
  priority: z._default(count(0, 100), 0),
  /** With TLS: the name this endpoint's certificate must carry, when it is not the service's `tls.serverName` or the address's host. */
  serverName: z.optional(z.string().check(z.minLength(1), z.maxLength(253))),
  /** `{ "version": "v2", "zone": "eu-1a" }`: what subsets select and zone-aware routing reads. */
  labels: z.optional(labelsSchema),
});

export const HEALTH_CHECK_DEFAULTS = Object.freeze({
  enabled: true,
  serviceName: '',
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  idleProbeIntervalMs: 60_000,
  idleProbesPerSecond: 2,
});

export const healthCheckSchema = z.strictObject({
  enabled: z._default(z.boolean(), HEALTH_CHECK_DEFAULTS.enabled),
  serviceName: z._default(z.string(), HEALTH_CHECK_DEFAULTS.serviceName),
  /** 0 turns the Check probe off; else 100 ms to 1 h (faster would be load, not a check). */
  probeIntervalMs: z._default(
    durationMs(0, HOUR).check(z.refine((ms) => ms === 0 || ms >= 100, 'must be 0 (no probe) or at least 100 ms')),
    HEALTH_CHECK_DEFAULTS.probeIntervalMs,
  ),
  probeTimeoutMs: z._default(durationMs(10, MINUTE), HEALTH_CHECK_DEFAULTS.probeTimeoutMs),
  /** With no call in flight: a probe after this long without a word from the endpoint; 0 = none. */
  idleProbeIntervalMs: z._default(
    durationMs(0, HOUR).check(z.refine((ms) => ms === 0 || ms >= 1000, 'must be 0 (no idle probe) or at least 1000 ms')),
    HEALTH_CHECK_DEFAULTS.idleProbeIntervalMs,
  ),
  /**
   * At most this many idle probes a second over the service's endpoints: a probe costs the
   * client ≈ 1 ms of CPU, so past idleProbeIntervalMs × this many endpoints the idle period
   * stretches (1,000 endpoints: one probe each per 500 s on average) instead of the idle cost growing.
   */
  idleProbesPerSecond: z._default(z.number().check(z.minimum(0.01), z.maximum(10_000)), HEALTH_CHECK_DEFAULTS.idleProbesPerSecond),
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
    enabled: z._default(z.boolean(), EJECTION_DEFAULTS.enabled),
    consecutiveFailures: z._default(count(1, 1000), EJECTION_DEFAULTS.consecutiveFailures),
    baseEjectionMs: z._default(durationMs(10, HOUR), EJECTION_DEFAULTS.baseEjectionMs),
    maxEjectionMs: z._default(durationMs(10, HOUR), EJECTION_DEFAULTS.maxEjectionMs),
    failureCodes: z._default(
      z.array(statusCodeSchema),
      EJECTION_DEFAULTS.failureCodes.map((name) => Status[name]),
    ),
  })
  .check(
    z.refine((e) => e.baseEjectionMs <= e.maxEjectionMs, {
      message: 'baseEjectionMs must not exceed maxEjectionMs',
      path: ['baseEjectionMs'],
    }),
  );

export const SLOW_START_DEFAULTS = Object.freeze({ windowMs: 1000, minWeightPercent: 10 });

const slowStartSchema = z.strictObject({
  /** 0 turns slow start off. */
  windowMs: z._default(durationMs(0, HOUR), SLOW_START_DEFAULTS.windowMs),
  minWeightPercent: z._default(z.number().check(z.minimum(1), z.maximum(100)), SLOW_START_DEFAULTS.minWeightPercent),
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
  decayMs: z._default(durationMs(10, MINUTE), EWMA_DEFAULTS.decayMs),
  /** The estimate of an endpoint with no answer yet. */
  defaultRttMs: z._default(durationMs(0, MINUTE), EWMA_DEFAULTS.defaultRttMs),
  /** A RESOURCE_EXHAUSTED or pushback answer counts as at least this slow (Linkerd's load biaser). */
  penaltyMs: z._default(durationMs(0, MINUTE), EWMA_DEFAULTS.penaltyMs),
  /** Cost differences (ms × calls) below this are noise: the configured split decides. */
  toleranceMs: z._default(durationMs(0, MINUTE), EWMA_DEFAULTS.toleranceMs),
});

export const balancerSchema = z.strictObject({
  ejection: z._default(ejectionSchema, () => ejectionSchema.parse({})),
  slowStart: z._default(slowStartSchema, () => slowStartSchema.parse({})),
  overprovisioningFactor: z._default(z.number().check(z.minimum(1), z.maximum(10)), BALANCER_DEFAULTS.overprovisioningFactor),
  panicThresholdPercent: z._default(percent(), BALANCER_DEFAULTS.panicThresholdPercent),
  /**
   * Inside a tier: "weighted" (EDF by weight, exact split) or "p2c_ewma" (power of two
   * choices by peak-EWMA latency × load, draws by weight: steers away from a slow endpoint).
   */
  policy: z._default(z.enum(['weighted', 'p2c_ewma']), BALANCER_DEFAULTS.policy),
  ewma: z._default(ewmaSchema, () => ewmaSchema.parse({})),
  /**
   * Make before break: endpoints an update removes keep serving, as a tier below every other,
   * the traffic the endpoints that stay cannot take yet (new ones still connecting or warming
   * up), for at most this long. 0 removes them at once.
   */
  removalGraceMs: z._default(durationMs(0, HOUR), BALANCER_DEFAULTS.removalGraceMs),
});

/**
 * Options of the client layers, as JSON: each layer's own config schema (its options without
 * the functions and objects only code can pass), so the config and the code API validate
 * alike and the config's types are the layers' own.
 */
const clientSchema = z.strictObject({
  logging: z.optional(loggingConfigSchema),
  deadline: z.optional(deadlineConfigSchema),
  retry: z.optional(retryConfigSchema),
  breaker: z.optional(breakerConfigSchema),
});

/** etcd as a service's endpoint source (see src/discovery). */
export const ETCD_DEFAULTS = Object.freeze({ dialTimeoutMs: 2000 });

const etcdSchema = z.strictObject({
  /** The cluster's client endpoints: "127.0.0.1:2379", "https://etcd-0.internal:2379". */
  endpoints: z
    .array(
      z
        .string()
        .check(z.regex(/^(https?:\/\/)?[^\s/@]+:\d{1,5}$/, 'must be "host:port" or "http(s)://host:port" (credentials go in `auth`)')),
    )
    .check(z.minLength(1, 'must list at least one etcd endpoint'), z.maxLength(100)),
  /** Keys `<prefix>/<id>` hold the endpoints, in etcd's gRPC naming format. */
  prefix: z.string().check(
    z.minLength(1),
    z.maxLength(1024),
    z.refine((prefix) => !prefix.endsWith('/'), 'must not end with "/" (keys are "<prefix>/<id>")'),
  ),
  tls: z.optional(
    z
      .strictObject({
        caFile: z.string().check(z.minLength(1)),
        certFile: z.optional(z.string().check(z.minLength(1))),
        keyFile: z.optional(z.string().check(z.minLength(1))),
      })
      .check(z.refine((tls) => (tls.certFile === undefined) === (tls.keyFile === undefined), 'certFile and keyFile go together')),
  ),
  auth: z.optional(z.strictObject({ username: z.string().check(z.minLength(1)), password: z.string().check(z.minLength(1)) })),
  dialTimeoutMs: z._default(durationMs(100, MINUTE), ETCD_DEFAULTS.dialTimeoutMs),
});

export const DNS_DEFAULTS = Object.freeze({ refreshMs: 30_000 });

/** How endpoint host names are resolved (each becomes one endpoint per A/AAAA record). */
const dnsSchema = z.strictObject({
  refreshMs: z._default(durationMs(1000, HOUR), DNS_DEFAULTS.refreshMs),
  /** DNS servers to ask, "ip" or "ip:port"; default the system resolver (with /etc/hosts). */
  servers: z.optional(
    z
      .array(
        z
          .string()
          .check(z.regex(/^(\[[0-9a-fA-F:.]+\]|[0-9.]+)(:\d{1,5})?$|^[0-9a-fA-F:]+$/, 'must be an IP address, optionally with ":port"')),
      )
      .check(z.minLength(1), z.maxLength(10)),
  ),
});

const discoverySchema = z.strictObject({
  etcd: z.optional(etcdSchema),
  dns: z.optional(dnsSchema),
});

/** TLS to a service's endpoints; the files are re-read and a bad version refused. */
const tlsSchema = z
  .strictObject({
    caFile: z.string().check(z.minLength(1)),
    certFile: z.optional(z.string().check(z.minLength(1))),
    keyFile: z.optional(z.string().check(z.minLength(1))),
    /** The name every endpoint's certificate must carry; default each endpoint's own host (its IP, or the name it was resolved from). */
    serverName: z.optional(z.string().check(z.minLength(1), z.maxLength(253))),
    /**
     * Identities the servers' certificates must carry instead of a host name: SPIFFE/URI SANs
     * ("spiffe://mesh/ns/orders/sa/orders") or DNS SANs, as Linkerd and Istio issue them.
     */
    identities: z.optional(z.array(z.string().check(z.minLength(1))).check(z.minLength(1), z.maxLength(100))),
    refreshMs: z._default(durationMs(100, HOUR), 1000),
  })
  .check(z.refine((tls) => (tls.certFile === undefined) === (tls.keyFile === undefined), 'certFile and keyFile go together'));

const serviceSchema = z.pipe(
  z
    .strictObject({
      /** Listed endpoints; with a discovery source, those found there come on top. */
      endpoints: z.optional(z.array(endpointSchema).check(z.maxLength(10_000))),
      discovery: z.optional(discoverySchema),
      tls: z.optional(tlsSchema),
      healthCheck: z._default(healthCheckSchema, () => healthCheckSchema.parse({})),
      balancer: z._default(balancerSchema, () => balancerSchema.parse({})),
      client: z.optional(clientSchema),
      /** Named label selectors: `{ "v1": { "version": "v1" } }`. Each balances on its own. */
      subsets: z.optional(subsetsSchema),
      /** Ordered: the first route whose match a call meets takes it; no route matching, the whole service. */
      routes: z.optional(z.array(routeSchema).check(z.maxLength(100))),
    })
    .check(
      z.superRefine((service, context) => {
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
      }),
    ),
  z.transform((service) => ({ ...service, endpoints: service.endpoints ?? [] })),
);

export const meshConfigSchema = z.strictObject({
  services: z.record(z.string().check(z.regex(/^[A-Za-z0-9._-]+$/, 'must be a plain service name')), serviceSchema),
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
